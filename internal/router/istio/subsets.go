package istio

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/internal/router"
)

// HashLabel is the label that tells a Rollout's ReplicaSets apart; the
// DestinationRule's canary and stable subsets select pods by it.
const HashLabel = "rollouts-pod-template-hash"

// subset finds the subset called name in the DestinationRule, in place.
func subset(dr *unstructured.Unstructured, name string) map[string]any {
	spec, _ := dr.Object["spec"].(map[string]any)
	for _, s := range asSlice(spec["subsets"]) {
		m, _ := s.(map[string]any)
		if n, _ := m["name"].(string); m != nil && n == name {
			return m
		}
	}
	return nil
}

// checkSubsets says why the DestinationRule cannot carry the split (nil
// when it has both subsets).
func checkSubsets(dr *unstructured.Unstructured, ref *DestinationRuleRef) error {
	for _, s := range []struct{ name, field string }{
		{ref.CanarySubsetName, "canarySubsetName"}, {ref.StableSubsetName, "stableSubsetName"}} {
		if subset(dr, s.name) == nil {
			return router.Unusable("DestinationRule %q has no subset named %q (destinationRule.%s); add "+
				"{name: %s} to its spec.subsets (Sluice sets its %s label) or fix the name", dr.GetName(), s.name, s.field, s.name, HashLabel)
		}
	}
	return nil
}

// pinSubsets labels the canary subset with the canary hash and the stable
// subset with the stable hash (an empty hash removes the label), leaving
// every other field and subset as it is. It reports whether anything
// changed.
func pinSubsets(dr *unstructured.Unstructured, ref *DestinationRuleRef, canaryHash, stableHash string) (bool, error) {
	if err := checkSubsets(dr, ref); err != nil {
		return false, err
	}
	changed := false
	for _, p := range []struct{ name, hash string }{{ref.CanarySubsetName, canaryHash}, {ref.StableSubsetName, stableHash}} {
		s := subset(dr, p.name)
		labels, _ := s["labels"].(map[string]any)
		cur, has := labels[HashLabel].(string)
		switch {
		case p.hash == "" && has:
			delete(labels, HashLabel)
			changed = true
		case p.hash != "" && cur != p.hash:
			if labels == nil {
				labels = map[string]any{}
				s["labels"] = labels
			}
			labels[HashLabel] = p.hash
			changed = true
		}
	}
	return changed, nil
}
