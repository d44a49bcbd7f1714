package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// routeRules names the rules of the HTTPRoute (an unnamed rule is "-").
func routeRules(t *testing.T, env *testenv.Env, ns, name string) (*gwv1.HTTPRoute, []string) {
	t.Helper()
	var rt gwv1.HTTPRoute
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &rt); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rt.Spec.Rules {
		n := "-"
		if r.Name != nil {
			n = string(*r.Name)
		}
		names = append(names, n)
	}
	return &rt, names
}

func expectRules(t *testing.T, env *testenv.Env, ns string, want ...string) *gwv1.HTTPRoute {
	t.Helper()
	var rt *gwv1.HTTPRoute
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		var names []string
		rt, names = routeRules(t, env, ns, "web")
		return strings.Join(names, ",") == strings.Join(want, ","), fmt.Sprintf("rules %v, want %v", names, want)
	})
	return rt
}

// Header and mirror routes on a Gateway API canary: the managed rules appear
// once the canary has a pod, follow the steps, come back when someone
// removes them, and leave on abort and on promote --full; the operator's
// rules are never touched. Run by TestGatewayAPICanary once the HTTPRoute
// CRD is installed (its first case needs the cluster without it).
func headerAndMirrorRoutes(t *testing.T, env *testenv.Env) {
	ns := env.Namespace(t)
	create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), httpRoute(ns, "web", "app-stable", "app-canary"))
	ro := routedRollout(ns, "app", "web")
	c := ro.Spec.Strategy.Canary
	c.TrafficRouting.Plugins = map[string]runtime.RawExtension{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoutes":[{"name":"web","useHeaderRoutes":true}]}`)}}
	c.TrafficRouting.ManagedRoutes = []v1alpha1.ManagedRoute{{Name: "beta"}, {Name: "shadow"}}
	c.Steps = []v1alpha1.CanaryStep{
		{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr(int32(1))}},
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: v1alpha1.StringMatch{Exact: "yes"}}}}},
		{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: ptr(int32(40)),
			Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}},
		{Pause: &v1alpha1.RolloutPause{}}, // 3
		{SetWeight: ptr(int32(20))},
		{Pause: &v1alpha1.RolloutPause{}},                        // 5
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta"}}, // no match: beta goes
		{Pause: &v1alpha1.RolloutPause{}},                        // 7
	}
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 8)
	expectRules(t, env, ns, "-", "-") // at rest: no managed rule

	bump(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 3)
	rt := expectRules(t, env, ns, "-", "-", "beta", "shadow")
	expectSplit(t, env, ns, "app", 0)
	if b, err := yaml.Marshal(rt.Spec.Rules); err == nil {
		t.Logf("HTTPRoute web at step 3 (spec.rules):\n%s", b)
	}
	beta, shadow := rt.Spec.Rules[2], rt.Spec.Rules[3]
	if len(beta.BackendRefs) != 1 || beta.BackendRefs[0].Name != "app-canary" || len(beta.Matches) != 1 ||
		beta.Matches[0].Headers[0].Name != "X-Beta" || beta.Matches[0].Headers[0].Value != "yes" {
		t.Fatalf("header rule: %+v", beta)
	}
	mirror := shadow.Filters[len(shadow.Filters)-1].RequestMirror
	if mirror == nil || mirror.BackendRef.Name != "app-canary" || *mirror.Percent != 40 || *shadow.Matches[0].Path.Value != "/api" {
		t.Fatalf("mirror rule: %+v", shadow)
	}

	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 5)
	expectRouteWrites(t, env, ns, 1) // the weight changed, the routes were not rewritten
	expectSplit(t, env, ns, "app", 20)
	rt = expectRules(t, env, ns, "-", "-", "beta", "shadow")
	if w := rt.Spec.Rules[3].BackendRefs[1].Weight; w == nil || *w != 20 {
		t.Fatalf("the mirror rule's split follows the weight: %v", w)
	}

	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 7)
	expectRules(t, env, ns, "-", "-", "shadow")

	// Someone (a GitOps sync) puts the route back as it is in git.
	rt, _ = routeRules(t, env, ns, "web")
	rt.Spec.Rules = rt.Spec.Rules[:2]
	if err := env.Client.Update(ctx, rt); err != nil {
		t.Fatal(err)
	}
	expectRules(t, env, ns, "-", "-", "shadow")
	expectRouteWrites(t, env, ns, 3) // beta+shadow, beta gone, shadow put back

	// Abort: the managed routes leave with the traffic.
	abort(t, env, ns, "app")
	expectRules(t, env, ns, "-", "-")
	expectSplit(t, env, ns, "app", 0)

	// Retry, then promote --full: the routes come back while the canary
	// serves, and leave once it is promoted.
	retry(t, env, ns, "app")
	expectRules(t, env, ns, "-", "-", "beta", "shadow")
	promoteFull(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 8)
	expectRules(t, env, ns, "-", "-")
	expectSplit(t, env, ns, "app", 0)
	expectRouteWrites(t, env, ns, 6) // + gone on abort, back on retry, gone on promote --full
}

