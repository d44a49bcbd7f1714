package rollout

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func TestRoleMetadataAndSync(t *testing.T) {
	canaryMD := &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}, Annotations: map[string]string{"note": "new"}}
	stableMD := &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		CanaryMetadata: canaryMD, StableMetadata: stableMD}}}}
	for _, tc := range []struct {
		hash, current, stable string
		want                  *v1alpha1.PodTemplateMetadata
	}{
		{"v2", "v2", "v1", canaryMD}, // the update in flight
		{"v1", "v2", "v1", stableMD}, // the stable beside it
		{"v0", "v2", "v1", nil},      // an older one
		{"v2", "v2", "v2", stableMD}, // promoted
		{"v1", "v1", "", stableMD},   // the first revision
	} {
		if got := roleMetadata(ro, tc.hash, tc.current, tc.stable); got != tc.want {
			t.Errorf("%s (current %s, stable %s): got %v, want %v", tc.hash, tc.current, tc.stable, got, tc.want)
		}
	}

	// A canary pod promoted to stable: role flips, the canary-only
	// annotation goes, labels nobody injected stay.
	meta := metav1.ObjectMeta{Labels: map[string]string{"app": "web", "role": "canary", "rollouts-pod-template-hash": "v2"},
		Annotations: map[string]string{"note": "new", "sidecar": "injected"}}
	if !syncMetadata(&meta, canaryMD, stableMD) {
		t.Fatal("no change reported")
	}
	want := metav1.ObjectMeta{Labels: map[string]string{"app": "web", "role": "stable", "rollouts-pod-template-hash": "v2"},
		Annotations: map[string]string{"sidecar": "injected"}}
	if !reflect.DeepEqual(meta, want) {
		t.Fatalf("after the promote: %+v, want %+v", meta, want)
	}
	if syncMetadata(&meta, stableMD, stableMD) {
		t.Fatal("a second sync changed something")
	}
}

// The anti-affinity rule goes into a new version's template only, and a
// template carrying it still compares equal to the Rollout's.
func TestAntiAffinityInjectedAndIgnored(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{
		Canary: &v1alpha1.CanaryStrategy{AntiAffinity: &v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredAntiAffinity{Weight: 40}}}}}}
	base := tmpl("web:2")
	first := base.DeepCopy()
	injectAntiAffinity(ro, first, "v1") // no stable yet: the first revision
	if first.Spec.Affinity != nil {
		t.Fatalf("the first revision got a rule: %+v", first.Spec.Affinity)
	}
	ro.Status.StableRS = "v1"
	canary := base.DeepCopy()
	injectAntiAffinity(ro, canary, "v2")
	terms := canary.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	if len(terms) != 1 || terms[0].Weight != 40 || terms[0].PodAffinityTerm.LabelSelector.MatchExpressions[0].Values[0] != "v1" ||
		terms[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Fatalf("injected rule: %+v", terms)
	}
	rs := rsWith("v2", canary)
	if !SameTemplate(ownTemplate(ro, rs), base) || !EqualTemplates(ownTemplate(ro, rs), base) {
		t.Fatal("the injected rule counts as a template change")
	}
}
