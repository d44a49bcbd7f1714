package istio

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/internal/router"
)

// The split of a VirtualService lives in the weights of the destinations of
// the routes the config picks (spec.http by name, spec.tls by port and SNI
// hosts, spec.tcp by port): the stable destination gets max-w and the
// canary w. Destinations are told apart by host (host-level: the
// stableService and canaryService) or by subset (subset-level: the
// DestinationRule's subsets). The object is handled as plain JSON maps and
// only the weights and the managed routes are ever changed, so fields this
// code does not know (withoutHeaders, retries, a newer Istio's additions)
// survive untouched.

// split is what tells a route's destinations apart.
type split struct {
	vs        string // the VirtualService, for messages
	field     string // the Rollout field that names it
	namespace string // the Rollout's namespace (hosts may be FQDNs)
	stable    string // stableService (host-level)
	canary    string // canaryService (host-level)
	dr        *DestinationRuleRef
	max       int32
}

// routeRef is one route that carries the split.
type routeRef struct {
	kind  string // http, tls or tcp
	index int
	desc  string // for messages
}

const (
	roleOther = iota
	roleStable
	roleCanary
	roleAdditional
)

// matchesService reports whether a destination host names Service svc of
// namespace ns: "svc", "svc.ns", "svc.ns.svc" or "svc.ns.svc.<cluster domain>".
func matchesService(host, svc, ns string) bool {
	if svc == "" {
		return false
	}
	if host == svc || host == svc+"."+ns {
		return true
	}
	return strings.HasPrefix(host, svc+"."+ns+".svc") &&
		(len(host) == len(svc+"."+ns+".svc") || host[len(svc+"."+ns+".svc")] == '.')
}

func (s *split) role(dest map[string]any) int {
	d, _ := dest["destination"].(map[string]any)
	host, _ := d["host"].(string)
	subset, _ := d["subset"].(string)
	if s.dr != nil {
		switch {
		case subset == s.dr.CanarySubsetName:
			return roleCanary
		case subset == s.dr.StableSubsetName:
			return roleStable
		case subset != "" && slices.Contains(s.dr.AdditionalSubsetNames, subset):
			return roleAdditional
		}
		return roleOther
	}
	switch {
	case matchesService(host, s.canary, s.namespace):
		return roleCanary
	case matchesService(host, s.stable, s.namespace):
		return roleStable
	}
	return roleOther
}

func intOf(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case int:
		return int64(n)
	case int32:
		return int64(n)
	}
	return 0
}

// routesOf are the routes of a kind, in place (not a copy: what is
// changed in them is changed in vs).
func routesOf(vs *unstructured.Unstructured, kind string) []any {
	spec, _ := vs.Object["spec"].(map[string]any)
	l, _ := spec[kind].([]any)
	return l
}

func nameOf(route any) string {
	m, _ := route.(map[string]any)
	n, _ := m["name"].(string)
	return n
}

// selectRoutes picks the routes of vs that carry the split, as upstream:
// the named HTTP routes, or the only HTTP route besides the managed ones;
// the TLS and TCP routes matched by port (and SNI hosts), or the only one
// of its kind. Every kind the VirtualService has is split.
func (s *split) selectRoutes(vs *unstructured.Unstructured, ref VirtualServiceRef, managed []string) ([]routeRef, error) {
	var out []routeRef
	http := routesOf(vs, "http")
	if len(ref.Routes) > 0 {
		for _, name := range ref.Routes {
			i := slices.IndexFunc(http, func(r any) bool { return nameOf(r) == name })
			if i < 0 {
				var names []string
				for _, r := range http {
					names = append(names, fmt.Sprintf("%q", nameOf(r)))
				}
				return nil, &router.Error{Reason: router.ReasonRouteNotFound, Message: fmt.Sprintf(
					"VirtualService %q has no HTTP route named %q (named by %s.routes); its HTTP routes are [%s]: "+
						"name the route in spec.http or fix the name", s.vs, name, s.field, strings.Join(names, ", "))}
			}
			out = append(out, routeRef{"http", i, fmt.Sprintf("HTTP route %q", name)})
		}
	} else if len(http) > 0 {
		var own []int
		for i, r := range http {
			if !slices.Contains(managed, nameOf(r)) {
				own = append(own, i)
			}
		}
		if len(own) != 1 {
			return nil, router.Unusable("VirtualService %q has %d HTTP routes besides the managed ones, and %s.routes "+
				"does not say which carry the split; list them there (give each a name in spec.http)", s.vs, len(own), s.field)
		}
		desc := "its HTTP route"
		if n := nameOf(http[own[0]]); n != "" {
			desc = fmt.Sprintf("HTTP route %q", n)
		}
		out = append(out, routeRef{"http", own[0], desc})
	}
	tls, err := s.selectL4(vs, "tls", len(ref.TLSRoutes), func(i int, route map[string]any) bool {
		port, hosts, ok := l4Match(route, true)
		t := ref.TLSRoutes[i]
		want := slices.Clone(t.SNIHosts)
		sort.Strings(want)
		return ok && port == t.Port && slices.Equal(hosts, slices.Compact(want))
	}, func(i int) string {
		return fmt.Sprintf("tlsRoutes[%d] (port %d, sniHosts %v)", i, ref.TLSRoutes[i].Port, ref.TLSRoutes[i].SNIHosts)
	})
	if err != nil {
		return nil, err
	}
	tcp, err := s.selectL4(vs, "tcp", len(ref.TCPRoutes), func(i int, route map[string]any) bool {
		port, _, ok := l4Match(route, false)
		return ok && port == ref.TCPRoutes[i].Port
	}, func(i int) string { return fmt.Sprintf("tcpRoutes[%d] (port %d)", i, ref.TCPRoutes[i].Port) })
	if err != nil {
		return nil, err
	}
	out = append(append(out, tls...), tcp...)
	if len(out) == 0 {
		return nil, router.Unusable("VirtualService %q has no http, tls or tcp route to carry the split; "+
			"add one with destinations for the stable and the canary", s.vs)
	}
	return out, nil
}