// expectRouteWrites waits for exactly n writes of the managed routes (one
// ManagedRoutesUpdated Event each): a rule the API server defaults
// differently from what Sluice wrote would show as a write per reconcile.
func expectRouteWrites(t *testing.T, env *testenv.Env, ns string, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=app,reason=ManagedRoutesUpdated"})
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, e := range list.Items {
			c := max(e.Count, 1)
			if e.Series != nil && e.Series.Count > c {
				c = e.Series.Count // a repeated Event is one object with a count
			}
			count += int(c)
		}
		return count == n, fmt.Sprintf("%d ManagedRoutesUpdated Events, want %d", count, n)
	})
}

// maxTrafficWeight 1000: setWeight 200 is a fifth of the traffic, written
// as 800/200 into the route, with one canary pod out of five.
func maxTrafficWeight(t *testing.T, env *testenv.Env) {
	ns := env.Namespace(t)
	create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), httpRoute(ns, "web", "app-stable", "app-canary"))
	ro := routedRollout(ns, "app", "web")
	c := ro.Spec.Strategy.Canary
	c.TrafficRouting.MaxTrafficWeight = ptr(int32(1000))
	c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(200))}, {Pause: &v1alpha1.RolloutPause{}}}
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 2)
	bump(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		s, cw, _ := routeSplit(t, env, ns, "web")
		w := getRollout(t, env, ns, "app").Status.Canary.Weights
		return s == 800 && cw == 200 && w != nil && w.Canary.Weight == 200 && w.Stable.Weight == 800,
			fmt.Sprintf("route %d/%d, status %+v; want 800/200", s, cw, w)
	})
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 2)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		s, cw, _ := routeSplit(t, env, ns, "web")
		return s == 1000 && cw == 0, fmt.Sprintf("route %d/%d; want 1000/0 after the update", s, cw)
	})
}

// The canary Service moves to a new revision only once one of its pods is
// available, as upstream: until then what reaches it outside the router's
// weight (an NGINX canary-by-header, a client calling it) still gets an
// answer from the pods it selected.
func canaryServiceWaitsForPods(t *testing.T, env *testenv.Env) {
	ns := env.Namespace(t)
	create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), httpRoute(ns, "web", "app-stable", "app-canary"))
	ro := routedRollout(ns, "app", "web")
	create(t, env, ro)
	v1 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS

	// A revision whose pods cannot be scheduled: never available.
	patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"nodeSelector":{"sluice.dev/no-such-node":"x"},"containers":[{"name":"app","image":"app:2"}]}}}}`)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		rss := replicaSets(t, env, ns, "app")
		return len(rss) == 2, "waiting for the canary ReplicaSet: " + describeRS(rss)
	})
	time.Sleep(3 * time.Second) // several reconciles with the canary's pod Pending
	if c := selectedHash(t, env, ns, "app-canary"); c != v1 {
		t.Fatalf("the canary Service moved to pods that cannot answer: selects %q, want %s", c, v1)
	}
	if s, c, _ := routeSplit(t, env, ns, "web"); s != 100 || c != 0 {
		t.Fatalf("route %d/%d with no canary pod available, want 100/0", s, c)
	}

	// A fixed revision: the Service moves once its pod is available.
	patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"nodeSelector":null,"containers":[{"name":"app","image":"app:3"}]}}}}`)
	v3 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
	expectSplit(t, env, ns, "app", 20)
	if c := selectedHash(t, env, ns, "app-canary"); c != v3 {
		t.Fatalf("canary Service selects %q, want %s", c, v3)
	}
}
