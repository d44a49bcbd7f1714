package rollout

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// antiAffinityOf is spec.strategy.*.antiAffinity, or nil.
func antiAffinityOf(ro *v1alpha1.Rollout) *v1alpha1.AntiAffinity {
	if c := ro.Spec.Strategy.Canary; c != nil {
		return c.AntiAffinity
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		return bg.AntiAffinity
	}
	return nil
}

// injectAntiAffinity adds to the pod template of a new version the rule
// spec.strategy.*.antiAffinity asks for, as upstream writes it: its pods
// avoid the nodes that run the stable version's pods (hostname topology),
// preferred with a weight or required. The first revision gets none.
func injectAntiAffinity(ro *v1alpha1.Rollout, t *corev1.PodTemplateSpec, hash string) {
	aa, stable := antiAffinityOf(ro), ro.Status.StableRS
	if aa == nil || stable == "" || stable == hash {
		return
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: PodTemplateHashLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{stable}}}},
		Namespaces:  []string{ro.Namespace},
		TopologyKey: "kubernetes.io/hostname",
	}
	if t.Spec.Affinity == nil {
		t.Spec.Affinity = &corev1.Affinity{}
	}
	if t.Spec.Affinity.PodAntiAffinity == nil {
		t.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	pa := t.Spec.Affinity.PodAntiAffinity
	if p := aa.PreferredDuringSchedulingIgnoredDuringExecution; p != nil {
		pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: p.Weight, PodAffinityTerm: term})
	} else {
		pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, term)
	}
}

// stripAntiAffinity removes the injected rule (a term on the pod hash label)
// from t, so it never counts as a template change.
func stripAntiAffinity(t *corev1.PodTemplateSpec) {
	a := t.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return
	}
	injectedTerm := func(term corev1.PodAffinityTerm) bool {
		if term.LabelSelector == nil {
			return false
		}
		for _, e := range term.LabelSelector.MatchExpressions {
			if e.Key == PodTemplateHashLabel {
				return true
			}
		}
		return false
	}
	pa := a.PodAntiAffinity
	var pref []corev1.WeightedPodAffinityTerm
	for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
		if !injectedTerm(w.PodAffinityTerm) {
			pref = append(pref, w)
		}
	}
	var req []corev1.PodAffinityTerm
	for _, term := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
		if !injectedTerm(term) {
			req = append(req, term)
		}
	}
	pa.PreferredDuringSchedulingIgnoredDuringExecution, pa.RequiredDuringSchedulingIgnoredDuringExecution = pref, req
	if len(pref) == 0 && len(req) == 0 {
		a.PodAntiAffinity = nil
	}
	if a.PodAntiAffinity == nil && a.PodAffinity == nil && a.NodeAffinity == nil {
		t.Spec.Affinity = nil
	}
}
