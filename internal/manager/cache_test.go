package manager

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestCacheScopesAndSlimsWhatIsNotOurs(t *testing.T) {
	o := cacheOptions()
	scope := map[string]labels.Selector{}
	for obj, b := range o.ByObject {
		switch obj.(type) {
		case *appsv1.ReplicaSet:
			scope["rs"] = b.Label
		case *corev1.Pod:
			scope["pod"] = b.Label
		case *batchv1.Job:
			scope["job"] = b.Label
		}
	}
	for kind, c := range map[string]struct {
		ours, theirs labels.Set
	}{
		"rs":  {labels.Set{"rollouts-pod-template-hash": "abc"}, labels.Set{"pod-template-hash": "abc"}},
		"pod": {labels.Set{"rollouts-pod-template-hash": "abc", "app": "x"}, labels.Set{"app": "x"}},
		"job": {labels.Set{"analysisrun": "r", "metric": "m"}, labels.Set{"job-name": "backup"}},
	} {
		sel := scope[kind]
		if sel == nil || !sel.Matches(c.ours) || sel.Matches(c.theirs) {
			t.Errorf("%s cache selector %v: must match %v and not %v", kind, sel, c.ours, c.theirs)
		}
	}

	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Annotations: map[string]string{lastApplied: "{...}", "keep": "me"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	out, err := slimPod(p)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if got.ManagedFields != nil || got.Annotations[lastApplied] != "" || got.Annotations["keep"] != "me" ||
		len(got.Spec.Containers) != 0 || got.Status.PodIP != "" || len(got.Status.Conditions) != 1 || got.UID != "u" {
		t.Fatalf("slimmed pod: %+v", got)
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{}}}}
	if _, err := o.DefaultTransform(d); err != nil || d.ManagedFields != nil {
		t.Fatalf("managedFields kept: %v", err)
	}
}
