package istio

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

func httpNames(vs *unstructured.Unstructured) []string {
	var out []string
	for _, r := range routesOf(vs, "http") {
		out = append(out, nameOf(r))
	}
	return out
}

var (
	header = router.ManagedRoute{Name: "beta", Header: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "x-beta", HeaderValue: v1alpha1.StringMatch{Exact: "1"}},
		{HeaderName: "user-agent", HeaderValue: v1alpha1.StringMatch{Regex: ".*Firefox.*"}}}}}
	mirror = router.ManagedRoute{Name: "shadow", Mirror: &v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: ptr(int32(35)),
		Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}}
)

func ptr[T any](v T) *T { return &v }

func TestManagedRoutesOrderAndRemoval(t *testing.T) {
	vs := obj(t, webVS)
	s := hostSplit()
	managed := []string{"shadow", "beta"} // managedRoutes order: shadow first
	refs, err := s.selectRoutes(vs, VirtualServiceRef{Routes: []string{"primary"}}, managed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.setWeight(vs, refs, 20, managed); err != nil {
		t.Fatal(err)
	}
	original := mustJSON(t, routesOf(vs, "http"))

	changed, err := s.setManagedRoutes(vs, &refs[0], []router.ManagedRoute{header}, managed)
	if !changed || err != nil {
		t.Fatalf("add header route: %v, %v", changed, err)
	}
	if got := strings.Join(httpNames(vs), ","); got != "beta,admin,primary" {
		t.Fatalf("routes %s, want the header route first", got)
	}
	want := `{"match":[{"headers":{"x-beta":{"exact":"1"}}},{"headers":{"user-agent":{"regex":".*Firefox.*"}}}],` +
		`"name":"beta","route":[{"destination":{"host":"web-canary","port":{"number":8080}},"weight":100}]}`
	if got := mustJSON(t, routesOf(vs, "http")[0]); got != want {
		t.Fatalf("header route\n got %s\nwant %s", got, want)
	}

	// Both, in managedRoutes order whatever order they are asked in.
	refs, _ = s.selectRoutes(vs, VirtualServiceRef{Routes: []string{"primary"}}, managed)
	if _, err := s.setManagedRoutes(vs, &refs[0], []router.ManagedRoute{mirror, header}, managed); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(httpNames(vs), ","); got != "shadow,beta,admin,primary" {
		t.Fatalf("routes %s, want shadow,beta before the VirtualService's own", got)
	}
	m := routesOf(vs, "http")[0].(map[string]any)
	if got := mustJSON(t, m["mirror"]); got != `{"host":"web-canary","port":{"number":8080}}` {
		t.Fatalf("mirror %s", got)
	}
	if got := mustJSON(t, m["mirrorPercentage"]); got != `{"value":35}` {
		t.Fatalf("mirrorPercentage %s", got)
	}
	if got := mustJSON(t, m["match"]); got != `[{"method":{"exact":"GET"},"uri":{"prefix":"/api"}}]` {
		t.Fatalf("mirror match %s", got)
	}
	primary := routesOf(vs, "http")[3].(map[string]any)
	if mustJSON(t, m["route"]) != mustJSON(t, primary["route"]) {
		t.Fatalf("the mirror route does not send traffic on as the primary does:\n%s\n%s", mustJSON(t, m["route"]), mustJSON(t, primary["route"]))
	}
	refs, _ = s.selectRoutes(vs, VirtualServiceRef{Routes: []string{"primary"}}, managed)
	if changed, _ := s.setManagedRoutes(vs, &refs[0], []router.ManagedRoute{header, mirror}, managed); changed {
		t.Fatal("the same routes again reported a change")
	}

	// A weight change reaches the mirror route's copy too.
	if _, err := s.setWeight(vs, refs, 50, managed); err != nil {
		t.Fatal(err)
	}
	if got := weightsOf(vs, "http", 0); got[0] != 50 || got[1] != 50 {
		t.Fatalf("mirror route weights %v after setWeight 50", got)
	}
	if changed, _ := s.setManagedRoutes(vs, &refs[0], []router.ManagedRoute{header, mirror}, managed); changed {
		t.Fatal("after setWeight the mirror route should already be a true copy")
	}

	// The header route's step is undone: only it goes.
	if _, err := s.setManagedRoutes(vs, &refs[0], []router.ManagedRoute{mirror}, managed); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(httpNames(vs), ","); got != "shadow,admin,primary" {
		t.Fatalf("routes %s", got)
	}

	// nil removes every managed route, and nothing else.
	if changed, err := s.setManagedRoutes(vs, nil, nil, managed); !changed || err != nil {
		t.Fatalf("remove: %v, %v", changed, err)
	}
	refs, _ = s.selectRoutes(vs, VirtualServiceRef{Routes: []string{"primary"}}, managed)
	if _, err := s.setWeight(vs, refs, 20, managed); err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, routesOf(vs, "http")); got != original {
		t.Fatalf("after removal the routes are not what they were:\n got %s\nwant %s", got, original)
	}
	if changed, _ := s.setManagedRoutes(vs, nil, nil, managed); changed {
		t.Fatal("removing again reported a change")
	}
}

