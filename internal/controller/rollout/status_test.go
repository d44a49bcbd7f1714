package rollout

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/conditions"
)

// The progress deadline counts pods that fail to progress, not time spent
// waiting on an AnalysisRun or a scale-down delay (as upstream): a canary
// whose analysis passes must not be aborted by progressDeadlineAbort.
func TestProgressDeadlineDoesNotCountWaiting(t *testing.T) {
	start := metav1.NewTime(time.Unix(1_000_000, 0))
	for _, tc := range []struct {
		name    string
		waiting string
		degrade bool
	}{
		{"pods stuck", "", true},
		{"analysis running", "waiting for the analysis at step 2/4", false},
		{"old pods wait out their delay", "waiting for old pods' scale-down delay", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: v1alpha1.RolloutSpec{
				ProgressDeadlineSeconds: ptr(int32(60)), ProgressDeadlineAbort: true,
				Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}},
			}}
			ro.Status.CurrentPodHash = "abc"
			conditions.Set(&ro.Status, v1alpha1.RolloutProgressing, corev1.ConditionTrue, "ReplicaSetUpdated", "progressing", start)
			prev := ro.Status.DeepCopy()
			d := canary.Decision{Phase: v1alpha1.RolloutPhaseProgressing, Message: "waiting for all steps to complete", Waiting: tc.waiting}
			var n notes
			r := &Reconciler{}
			later := metav1.NewTime(start.Add(10 * time.Minute))
			r.setProgress(ro, prev, d, 2, later, &n)
			if got := ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort; got != tc.degrade {
				t.Fatalf("degraded+aborted = %v, want %v (phase %s %q)", got, tc.degrade, ro.Status.Phase, ro.Status.Message)
			}
			if tc.degrade {
				return
			}
			// Once the wait ends, the deadline counts from then, not from the start.
			c := conditions.Get(&ro.Status, v1alpha1.RolloutProgressing)
			if c.Reason != ReasonRolloutWaiting || c.Status != corev1.ConditionTrue {
				t.Fatalf("Progressing while waiting: %s %s %q", c.Status, c.Reason, c.Message)
			}
			d.Waiting = ""
			prev = ro.Status.DeepCopy()
			r.setProgress(ro, prev, d, 2, metav1.NewTime(later.Add(30*time.Second)), &n)
			if ro.Status.Phase == v1alpha1.RolloutPhaseDegraded {
				t.Fatalf("30s after the wait ended the 60s deadline fired: %q", ro.Status.Message)
			}
			r.setProgress(ro, ro.Status.DeepCopy(), d, 2, metav1.NewTime(later.Add(100*time.Second)), &n)
			if ro.Status.Phase != v1alpha1.RolloutPhaseDegraded {
				t.Fatalf("100s after the wait ended with no progress the deadline must fire, phase %s", ro.Status.Phase)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A step is persisted before the scale for it: when the plan moves to a
// later step and changes a ReplicaSet's size, the reconcile writes the step
// only (a lost write then cannot make the next reconcile shrink the canary
// it had just grown for the new step).
func TestScaleWaitsForTheStepToBePersisted(t *testing.T) {
	rs := func(hash string, n int32) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{PodTemplateHashLabel: hash}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr(n)}}
	}
	obs := &observed{owned: []*appsv1.ReplicaSet{rs("v2", 1), rs("v1", 4)}}
	prev := &v1alpha1.RolloutStatus{CurrentPodHash: "v2", CurrentStepIndex: ptr(int32(1))}
	for _, tc := range []struct {
		name   string
		step   int32
		abort  bool
		scale  map[string]int32
		defer_ bool
	}{
		{"moved on and grows the canary", 2, false, map[string]int32{"v2": 3, "v1": 3}, true},
		{"moved on, sizes unchanged (a pause after a setWeight)", 2, false, map[string]int32{"v2": 1, "v1": 4}, false},
		{"same step, still scaling", 1, false, map[string]int32{"v2": 2, "v1": 4}, false},
		{"abort goes at once", 2, true, map[string]int32{"v2": 0, "v1": 5}, false},
	} {
		cur := &v1alpha1.RolloutStatus{CurrentPodHash: "v2", CurrentStepIndex: ptr(tc.step), Abort: tc.abort}
		d := canary.Decision{Scale: tc.scale}
		if got := stepMovedOn(prev, cur) && changesScale(obs, d, nil); got != tc.defer_ {
			t.Errorf("%s: deferred = %v, want %v", tc.name, got, tc.defer_)
		}
	}
	// Routed: a new weight on the router counts as a change; an unknown weight does not defer.
	d := canary.Decision{RouteWeight: ptr(int32(50))}
	if !changesScale(obs, d, &routing{weight: 20}) || changesScale(obs, d, &routing{weight: -1}) {
		t.Error("routed weight changes are misjudged")
	}
}