// l4Match reads the single port the match blocks of a TLS or TCP route
// name (0: none) and their SNI hosts, sorted; ok is false when the blocks
// name different ports (such a route is never matched, as upstream).
func l4Match(route map[string]any, sni bool) (port int64, hosts []string, ok bool) {
	matches, _ := route["match"].([]any)
	ports := map[int64]bool{}
	for _, m := range matches {
		mm, _ := m.(map[string]any)
		ports[intOf(mm["port"])] = true
		if sni {
			for _, h := range asSlice(mm["sniHosts"]) {
				if hs, ok := h.(string); ok && !slices.Contains(hosts, hs) {
					hosts = append(hosts, hs)
				}
			}
		}
	}
	if len(ports) > 1 {
		return 0, nil, false
	}
	for p := range ports {
		port = p
	}
	sort.Strings(hosts)
	return port, hosts, true
}

func asSlice(v any) []any {
	l, _ := v.([]any)
	return l
}

// selectL4 picks TLS or TCP routes: for each of n config entries every
// route it matches, or, without entries, the only route of the kind.
func (s *split) selectL4(vs *unstructured.Unstructured, kind string, n int, match func(int, map[string]any) bool, desc func(int) string) ([]routeRef, error) {
	routes := routesOf(vs, kind)
	if n == 0 {
		switch len(routes) {
		case 0:
			return nil, nil
		case 1:
			return []routeRef{{kind, 0, fmt.Sprintf("its %s route", strings.ToUpper(kind))}}, nil
		}
		return nil, router.Unusable("VirtualService %q has %d %s routes and %s.%sRoutes does not say which carry the split; "+
			"list them there by port", s.vs, len(routes), strings.ToUpper(kind), s.field, kind)
	}
	var out []routeRef
	for i := 0; i < n; i++ {
		found := false
		for j, r := range routes {
			m, _ := r.(map[string]any)
			if m != nil && match(i, m) {
				out = append(out, routeRef{kind, j, fmt.Sprintf("%s route %d", strings.ToUpper(kind), j)})
				found = true
			}
		}
		if !found {
			return nil, &router.Error{Reason: router.ReasonRouteNotFound, Message: fmt.Sprintf(
				"VirtualService %q has no %s route matching %s.%s; fix the port or hosts there or in the VirtualService's spec.%s",
				s.vs, strings.ToUpper(kind), s.field, desc(i), kind)}
		}
	}
	return out, nil
}

func (s *split) route(vs *unstructured.Unstructured, r routeRef) map[string]any {
	l := routesOf(vs, r.kind)
	m, _ := l[r.index].(map[string]any)
	return m
}

