package istio

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/internal/router"
)

// obj reads a manifest the way a client does (numbers as int64).
func obj(t testing.TB, manifest string) *unstructured.Unstructured {
	t.Helper()
	if !strings.Contains(manifest, "kind:") {
		manifest = "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: web}\n" + strings.TrimLeft(manifest, "\n")
	}
	j, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

const webVS = `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: apps, resourceVersion: "7"}
spec:
  hosts: [web.example.com]
  gateways: [public]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: web-stable}, weight: 100}]
  - name: primary
    match: [{withoutHeaders: {x-debug: {exact: "1"}}}]
    retries: {attempts: 3}
    route:
    - destination: {host: web-stable.apps.svc.cluster.local, port: {number: 8080}}
      weight: 100
      headers: {request: {set: {x-who: stable}}}
    - destination: {host: web-canary, port: {number: 8080}}
      weight: 0
`

func hostSplit() *split {
	return &split{vs: "web", field: Field + ".virtualService", namespace: "apps", stable: "web-stable", canary: "web-canary", max: 100}
}

// weightsOf returns the weights of the destinations of route i of a kind.
func weightsOf(vs *unstructured.Unstructured, kind string, i int) []int64 {
	var out []int64
	r, _ := routesOf(vs, kind)[i].(map[string]any)
	for _, d := range asSlice(r["route"]) {
		out = append(out, intOf(d.(map[string]any)["weight"]))
	}
	return out
}

func reason(err error) string {
	var re *router.Error
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

func TestHostLevelWeights(t *testing.T) {
	vs := obj(t, webVS)
	s := hostSplit()
	refs, err := s.selectRoutes(vs, VirtualServiceRef{Name: "web", Routes: []string{"primary"}}, nil)
	if err != nil || len(refs) != 1 || refs[0].index != 1 {
		t.Fatalf("refs %+v, %v; want HTTP route 1", refs, err)
	}
	if w, err := s.weight(vs, refs); w != 0 || err != nil {
		t.Fatalf("weight %d, %v; want 0", w, err)
	}
	before := vs.DeepCopy()
	changed, err := s.setWeight(vs, refs, 20, nil)
	if !changed || err != nil {
		t.Fatalf("set 20: changed %v, %v", changed, err)
	}
	if got := weightsOf(vs, "http", 1); got[0] != 80 || got[1] != 20 {
		t.Fatalf("primary weights %v, want [80 20]", got)
	}
	if got := weightsOf(vs, "http", 0); got[0] != 100 {
		t.Fatalf("the admin route was changed: %v", got)
	}
	if w, _ := s.weight(vs, refs); w != 20 {
		t.Fatalf("read back %d, want 20", w)
	}
	// Only the two weights differ: every other field is as it was.
	set := func(u *unstructured.Unstructured, a, b int64) {
		r := routesOf(u, "http")[1].(map[string]any)
		asSlice(r["route"])[0].(map[string]any)["weight"] = a
		asSlice(r["route"])[1].(map[string]any)["weight"] = b
	}
	set(before, 80, 20)
	if b, a := mustJSON(t, before), mustJSON(t, vs); a != b {
		t.Fatalf("more than the weights changed:\nbefore %s\nafter  %s", b, a)
	}
	if changed, _ := s.setWeight(vs, refs, 20, nil); changed {
		t.Fatal("setting the same weight again reported a change")
	}
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWeightDisagreesUntilRewritten(t *testing.T) {
	vs := obj(t, webVS)
	s := hostSplit()
	refs, _ := s.selectRoutes(vs, VirtualServiceRef{Name: "web", Routes: []string{"primary"}}, nil)
	r := routesOf(vs, "http")[1].(map[string]any)
	asSlice(r["route"])[1].(map[string]any)["weight"] = int64(30) // stable still 100: someone half-edited it
	if w, _ := s.weight(vs, refs); w != -1 {
		t.Fatalf("weights 100/30 read as %d, want -1 (they do not add up)", w)
	}
	delete(asSlice(r["route"])[0].(map[string]any), "weight")
	delete(asSlice(r["route"])[1].(map[string]any), "weight")
	if w, _ := s.weight(vs, refs); w != -1 {
		t.Fatalf("unset weights read as %d, want -1", w)
	}
	if changed, _ := s.setWeight(vs, refs, 0, nil); !changed {
		t.Fatal("unset weights were not written")
	}
	if w, _ := s.weight(vs, refs); w != 0 {
		t.Fatalf("after the rewrite %d, want 0", w)
	}
}

func TestSelectRoutes(t *testing.T) {
	s := hostSplit()
	for _, tc := range []struct {
		name, vs string
		ref      VirtualServiceRef
		managed  []string
		want     []routeRef
		reason   string
		says     string
	}{
		{"named route missing", webVS, VirtualServiceRef{Routes: []string{"main"}}, nil, nil,
			router.ReasonRouteNotFound, `VirtualService "web" has no HTTP route named "main" (named by spec.strategy.canary.trafficRouting.istio.virtualService.routes); its HTTP routes are ["admin", "primary"]`},
		{"routes omitted with two HTTP routes", webVS, VirtualServiceRef{}, nil, nil,
			router.ReasonRouteUnusable, `VirtualService "web" has 2 HTTP routes besides the managed ones`},
		{"routes omitted, the other one is managed", webVS, VirtualServiceRef{}, []string{"admin"},
			[]routeRef{{"http", 1, `HTTP route "primary"`}}, "", ""},
		{"single unnamed route", `
spec:
  http:
  - route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}, weight: 0}]`,
			VirtualServiceRef{}, nil, []routeRef{{"http", 0, "its HTTP route"}}, "", ""},
		{"every kind the VirtualService has is split", `
spec:
  http:
  - route: [{destination: {host: web-stable}}, {destination: {host: web-canary}}]
  tls:
  - match: [{port: 443, sniHosts: [b.example.com, a.example.com]}]
    route: [{destination: {host: web-stable}}, {destination: {host: web-canary}}]
  - match: [{port: 8443, sniHosts: [a.example.com]}]
    route: [{destination: {host: web-stable}}, {destination: {host: web-canary}}]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: web-stable}}, {destination: {host: web-canary}}]`,
			VirtualServiceRef{TLSRoutes: []TLSRoute{{Port: 443, SNIHosts: []string{"a.example.com", "b.example.com"}}}},
			nil, []routeRef{{"http", 0, "its HTTP route"}, {"tls", 0, "TLS route 0"}, {"tcp", 0, "its TCP route"}}, "", ""},
		{"TLS route by port and SNI not found", `
spec:
  tls:
  - match: [{port: 443, sniHosts: [a.example.com]}, {port: 443, sniHosts: [b.example.com]}]
    route: [{destination: {host: web-stable}}, {destination: {host: web-canary}}]`,
			VirtualServiceRef{TLSRoutes: []TLSRoute{{Port: 443, SNIHosts: []string{"a.example.com"}}}}, nil, nil,
			router.ReasonRouteNotFound, "no TLS route matching spec.strategy.canary.trafficRouting.istio.virtualService.tlsRoutes[0] (port 443, sniHosts [a.example.com])"},
		{"TCP routes omitted with two", `
spec:
  tcp:
  - match: [{port: 1}]
  - match: [{port: 2}]`, VirtualServiceRef{}, nil, nil, router.ReasonRouteUnusable, "has 2 TCP routes and spec.strategy.canary.trafficRouting.istio.virtualService.tcpRoutes does not say which"},
		{"TCP route with two ports never matches", `
spec:
  tcp:
  - match: [{port: 1}, {port: 2}]
  - match: [{port: 2}]`, VirtualServiceRef{TCPRoutes: []TCPRoute{{Port: 2}}}, nil, []routeRef{{"tcp", 1, "TCP route 1"}}, "", ""},
		{"no routes at all", `spec: {hosts: [x]}`, VirtualServiceRef{}, nil, nil, router.ReasonRouteUnusable, "has no http, tls or tcp route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.selectRoutes(obj(t, tc.vs), tc.ref, tc.managed)
			if tc.reason != "" {
				if reason(err) != tc.reason || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("err %v; want %s saying %q", err, tc.reason, tc.says)
				}
				return
			}
			if err != nil || mustJSON(t, got) != mustJSON(t, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestRouteWithoutBothDestinations(t *testing.T) {
	for _, tc := range []struct{ name, route, says string }{
		{"no canary", `[{destination: {host: web-stable}, weight: 100}]`,
			`HTTP route "primary" of VirtualService "web" has no destination for the canary Service "web-canary" (canaryService); add {destination: {host: web-canary}, weight: 0}`},
		{"canary of another namespace", `[{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary.other.svc.cluster.local}, weight: 0}]`,
			`has no destination for the canary Service "web-canary" (canaryService); add {destination: {host: web-canary}, weight: 0} to it, or name the route that carries the split in spec.strategy.canary.trafficRouting.istio.virtualService.routes`},
		{"a third destination with traffic", `[{destination: {host: web-stable}, weight: 90}, {destination: {host: web-canary}, weight: 0}, {destination: {host: legacy}, weight: 10}]`,
			`also sends traffic to host "legacy", which is neither`},
		{"two canaries", `[{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}}, {destination: {host: web-canary.apps}}]`,
			"two destinations for the canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := obj(t, "spec:\n  http:\n  - name: primary\n    route: "+tc.route)
			s := hostSplit()
			refs, err := s.selectRoutes(vs, VirtualServiceRef{Routes: []string{"primary"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.weight(vs, refs)
			if reason(err) != router.ReasonRouteUnusable || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("weight: %v; want TrafficRouteUnusable saying %q", err, tc.says)
			}
			if _, err := s.setWeight(vs, refs, 10, nil); reason(err) != router.ReasonRouteUnusable {
				t.Fatalf("setWeight: %v; want TrafficRouteUnusable", err)
			}
		})
	}
	// A third destination with weight 0 is left alone.
	vs := obj(t, "spec:\n  http:\n  - route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}}, {destination: {host: legacy}, weight: 0}]")
	s := hostSplit()
	refs, _ := s.selectRoutes(vs, VirtualServiceRef{}, nil)
	if _, err := s.setWeight(vs, refs, 40, nil); err != nil {
		t.Fatal(err)
	}
	if got := weightsOf(vs, "http", 0); got[0] != 60 || got[1] != 40 || got[2] != 0 {
		t.Fatalf("weights %v, want [60 40 0]", got)
	}
}

func TestMatchesService(t *testing.T) {
	for host, want := range map[string]bool{
		"web": true, "web.apps": true, "web.apps.svc": true, "web.apps.svc.cluster.local": true, "web.apps.svc.corp.example": true,
		"web.other": false, "web.apps.svcx": false, "webx": false, "web.appsx.svc": false, "": false,
	} {
		if got := matchesService(host, "web", "apps"); got != want {
			t.Errorf("%q: %v, want %v", host, got, want)
		}
	}
}

const subsetVS = `
spec:
  http:
  - name: primary
    route:
    - {destination: {host: web, subset: stable}, weight: 90}
    - {destination: {host: web, subset: canary}, weight: 0}
    - {destination: {host: web, subset: preview}, weight: 10}
`

func TestSubsetLevelWeights(t *testing.T) {
	vs := obj(t, subsetVS)
	s := &split{vs: "web", field: Field + ".virtualService", namespace: "apps", max: 100,
		dr: &DestinationRuleRef{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable", AdditionalSubsetNames: []string{"preview"}}}
	refs, err := s.selectRoutes(vs, VirtualServiceRef{Routes: []string{"primary"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := s.weight(vs, refs); w != 0 || err != nil {
		t.Fatalf("weight %d, %v; want 0 (the preview subset keeps its 10)", w, err)
	}
	if _, err := s.setWeight(vs, refs, 30, nil); err != nil {
		t.Fatal(err)
	}
	if got := weightsOf(vs, "http", 0); got[0] != 60 || got[1] != 30 || got[2] != 10 {
		t.Fatalf("weights %v, want stable 60, canary 30, preview kept at 10", got)
	}
	if _, err := s.setWeight(vs, refs, 100, nil); err != nil {
		t.Fatal(err)
	}
	if got := weightsOf(vs, "http", 0); got[0] != 0 || got[1] != 100 {
		t.Fatalf("weights %v, want stable 0 (never negative), canary 100", got)
	}
	s.dr.AdditionalSubsetNames = nil
	if _, err := s.weight(vs, refs); reason(err) != router.ReasonRouteUnusable || !strings.Contains(err.Error(), "additionalSubsetNames") {
		t.Fatalf("a subset not listed anywhere: %v; want TrafficRouteUnusable", err)
	}
	vs = obj(t, "spec:\n  http:\n  - route: [{destination: {host: web, subset: stable}, weight: 100}]")
	refs, _ = s.selectRoutes(vs, VirtualServiceRef{}, nil)
	if _, err := s.weight(vs, refs); reason(err) != router.ReasonRouteUnusable ||
		!strings.Contains(err.Error(), `no destination for the canary subset "canary" (destinationRule.canarySubsetName); add {destination: {host: HOST, subset: canary}, weight: 0}`) {
		t.Fatalf("route without the canary subset: %v", err)
	}
}
