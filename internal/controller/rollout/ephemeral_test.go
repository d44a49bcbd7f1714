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