// destinations finds the stable and canary destinations of a route and the
// weight the additional subsets keep; an error says why the route cannot
// carry the split.
func (s *split) destinations(route map[string]any, r routeRef) (stable, canary map[string]any, kept int64, err error) {
	desc := r.desc
	for _, d := range asSlice(route["route"]) {
		dm, _ := d.(map[string]any)
		if dm == nil {
			continue
		}
		role := s.role(dm)
		dup := func(what string) error {
			return router.Unusable("%s of VirtualService %q has two destinations for the %s; keep one", desc, s.vs, what)
		}
		switch {
		case role == roleStable && stable != nil:
			return nil, nil, 0, dup("stable")
		case role == roleStable:
			stable = dm
		case role == roleCanary && canary != nil:
			return nil, nil, 0, dup("canary")
		case role == roleCanary:
			canary = dm
		case role == roleAdditional:
			kept += intOf(dm["weight"])
		case intOf(dm["weight"]) > 0:
			return nil, nil, 0, router.Unusable("%s of VirtualService %q also sends traffic to %s, which is neither the "+
				"stable nor the canary; Sluice splits a route between those two only, so give it weight 0, move it "+
				"to another route, or list its subset in destinationRule.additionalSubsetNames", desc, s.vs, describeDest(dm))
		}
	}
	if stable == nil || canary == nil {
		return nil, nil, 0, router.Unusable("%s of VirtualService %q has no destination for the %s; add "+
			"{destination: {%s}, weight: 0} to it, or name the route that carries the split in %s.%s",
			desc, s.vs, s.missing(stable == nil), s.want(stable == nil), s.field, map[string]string{"http": "routes", "tls": "tlsRoutes", "tcp": "tcpRoutes"}[r.kind])
	}
	return stable, canary, kept, nil
}

func describeDest(dest map[string]any) string {
	d, _ := dest["destination"].(map[string]any)
	host, _ := d["host"].(string)
	out := fmt.Sprintf("host %q", host)
	if subset, _ := d["subset"].(string); subset != "" {
		out += fmt.Sprintf(" subset %q", subset)
	}
	return out
}

func (s *split) missing(stable bool) string {
	switch {
	case s.dr != nil && stable:
		return fmt.Sprintf("stable subset %q (destinationRule.stableSubsetName)", s.dr.StableSubsetName)
	case s.dr != nil:
		return fmt.Sprintf("canary subset %q (destinationRule.canarySubsetName)", s.dr.CanarySubsetName)
	case stable:
		return fmt.Sprintf("stable Service %q (stableService)", s.stable)
	}
	return fmt.Sprintf("canary Service %q (canaryService)", s.canary)
}

func (s *split) want(stable bool) string {
	switch {
	case s.dr != nil && stable:
		return fmt.Sprintf("host: HOST, subset: %s", s.dr.StableSubsetName)
	case s.dr != nil:
		return fmt.Sprintf("host: HOST, subset: %s", s.dr.CanarySubsetName)
	case stable:
		return "host: " + s.stable
	}
	return "host: " + s.canary
}

// stableShare is what the stable gets when the canary gets w and the
// additional subsets keep kept (never below 0).
func (s *split) stableShare(w int32, kept int64) int64 {
	return max(int64(s.max)-int64(w)-kept, 0)
}

// weight is the canary weight the routes of vs carry, -1 when they disagree
// or a route's weights do not add up to the total.
func (s *split) weight(vs *unstructured.Unstructured, refs []routeRef) (int32, error) {
	got := int32(-2)
	for _, r := range refs {
		stable, canary, kept, err := s.destinations(s.route(vs, r), r)
		if err != nil {
			return 0, err
		}
		c := intOf(canary["weight"])
		if c < 0 || c > int64(s.max) || intOf(stable["weight"]) != s.stableShare(int32(c), kept) {
			return -1, nil
		}
		switch got {
		case -2:
			got = int32(c)
		case int32(c):
		default:
			return -1, nil
		}
	}
	return got, nil
}

// setWeight puts w on the canary and the rest on the stable in the routes
// of vs, and in the managed mirror routes (copies of the primary route's
// destinations); it reports whether anything changed.
func (s *split) setWeight(vs *unstructured.Unstructured, refs []routeRef, w int32, managed []string) (bool, error) {
	changed := false
	set := func(dest map[string]any, v int64) {
		if _, ok := dest["weight"]; !ok || intOf(dest["weight"]) != v {
			dest["weight"] = v
			changed = true
		}
	}
	apply := func(route map[string]any, r routeRef) error {
		stable, canary, kept, err := s.destinations(route, r)
		if err != nil {
			return err
		}
		set(canary, int64(w))
		set(stable, s.stableShare(w, kept))
		return nil
	}
	for _, r := range refs {
		if err := apply(s.route(vs, r), r); err != nil {
			return false, err
		}
	}
	for _, r := range routesOf(vs, "http") {
		m, _ := r.(map[string]any)
		if _, mirror := m["mirror"]; mirror && slices.Contains(managed, nameOf(m)) {
			_ = apply(m, routeRef{kind: "http"}) // a copy edited into something else is put right by SetManagedRoutes
		}
	}
	return changed, nil
}
