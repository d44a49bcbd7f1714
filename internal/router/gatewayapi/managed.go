package gatewayapi

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

// Header and mirror routes (managedRoutes) are rules Sluice adds to the
// HTTPRoutes that carry them (httpRoute, or httpRoutes entries with
// useHeaderRoutes: true, as upstream's plugin). For every rule that splits
// between the two Services, a managed route adds one rule named after it
// ("beta", then "beta-1", "beta-2" for further split rules), with the split
// rule's matches and filters:
//   - setHeaderRoute: the split rule's matches plus the headers, to the
//     canary Service only;
//   - setMirrorRoute: the split rule's matches narrowed by the mirror
//     match, to the same backends as the split rule (so its weights follow
//     the steps), plus a RequestMirror filter sending percentage of it to
//     the canary Service. Upstream's plugin ignores setMirrorRoute; Sluice
//     carries it with the filter the Gateway API has for it.
//
// Gateway API picks the most specific match, so the added rules win over
// the split rule for the requests they match, wherever they stand.

// CanCarry needs a route that carries managed routes, and a mirror match the
// Gateway API can express.
func (r *Router) CanCarry(m router.ManagedRoute) error {
	if len(r.HeaderRoutes) == 0 {
		return fmt.Errorf("%s: no HTTPRoute carries header or mirror routes; set useHeaderRoutes: true on the httpRoutes entry "+
			"that should carry managed route %q", Field, m.Name)
	}
	if m.Mirror != nil {
		for i, mm := range m.Mirror.Match {
			if mm.Method != nil && mm.Method.Exact == "" {
				return fmt.Errorf("match[%d].method: the Gateway API matches a method exactly; use exact", i)
			}
			if p := mm.Path; p != nil && p.Regex == "" && !strings.HasPrefix(p.Exact+p.Prefix, "/") {
				return fmt.Errorf("match[%d].path: a Gateway API path starts with /", i)
			}
		}
	}
	return nil
}

// SetManagedRoutes writes routes into every route that carries them.
func (r *Router) SetManagedRoutes(ctx context.Context, routes []router.ManagedRoute) (bool, error) {
	wrote := false
	for _, name := range r.HeaderRoutes {
		rt, err := r.get(ctx, name)
		if err != nil {
			return wrote, err
		}
		rules, err := withManaged(rt, r.Stable, r.Canary, r.Managed, routes)
		if err != nil {
			return wrote, &router.Error{Reason: router.ReasonRouteUnusable, Message: err.Error()}
		}
		if equality.Semantic.DeepEqual(rules, rt.Spec.Rules) {
			continue
		}
		rt.Spec.Rules = rules
		if err := r.Writer.Update(ctx, rt); err != nil {
			return wrote, fmt.Errorf("set managed routes in HTTPRoute %q: %w", name, err)
		}
		wrote = true
	}
	return wrote, nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// isManaged reports whether a rule is one Sluice added for a managed route.
func isManaged(rule gwv1.HTTPRouteRule, managed []string) bool {
	if rule.Name == nil {
		return false
	}
	n := string(*rule.Name)
	for _, m := range managed {
		if n == m || (strings.HasPrefix(n, m+"-") && digits.MatchString(n[len(m)+1:])) {
			return true
		}
	}
	return false
}

// withManaged is the route's rules with exactly routes as managed rules:
// the operator's rules unchanged and in order, then the managed ones.
func withManaged(rt *gwv1.HTTPRoute, stable, canary string, managed []string, routes []router.ManagedRoute) ([]gwv1.HTTPRouteRule, error) {
	own := &gwv1.HTTPRoute{ObjectMeta: rt.ObjectMeta}
	for _, rule := range rt.Spec.Rules {
		if !isManaged(rule, managed) {
			own.Spec.Rules = append(own.Spec.Rules, rule)
		}
	}
	out := own.Spec.Rules
	var split []gwv1.HTTPRouteRule
	var canaryRef []gwv1.HTTPBackendRef
	for i, idx := range splitRefs(own, stable, canary) {
		if idx[0] >= 0 {
			split = append(split, own.Spec.Rules[i])
			canaryRef = append(canaryRef, own.Spec.Rules[i].BackendRefs[idx[1]])
		}
	}
	if len(routes) > 0 && len(split) == 0 {
		return nil, fmt.Errorf("no rule of HTTPRoute %q has backendRefs to both the stable Service %q and the canary Service %q, "+
			"so there is nothing to add header or mirror routes beside", rt.Name, stable, canary)
	}
	for _, m := range routes {
		for i, src := range split {
			name := gwv1.SectionName(m.Name)
			if i > 0 {
				name = gwv1.SectionName(fmt.Sprintf("%s-%d", m.Name, i))
			}
			rule := gwv1.HTTPRouteRule{Name: &name}
			for _, f := range src.Filters {
				rule.Filters = append(rule.Filters, *f.DeepCopy())
			}
			ref := canaryRef[i].BackendObjectReference
			switch {
			case m.Header != nil:
				rule.Matches = narrow(src.Matches, []gwv1.HTTPRouteMatch{{Headers: headerMatches(m.Header.Match)}})
				one := int32(1) // the API server's default, written out so a re-read compares equal
				rule.BackendRefs = []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: *ref.DeepCopy(), Weight: &one}}}
			case m.Mirror != nil:
				rule.Matches = narrow(src.Matches, mirrorMatches(m.Mirror.Match))
				for _, b := range src.BackendRefs {
					rule.BackendRefs = append(rule.BackendRefs, *b.DeepCopy())
				}
				pct := int32(100)
				if m.Mirror.Percentage != nil {
					pct = *m.Mirror.Percentage
				}
				rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestMirror,
					RequestMirror: &gwv1.HTTPRequestMirrorFilter{BackendRef: *ref.DeepCopy(), Percent: &pct}})
			}
			out = append(out, rule)
		}
	}
	return out, nil
}