func TestManagedRoutesLeftBehindAreRemoved(t *testing.T) {
	// A header route of an earlier update (or two copies of it, upstream's
	// argoproj/argo-rollouts#2769) and a managed name not asked for now.
	vs := obj(t, `
spec:
  http:
  - {name: beta, route: [{destination: {host: web-canary}, weight: 100}]}
  - {name: primary, route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}, weight: 0}]}
  - {name: beta, route: [{destination: {host: web-canary}, weight: 100}]}
  - {name: shadow, route: [{destination: {host: web-stable}}]}`)
	s := hostSplit()
	managed := []string{"beta", "shadow"}
	refs, err := s.selectRoutes(vs, VirtualServiceRef{}, managed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.setManagedRoutes(vs, &refs[0], []router.ManagedRoute{header}, managed); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(httpNames(vs), ","); got != "beta,primary" {
		t.Fatalf("routes %s, want one beta route and the primary", got)
	}
}

func TestManagedRoutesNeedAnHTTPRoute(t *testing.T) {
	vs := obj(t, `
spec:
  tcp:
  - route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}, weight: 0}]`)
	s := hostSplit()
	if _, err := s.setManagedRoutes(vs, nil, []router.ManagedRoute{header}, []string{"beta"}); reason(err) != router.ReasonRouteUnusable ||
		!strings.Contains(err.Error(), `VirtualService "web" has no HTTP route that carries the split`) {
		t.Fatalf("header route on a TCP-only VirtualService: %v", err)
	}
	if changed, err := s.setManagedRoutes(vs, nil, nil, []string{"beta"}); changed || err != nil {
		t.Fatalf("removing from a TCP-only VirtualService: %v, %v", changed, err)
	}
	if _, ok := vs.Object["spec"].(map[string]any)["http"]; ok {
		t.Fatal("an empty spec.http was added")
	}
}

func TestSubsetHeaderRouteUsesTheCanarySubset(t *testing.T) {
	vs := obj(t, subsetVS)
	s := &split{vs: "web", field: Field + ".virtualService", namespace: "apps", max: 100,
		dr: &DestinationRuleRef{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable", AdditionalSubsetNames: []string{"preview"}}}
	refs, _ := s.selectRoutes(vs, VirtualServiceRef{}, []string{"beta"})
	if _, err := s.setManagedRoutes(vs, &refs[0], []router.ManagedRoute{header}, []string{"beta"}); err != nil {
		t.Fatal(err)
	}
	r := routesOf(vs, "http")[0].(map[string]any)
	if got := mustJSON(t, r["route"]); got != `[{"destination":{"host":"web","subset":"canary"},"weight":100}]` {
		t.Fatalf("header route destinations %s", got)
	}
}

const webDR = `
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: web, namespace: apps}
spec:
  host: web
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  subsets:
  - name: stable
    labels: {app: web}
  - name: canary
    labels: {app: web, rollouts-pod-template-hash: old}
    trafficPolicy: {connectionPool: {tcp: {maxConnections: 10}}}
  - name: preview
    labels: {app: web, track: preview}
`

func TestPinSubsets(t *testing.T) {
	dr := obj(t, webDR)
	ref := &DestinationRuleRef{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"}
	before := dr.DeepCopy()
	changed, err := pinSubsets(dr, ref, "abc", "def")
	if !changed || err != nil {
		t.Fatalf("pin: %v, %v", changed, err)
	}
	if got := mustJSON(t, subset(dr, "canary")["labels"]); got != `{"app":"web","rollouts-pod-template-hash":"abc"}` {
		t.Fatalf("canary labels %s", got)
	}
	if got := mustJSON(t, subset(dr, "stable")["labels"]); got != `{"app":"web","rollouts-pod-template-hash":"def"}` {
		t.Fatalf("stable labels %s", got)
	}
	subset(before, "canary")["labels"].(map[string]any)[HashLabel] = "abc"
	subset(before, "stable")["labels"].(map[string]any)[HashLabel] = "def"
	if mustJSON(t, before) != mustJSON(t, dr) {
		t.Fatalf("more than the two labels changed:\n%s\n%s", mustJSON(t, before), mustJSON(t, dr))
	}
	if changed, _ := pinSubsets(dr, ref, "abc", "def"); changed {
		t.Fatal("pinning the same hashes again reported a change")
	}
	if changed, _ := pinSubsets(dr, ref, "", "def"); !changed || subset(dr, "canary")["labels"].(map[string]any)[HashLabel] != nil {
		t.Fatal("an empty hash did not remove the label")
	}
	ref.CanarySubsetName = "canary-v2"
	if _, err := pinSubsets(dr, ref, "abc", "def"); reason(err) != router.ReasonRouteUnusable ||
		!strings.Contains(err.Error(), `DestinationRule "web" has no subset named "canary-v2" (destinationRule.canarySubsetName)`) {
		t.Fatalf("missing subset: %v", err)
	}
}
