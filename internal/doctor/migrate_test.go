package doctor

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/controller/rollout"
	"github.com/sluice-dev/sluice/internal/instance"
)

func takeoverRollout(image string) *v1alpha1.Rollout {
	t := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}
	five := int32(5)
	return &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: types.UID("uid")},
		Spec: v1alpha1.RolloutSpec{Replicas: &five, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: &t, Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}}}
}

func rsOf(ro *v1alpha1.Rollout, hash, image string, owned bool) appsv1.ReplicaSet {
	t := ro.Spec.Template.DeepCopy()
	t.Spec.Containers[0].Image = image
	t.Labels[rollout.PodTemplateHashLabel] = hash
	rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Labels: t.Labels}, Spec: appsv1.ReplicaSetSpec{Template: *t}}
	if owned {
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}
	}
	return rs
}

func TestMigratePreflight(t *testing.T) {
	ro := takeoverRollout("web:2")
	same := rollout.TemplateHash(ro.Spec.Template)
	for _, tc := range []struct {
		name  string
		ro    *v1alpha1.Rollout
		rss   []appsv1.ReplicaSet
		id    string
		want  string
		worst Severity
	}{
		{"same hash", ro, []appsv1.ReplicaSet{rsOf(ro, same, "web:2", true)}, "", "(the same pod-template hash", OK},
		{"same template under another hash (no dry run allowed)", ro, []appsv1.ReplicaSet{rsOf(ro, "legacy", "web:2", true)}, "",
			"runs the same pod template under hash legacy", Warning},
		{"a change not rolled out yet", ro, []appsv1.ReplicaSet{rsOf(ro, "legacy", "web:1", true)}, "", "no ReplicaSet runs the current pod template", Error},
		{"an orphan", ro, []appsv1.ReplicaSet{rsOf(ro, same, "web:2", false)}, "", "has no controller: Sluice adopts it", Warning},
		{"labelled for another instance", func() *v1alpha1.Rollout {
			r := ro.DeepCopy()
			r.Labels = map[string]string{instance.Label: "argo"}
			return r
		}(), nil, "", `it moves when relabelled`, OK},
		{"a step Sluice does not carry", func() *v1alpha1.Rollout {
			r := ro.DeepCopy()
			r.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{Experiment: &v1alpha1.RolloutExperimentStep{}}}
			return r
		}(), nil, "", "steps[0].experiment", Error},
	} {
		fs := Migrate(Takeover{Rollout: tc.ro, Template: tc.ro.Spec.Template, ReplicaSets: tc.rss, InstanceID: tc.id})
		worst, text := OK, ""
		for _, f := range fs {
			worst = max(worst, f.Severity)
			text += f.Message + "\n"
		}
		if worst != tc.worst || !strings.Contains(text, tc.want) {
			t.Errorf("%s: worst %s, want %s; want %q in:\n%s", tc.name, worst, tc.worst, tc.want, text)
		}
	}
}
