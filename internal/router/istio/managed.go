package istio

import (
	"encoding/json"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

// Header and mirror routes are HTTP routes named after their managedRoutes
// entry, placed before every other HTTP route of the VirtualService in
// managedRoutes order (highest precedence first), as upstream orders them:
//
//   - a header route matches the request headers (one match block per
//     header, so any one of them selects it, as upstream) and sends it all
//     to the canary destination of the primary route;
//   - a mirror route matches method, path and headers, sends the request
//     on as the primary route does (a copy of its destinations, weights
//     included) and mirrors percentage of it to the canary destination.
//
// The primary route is the first HTTP route that carries the split.

// stringMatch is an Istio StringMatch: exactly one of exact, prefix, regex.
func stringMatch(m v1alpha1.StringMatch) map[string]any {
	out := map[string]any{}
	for k, v := range map[string]string{"exact": m.Exact, "prefix": m.Prefix, "regex": m.Regex} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func headerRoute(h *v1alpha1.SetHeaderRoute, canaryDest map[string]any, weight int32) map[string]any {
	var match []any
	for _, m := range h.Match {
		match = append(match, map[string]any{"headers": map[string]any{m.HeaderName: stringMatch(m.HeaderValue)}})
	}
	return map[string]any{
		"name":  h.Name,
		"match": match,
		"route": []any{map[string]any{"destination": runtime.DeepCopyJSONValue(canaryDest), "weight": int64(weight)}},
	}
}

func mirrorRoute(m *v1alpha1.SetMirrorRoute, primary, canaryDest map[string]any) map[string]any {
	var match []any
	for _, rm := range m.Match {
		mm := map[string]any{}
		if rm.Method != nil {
			mm["method"] = stringMatch(*rm.Method)
		}
		if rm.Path != nil {
			mm["uri"] = stringMatch(*rm.Path)
		}
		if len(rm.Headers) > 0 {
			hs := map[string]any{}
			for k, v := range rm.Headers {
				hs[k] = stringMatch(v)
			}
			mm["headers"] = hs
		}
		match = append(match, mm)
	}
	pct := int32(100)
	if m.Percentage != nil {
		pct = *m.Percentage
	}
	out := map[string]any{
		"name":             m.Name,
		"route":            runtime.DeepCopyJSONValue(primary["route"]),
		"mirror":           runtime.DeepCopyJSONValue(canaryDest),
		"mirrorPercentage": map[string]any{"value": float64(pct)},
	}
	if len(match) > 0 {
		out["match"] = match
	}
	return out
}

// setManagedRoutes makes the HTTP routes of vs carry exactly routes (in
// that order, first) and no other route named in managed; primary is the
// route whose canary destination they use (nil: vs has no HTTP route that
// carries the split). It reports whether anything changed.
func (s *split) setManagedRoutes(vs *unstructured.Unstructured, primary *routeRef, routes []router.ManagedRoute, managed []string) (bool, error) {
	http := routesOf(vs, "http")
	var next []any
	if len(routes) > 0 {
		if primary == nil {
			return false, router.Unusable("VirtualService %q has no HTTP route that carries the split, so it cannot carry "+
				"header or mirror routes (those are HTTP routes); add one, or remove the setHeaderRoute and setMirrorRoute steps", s.vs)
		}
		route := s.route(vs, *primary)
		_, canary, _, err := s.destinations(route, *primary)
		if err != nil {
			return false, err
		}
		dest, _ := canary["destination"].(map[string]any)
		routes = slices.Clone(routes) // in managedRoutes order, however they come
		slices.SortStableFunc(routes, func(a, b router.ManagedRoute) int {
			return slices.Index(managed, a.Name) - slices.Index(managed, b.Name)
		})
		for _, m := range routes {
			if m.Header != nil {
				next = append(next, headerRoute(m.Header, dest, s.max))
			} else if m.Mirror != nil {
				next = append(next, mirrorRoute(m.Mirror, route, dest))
			}
		}
	}
	for _, r := range http {
		if !slices.Contains(managed, nameOf(r)) {
			next = append(next, r)
		}
	}
	if len(http) == 0 && len(next) == 0 {
		return false, nil
	}
	before, err1 := json.Marshal(http)
	after, err2 := json.Marshal(next)
	if err1 == nil && err2 == nil && string(before) == string(after) {
		return false, nil
	}
	spec, _ := vs.Object["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		vs.Object["spec"] = spec
	}
	spec["http"] = next
	return true, nil
}
