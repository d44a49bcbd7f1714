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

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// httpRoute has one rule splitting between the stable and canary Services
// and one that only ever goes to the stable (it must be left alone).
func httpRoute(ns, name, stable, canary string) *gwv1.HTTPRoute {
	backend := func(svc string, w int32) gwv1.HTTPBackendRef {
		port := gwv1.PortNumber(8080)
		return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
			BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(svc), Port: &port}, Weight: &w}}
	}
	prefix, admin := gwv1.PathMatchPathPrefix, "/admin"
	return &gwv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gateway"}}},
			Rules: []gwv1.HTTPRouteRule{
				{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &prefix, Value: &admin}}},
					BackendRefs: []gwv1.HTTPBackendRef{backend(stable, 1)}},
				{BackendRefs: []gwv1.HTTPBackendRef{backend(stable, 100), backend(canary, 0)}},
			},
		},
	}
}

func routedRollout(ns, name, route string) *v1alpha1.Rollout {
	ro := templateRollout(ns, name, name+":1", 5, seedSteps())
	c := ro.Spec.Strategy.Canary
	c.StableService, c.CanaryService = name+"-stable", name+"-canary"
	c.ScaleDownDelaySeconds, c.AbortScaleDownDelaySeconds = ptr(int32(2)), ptr(int32(2))
	c.TrafficRouting = &v1alpha1.TrafficRouting{Plugins: map[string]runtime.RawExtension{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(fmt.Sprintf(`{"httpRoute":%q}`, route))}}}
	return ro
}

// routeSplit returns the stable and canary weights of the route's split rule,
// and the weight of its stable-only rule.
func routeSplit(t *testing.T, env *testenv.Env, ns, name string) (stable, canary, other int32) {
	t.Helper()
	var rt gwv1.HTTPRoute
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &rt); err != nil {
		t.Fatal(err)
	}
	refs := rt.Spec.Rules[1].BackendRefs
	return *refs[0].Weight, *refs[1].Weight, *rt.Spec.Rules[0].BackendRefs[0].Weight
}

// expectSplit waits until the route sends canary% to the canary Service,
// the stable-only rule is untouched, and the Rollout's status says so.
func expectSplit(t *testing.T, env *testenv.Env, ns, name string, canary int32) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		s, c, other := routeSplit(t, env, ns, "web")
		ro := getRollout(t, env, ns, name)
		w := ro.Status.Canary.Weights
		ok := s == 100-canary && c == canary && other == 1 && w != nil && w.Canary.Weight == canary && w.Stable.Weight == 100-canary
		return ok, fmt.Sprintf("route stable %d canary %d (other rule %d), status weights %+v; want canary %d", s, c, other, w, canary)
	})
}

func expectDegraded(t *testing.T, env *testenv.Env, ns, name, reason, says string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		ro := getRollout(t, env, ns, name)
		c := condition(ro, v1alpha1.RolloutProgressing)
		if ro.Status.Phase != v1alpha1.RolloutPhaseDegraded || c == nil || c.Reason != reason || !strings.Contains(c.Message, says) {
			return false, fmt.Sprintf("phase %s, condition %+v; want Degraded with %s saying %q", ro.Status.Phase, c, reason, says)
		}
		for _, e := range warningEvents(t, env, ns, name) {
			if e.Reason == reason && strings.Contains(e.Message, says) {
				return true, ""
			}
		}
		return false, "no Warning Event " + reason
	})
	if rss := replicaSets(t, env, ns, name); len(rss) != 0 {
		t.Fatalf("a ReplicaSet was created although the router is unusable: %s", describeRS(rss))
	}
}

