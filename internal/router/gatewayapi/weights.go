package gatewayapi

import (
	"fmt"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The split of an HTTPRoute lives in the weights of the backendRefs that
// name the stable and canary Services, in every rule that names both.
// Gateway API weights are relative (an unset weight is 1), so the canary's
// share is canary / (canary + stable); Sluice writes them as percentages.

// isService reports whether ref names the Service name in the route's
// namespace (group "" and kind Service are the defaults). Weights are
// written on the scale 0..max (maxTrafficWeight, default 100).
func isService(ref gwv1.BackendObjectReference, name string) bool {
	if string(ref.Name) != name || ref.Namespace != nil {
		return false
	}
	if ref.Group != nil && *ref.Group != "" {
		return false
	}
	return ref.Kind == nil || *ref.Kind == "Service"
}

// splitRefs returns, per rule that names both Services, the indexes of the
// stable and canary backendRefs.
func splitRefs(rt *gwv1.HTTPRoute, stable, canary string) [][2]int {
	var out [][2]int
	for _, rule := range rt.Spec.Rules {
		s, c := -1, -1
		for j, b := range rule.BackendRefs {
			switch {
			case isService(b.BackendObjectReference, stable):
				s = j
			case isService(b.BackendObjectReference, canary):
				c = j
			}
		}
		if s >= 0 && c >= 0 {
			out = append(out, [2]int{s, c})
		} else {
			out = append(out, [2]int{-1, -1})
		}
	}
	return out
}

func weightOf(w *int32) int64 {
	if w == nil {
		return 1
	}
	return int64(*w)
}

// routeWeight is the canary weight the route carries, 0..max, or -1 when its
// rules disagree. An error says the route names both Services in no rule.
func routeWeight(rt *gwv1.HTTPRoute, stable, canary string, max int32) (int32, error) {
	got := int32(-2)
	for i, idx := range splitRefs(rt, stable, canary) {
		if idx[0] < 0 {
			continue
		}
		refs := rt.Spec.Rules[i].BackendRefs
		s, c := weightOf(refs[idx[0]].Weight), weightOf(refs[idx[1]].Weight)
		w := int32(0)
		if s+c > 0 {
			w = int32((c*int64(max) + (s+c)/2) / (s + c))
		}
		switch got {
		case -2:
			got = w
		case w:
		default:
			return -1, nil
		}
	}
	if got == -2 {
		return 0, fmt.Errorf("no rule of HTTPRoute %q has backendRefs to both the stable Service %q and the canary Service %q; "+
			"add both to the rule that should carry the canary", rt.Name, stable, canary)
	}
	return got, nil
}

// setRouteWeight sets canary weight w (and max-w on the stable) in every rule
// that names both Services, and reports whether anything changed.
func setRouteWeight(rt *gwv1.HTTPRoute, stable, canary string, w, max int32) bool {
	changed := false
	for i, idx := range splitRefs(rt, stable, canary) {
		if idx[0] < 0 {
			continue
		}
		refs := rt.Spec.Rules[i].BackendRefs
		for _, set := range []struct {
			j int
			v int32
		}{{idx[0], max - w}, {idx[1], w}} {
			if refs[set.j].Weight == nil || *refs[set.j].Weight != set.v {
				v := set.v
				refs[set.j].Weight = &v
				changed = true
			}
		}
	}
	return changed
}

// CheckRoute says why the route cannot carry the split between the two
// Services (nil when a rule names both).
func CheckRoute(rt *gwv1.HTTPRoute, stable, canary string) error {
	_, err := routeWeight(rt, stable, canary, 100)
	return err
}
