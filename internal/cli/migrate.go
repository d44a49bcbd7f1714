package cli

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/controller/rollout"
	"github.com/sluice-dev/sluice/internal/doctor"
)

// migrateFindings runs the takeover preflight (doctor --migrate) over the
// Rollouts of ns: what Sluice would do on taking each over from the
// controller that runs it now. It only reads (the template comparison is a
// dry-run create, which persists nothing).
func (c *clients) migrateFindings(ctx context.Context, ns, instanceID string) ([]doctor.Finding, int, error) {
	ros, err := c.listRollouts(ctx, ns)
	if err != nil {
		return nil, 0, err
	}
	rsByNS := map[string][]appsv1.ReplicaSet{}
	var out []doctor.Finding
	for i := range ros {
		ro := &ros[i]
		if _, ok := rsByNS[ro.Namespace]; !ok {
			list, err := c.kube.AppsV1().ReplicaSets(ro.Namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, 0, fmt.Errorf("listing ReplicaSets in %s: %w", ro.Namespace, err)
			}
			rsByNS[ro.Namespace] = list.Items
		}
		t := doctor.Takeover{Rollout: ro, ReplicaSets: rsByNS[ro.Namespace], InstanceID: instanceID}
		if ro.Spec.Template != nil {
			t.Template = ro.Spec.Template
		} else if ref := ro.Spec.WorkloadRef; ref != nil {
			if d, err := c.kube.AppsV1().Deployments(ro.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
				t.Template = &d.Spec.Template
			}
		}
		if t.Template != nil {
			t.Defaulted = c.defaultedTemplate(ctx, ro, t.Template)
		}
		out = append(out, doctor.Migrate(t)...)
	}
	return out, len(ros), nil
}

// defaultedTemplate asks the API server, with a dry-run create of a
// ReplicaSet, how it would store the template; nil when that is not allowed.
func (c *clients) defaultedTemplate(ctx context.Context, ro *v1alpha1.Rollout, tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	t := tmpl.DeepCopy()
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[rollout.PodTemplateHashLabel] = "preflight"
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{rollout.PodTemplateHashLabel: "preflight"}}
	if ro.Spec.Selector != nil {
		sel = ro.Spec.Selector.DeepCopy()
		if sel.MatchLabels == nil {
			sel.MatchLabels = map[string]string{}
		}
		sel.MatchLabels[rollout.PodTemplateHashLabel] = "preflight"
	}
	zero := int32(0)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{GenerateName: ro.Name + "-preflight-", Namespace: ro.Namespace,
		Annotations: map[string]string{rollout.RevisionAnnotation: strconv.Itoa(0)}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, Selector: sel, Template: *t}}
	got, err := c.kube.AppsV1().ReplicaSets(ro.Namespace).Create(ctx, rs, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil
	}
	return &got.Spec.Template
}