// A canary whose traffic is split by a Gateway API HTTPRoute: the route's
// weights follow the steps (and only once the canary's pods are ready),
// promotion hands everything to the new version, abort takes traffic off
// the canary at once. Without the Gateway API, or without the route, the
// Rollout says so and touches nothing.
func TestGatewayAPICanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()

	t.Run("Gateway API not installed", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), routedRollout(ns, "app", "web"))
		expectDegraded(t, env, ns, "app", "TrafficRouterNotInstalled", "the Gateway API (gateway.networking.k8s.io/v1 HTTPRoute) is not installed")
	})

	crd, err := env.GatewayAPICRD("httproutes")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InstallCRDs(crd); err != nil {
		t.Fatal(err)
	}

	t.Run("missing HTTPRoute, then created", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), routedRollout(ns, "app", "web"))
		expectDegraded(t, env, ns, "app", "TrafficRouteNotFound", `HTTPRoute "web" named by spec.strategy.canary.trafficRouting.plugins[argoproj-labs/gatewayAPI] was not found`)
		c := newCLI(t, env, ns)
		if out, code := c.run("doctor", "--no-metrics"); code != 1 || !strings.Contains(out, `HTTPRoute "web" (namespace "`+ns+`") named by the gatewayAPI plugin does not exist`) {
			t.Fatalf("doctor with the route missing: exit %d\n%s", code, out)
		}
		create(t, env, httpRoute(ns, "web", "app-stable", "app-canary"))
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		if out, code := c.run("doctor", "--no-metrics"); code != 0 || !strings.Contains(out, "✔ rollout "+ns+"/app") {
			t.Fatalf("doctor with the route in place: exit %d\n%s", code, out)
		}
	})

	t.Run("steps, promote, abort", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), httpRoute(ns, "web", "app-stable", "app-canary"))
		ro := routedRollout(ns, "app", "web")
		create(t, env, ro)
		v1 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
		expectSplit(t, env, ns, "app", 0)
		if s, c := selectedHash(t, env, ns, "app-stable"), selectedHash(t, env, ns, "app-canary"); s != v1 || c != v1 {
			t.Fatalf("at rest both Services must select %s; stable selects %q, canary %q", v1, s, c)
		}

		// 20%: one canary pod, the stable keeps all five.
		bump(t, env, ro, "app:2")
		v2 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
		expectSplit(t, env, ns, "app", 20)
		if s, c := selectedHash(t, env, ns, "app-stable"), selectedHash(t, env, ns, "app-canary"); s != v1 || c != v2 {
			t.Fatalf("stable Service selects %q (want %s), canary Service %q (want %s)", s, v1, c, v2)
		}
		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 3)
		expectSplit(t, env, ns, "app", 50)

		// Last promote: 100% to the canary, it becomes the stable, the route
		// goes back to all-stable, and the old pods go after the delay.
		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		expectSplit(t, env, ns, "app", 0)
		if s := selectedHash(t, env, ns, "app-stable"); s != v2 {
			t.Fatalf("after promotion the stable Service selects %q, want %s", s, v2)
		}

		// Abort: traffic leaves the canary at once, its pods after the delay.
		bump(t, env, ro, "app:3")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
		expectSplit(t, env, ns, "app", 20)
		abort(t, env, ns, "app")
		expectSplit(t, env, ns, "app", 0)
		expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
		// Both Services select the stable, as upstream: what reaches the
		// canary Service outside the route's weight is served by the stable,
		// not by the aborted pods on their way out.
		if s, c := selectedHash(t, env, ns, "app-stable"), selectedHash(t, env, ns, "app-canary"); s != v2 || c != v2 {
			t.Fatalf("after abort the stable Service selects %q, the canary %q; want both %s", s, c, v2)
		}
		var updates []string
		list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=app,reason=TrafficWeightUpdated"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			updates = append(updates, e.Message)
		}
		if len(updates) < 5 {
			t.Fatalf("want an Event for every weight change (20, 50, 100, 0, 20, 0), got %d:\n%s", len(updates), strings.Join(updates, "\n"))
		}
	})

	t.Run("header and mirror routes", func(t *testing.T) { headerAndMirrorRoutes(t, env) })
	t.Run("maxTrafficWeight", func(t *testing.T) { maxTrafficWeight(t, env) })
	t.Run("canary Service waits for an available pod", func(t *testing.T) { canaryServiceWaitsForPods(t, env) })
}
