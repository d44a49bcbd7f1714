package conditions

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func TestSetKeepsTimesUnlessSomethingChanges(t *testing.T) {
	var st v1alpha1.RolloutStatus
	t0 := metav1.NewTime(time.Unix(100, 0))
	t1 := metav1.NewTime(time.Unix(200, 0))
	t2 := metav1.NewTime(time.Unix(300, 0))

	if !Set(&st, v1alpha1.RolloutAvailable, corev1.ConditionFalse, "A", "m", t0) {
		t.Fatal("first Set must report a change")
	}
	if Set(&st, v1alpha1.RolloutAvailable, corev1.ConditionFalse, "A", "m", t1) {
		t.Fatal("identical Set must report no change")
	}
	if c := Get(&st, v1alpha1.RolloutAvailable); !c.LastUpdateTime.Equal(&t0) {
		t.Fatalf("lastUpdateTime moved without a change: %v", c.LastUpdateTime)
	}
	if !Set(&st, v1alpha1.RolloutAvailable, corev1.ConditionFalse, "B", "m2", t1) {
		t.Fatal("new reason must report a change")
	}
	c := Get(&st, v1alpha1.RolloutAvailable)
	if !c.LastTransitionTime.Equal(&t0) || !c.LastUpdateTime.Equal(&t1) {
		t.Fatalf("same status: transition must stay at t0, update move to t1; got %v / %v", c.LastTransitionTime, c.LastUpdateTime)
	}
	Set(&st, v1alpha1.RolloutAvailable, corev1.ConditionTrue, "B", "m2", t2)
	if c := Get(&st, v1alpha1.RolloutAvailable); !c.LastTransitionTime.Equal(&t2) {
		t.Fatalf("status flip must move lastTransitionTime: %v", c.LastTransitionTime)
	}
	if !IsTrue(&st, v1alpha1.RolloutAvailable) || IsTrue(&st, v1alpha1.RolloutHealthy) {
		t.Fatal("IsTrue wrong")
	}
	if !Remove(&st, v1alpha1.RolloutAvailable) || Remove(&st, v1alpha1.RolloutAvailable) || len(st.Conditions) != 0 {
		t.Fatal("Remove wrong")
	}
}