// narrow combines each of the split rule's matches (none: everything) with
// each of the managed route's: the managed path and method win, headers add.
func narrow(src, add []gwv1.HTTPRouteMatch) []gwv1.HTTPRouteMatch {
	if len(src) == 0 {
		src = []gwv1.HTTPRouteMatch{{}}
	}
	var out []gwv1.HTTPRouteMatch
	for _, s := range src {
		for _, a := range add {
			m := *s.DeepCopy()
			if a.Path != nil {
				m.Path = a.Path.DeepCopy()
			}
			if a.Method != nil {
				meth := *a.Method
				m.Method = &meth
			}
			m.Headers = append(m.Headers, a.Headers...)
			out = append(out, m)
		}
	}
	return out
}

// headerMatches turns setHeaderRoute matches into Gateway API header
// matches. A prefix is a regular expression anchored at the start, with the
// prefix quoted (upstream's plugin appends ".*" to the prefix unquoted).
func headerMatches(ms []v1alpha1.HeaderRoutingMatch) []gwv1.HTTPHeaderMatch {
	out := make([]gwv1.HTTPHeaderMatch, 0, len(ms))
	for _, m := range ms {
		typ, val := stringMatch(m.HeaderValue)
		out = append(out, gwv1.HTTPHeaderMatch{Name: gwv1.HTTPHeaderName(m.HeaderName), Type: (*gwv1.HeaderMatchType)(&typ), Value: val})
	}
	return out
}

// stringMatch is the match type (Exact or RegularExpression) and value of a
// StringMatch.
func stringMatch(m v1alpha1.StringMatch) (string, string) {
	switch {
	case m.Exact != "":
		return string(gwv1.HeaderMatchExact), m.Exact
	case m.Prefix != "":
		return string(gwv1.HeaderMatchRegularExpression), "^" + regexp.QuoteMeta(m.Prefix) + ".*"
	}
	return string(gwv1.HeaderMatchRegularExpression), m.Regex
}

// mirrorMatches turns setMirrorRoute matches into Gateway API matches.
func mirrorMatches(ms []v1alpha1.RouteMatch) []gwv1.HTTPRouteMatch {
	out := make([]gwv1.HTTPRouteMatch, 0, len(ms))
	for _, m := range ms {
		var g gwv1.HTTPRouteMatch
		if p := m.Path; p != nil {
			typ, val := gwv1.PathMatchExact, p.Exact
			switch {
			case p.Prefix != "":
				typ, val = gwv1.PathMatchPathPrefix, p.Prefix
			case p.Regex != "":
				typ, val = gwv1.PathMatchRegularExpression, p.Regex
			}
			g.Path = &gwv1.HTTPPathMatch{Type: &typ, Value: &val}
		}
		if m.Method != nil {
			meth := gwv1.HTTPMethod(m.Method.Exact)
			g.Method = &meth
		}
		for _, name := range sortedKeys(m.Headers) {
			typ, val := stringMatch(m.Headers[name])
			g.Headers = append(g.Headers, gwv1.HTTPHeaderMatch{Name: gwv1.HTTPHeaderName(name), Type: (*gwv1.HeaderMatchType)(&typ), Value: val})
		}
		out = append(out, g)
	}
	return out
}

func sortedKeys(m map[string]v1alpha1.StringMatch) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
