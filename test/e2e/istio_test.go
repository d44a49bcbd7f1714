package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

const hostLevel = `{"virtualService":{"name":"web","routes":["primary"]}}`

// A canary whose traffic is split by an Istio VirtualService (host-level:
// the stable and canary Services as destinations; subset-level: a
// DestinationRule's subsets pinned to the pod-template hashes), with header
// and mirror routes. Without Istio, or with a route that does not name the
// canary, the Rollout says so and touches nothing.
func TestIstioCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()

	notInstalled := env.Namespace(t)
	t.Run("Istio not installed", func(t *testing.T) {
		ns := notInstalled
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), istioRollout(ns, "app", hostLevel, seedSteps()))
		expectDegraded(t, env, ns, "app", "TrafficRouterNotInstalled",
			"VirtualService (networking.istio.io/v1beta1) is not installed in this cluster, but spec.strategy.canary.trafficRouting.istio.virtualService.name names one")
		logDegraded(t, env, ns)
	})

	installIstioCRDs(t, env)

	t.Run("installed and the VirtualService created: proceeds", func(t *testing.T) {
		ns := notInstalled
		createYAML(t, env, hostVS(ns, "app-canary"))
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		expectVS(t, env, ns, "app", 0)
	})

	t.Run("route without the canary, then fixed", func(t *testing.T) {
		ns := env.Namespace(t)
		vs := createYAML(t, env, hostVS(ns, "app-preview"))
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), istioRollout(ns, "app", hostLevel, seedSteps()))
		expectDegraded(t, env, ns, "app", "TrafficRouteUnusable",
			`HTTP route "primary" of VirtualService "web" has no destination for the canary Service "app-canary" (canaryService)`)
		logDegraded(t, env, ns)
		if got := getIstio(t, env, vsGVK, ns, "web"); got.GetResourceVersion() != vs.GetResourceVersion() {
			t.Fatalf("the unusable VirtualService was written to: %s", specJSON(t, got))
		}
		patchSpec(t, env, vs, `{"spec":{"http":[{"name":"admin","route":[{"destination":{"host":"app-stable"},"weight":100}]},`+
			`{"name":"primary","route":[{"destination":{"host":"app-stable","port":{"number":8080}},"weight":100},`+
			`{"destination":{"host":"app-canary.`+ns+`.svc.cluster.local","port":{"number":8080}},"weight":0}]}]}}`)
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	})

	t.Run("host-level steps, reset behind our back, promote, abort, promote --full", func(t *testing.T) {
		ns := env.Namespace(t)
		original := specJSON(t, createYAML(t, env, hostVS(ns, "app-canary")))
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"))
		ro := istioRollout(ns, "app", hostLevel, seedSteps())
		create(t, env, ro)
		v1 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
		expectVS(t, env, ns, "app", 0)

		bump(t, env, ro, "app:2")
		v2 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
		vs := expectVS(t, env, ns, "app", 20)
		t.Logf("VirtualService at setWeight 20:\n%s", specJSON(t, vs))
		if s, c := selectedHash(t, env, ns, "app-stable"), selectedHash(t, env, ns, "app-canary"); s != v1 || c != v2 {
			t.Fatalf("stable Service selects %q (want %s), canary Service %q (want %s)", s, v1, c, v2)
		}

		// A GitOps sync writes the VirtualService back as it is in git.
		start := time.Now()
		patchSpec(t, env, vs, `{"spec":{"http":[{"name":"admin","match":[{"uri":{"prefix":"/admin"}}],"route":[{"destination":{"host":"app-stable"},"weight":100}]},`+
			`{"name":"primary","match":[{"withoutHeaders":{"x-debug":{"exact":"1"}}}],"retries":{"attempts":3,"perTryTimeout":"2s"},"route":[`+
			`{"destination":{"host":"app-stable","port":{"number":8080}},"weight":100},{"destination":{"host":"app-canary","port":{"number":8080}},"weight":0}]}]}}`)
		expectVS(t, env, ns, "app", 20)
		t.Logf("VirtualService reset to 100/0 was rewritten to 80/20 in %s", time.Since(start).Round(100*time.Millisecond))

		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 3)
		expectVS(t, env, ns, "app", 50)
		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		if got := specJSON(t, expectVS(t, env, ns, "app", 0)); got != original {
			t.Fatalf("after the canary the VirtualService is not as it was:\n got %s\nwant %s", got, original)
		}
		if s := selectedHash(t, env, ns, "app-stable"); s != v2 {
			t.Fatalf("after promotion the stable Service selects %q, want %s", s, v2)
		}

		bump(t, env, ro, "app:3")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
		expectVS(t, env, ns, "app", 20)
		abort(t, env, ns, "app")
		expectVS(t, env, ns, "app", 0)
		expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)

		bump(t, env, ro, "app:4")
		v4 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
		expectVS(t, env, ns, "app", 20)
		promoteFull(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		if got := specJSON(t, expectVS(t, env, ns, "app", 0)); got != original {
			t.Fatalf("after promote --full the VirtualService is not as it was:\n got %s\nwant %s", got, original)
		}
		if s := selectedHash(t, env, ns, "app-stable"); s != v4 {
			t.Fatalf("after promote --full the stable Service selects %q, want %s", s, v4)
		}
	})

	t.Run("subset-level: a DestinationRule subset moves only while it carries no traffic", func(t *testing.T) { subsetLevel(t, env) })
	t.Run("header and mirror routes", func(t *testing.T) { headerAndMirror(t, env) })
}

func subsetLevel(t *testing.T, env *testenv.Env) {
	ns := env.Namespace(t)
	tl := watchIstio(t, env, ns)
	defer tl.stop()
	createYAML(t, env, fmt.Sprintf(`
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: app, namespace: %s}
spec:
  host: app
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  subsets:
  - {name: stable, labels: {app: app}}
  - {name: canary, labels: {app: app}}
`, ns))
	createYAML(t, env, fmt.Sprintf(`
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: %s}
spec:
  hosts: [app]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: app, subset: stable}, weight: 100}]
  - name: primary
    route:
    - {destination: {host: app, subset: stable}, weight: 100}
    - {destination: {host: app, subset: canary}, weight: 0}
`, ns))
	// No stableService or canaryService: the subsets select the pods.
	ro := istioRollout(ns, "app", `{"virtualService":{"name":"web","routes":["primary"]},`+
		`"destinationRule":{"name":"app","canarySubsetName":"canary","stableSubsetName":"stable"}}`, seedSteps())
	ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "", ""
	create(t, env, ro)
	subsets := func(canary, stable string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			c, s := subsetHashes(getIstio(t, env, drGVK, ns, "app"))
			return c == canary && s == stable, fmt.Sprintf("canary subset %q stable %q; want %q %q", c, s, canary, stable)
		})
	}
	v1 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
	subsets(v1, v1)
	expectVS(t, env, ns, "app", 0)

	bump(t, env, ro, "app:2")
	v2 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
	expectVS(t, env, ns, "app", 20)
	subsets(v2, v1)
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 3)
	expectVS(t, env, ns, "app", 50)
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	expectVS(t, env, ns, "app", 0)
	subsets(v2, v2)

	bump(t, env, ro, "app:3")
	v3 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
	expectVS(t, env, ns, "app", 20)
	subsets(v3, v2)
	abort(t, env, ns, "app")
	expectVS(t, env, ns, "app", 0)
	expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
	time.Sleep(time.Second) // let the watches deliver the last writes

	// Replay what the API server stored: a subset's hash changed only while
	// that subset was sent nothing (the canary's at canary weight 0, the
	// stable's at canary weight 100, when the promoted canary takes over).
	weight, canary, stable := int64(-1), "", ""
	moves := 0
	for _, ev := range tl.sorted() {
		switch ev.kind {
		case "VirtualService":
			if w := routeWeights(ev.obj, "primary"); len(w) == 2 {
				weight = w[1]
			}
		case "DestinationRule":
			c, s := subsetHashes(ev.obj)
			if canary+stable != "" {
				if c != canary && weight != 0 {
					t.Fatalf("the canary subset moved from %q to %q while it had weight %d", canary, c, weight)
				}
				if s != stable && weight != 100 {
					t.Fatalf("the stable subset moved from %q to %q while it had weight %d", stable, s, 100-weight)
				}
				if c != canary || s != stable {
					moves++
					t.Logf("DestinationRule subsets canary %s stable %s at canary weight %d", c, s, weight)
				}
			}
			canary, stable = c, s
		}
	}
	if moves < 3 {
		t.Fatalf("saw %d subset moves after the first pin, want at least 3 (canary to v2, stable to v2, canary to v3)", moves)
	}
}

func headerAndMirror(t *testing.T, env *testenv.Env) {
	ns := env.Namespace(t)
	original := specJSON(t, createYAML(t, env, hostVS(ns, "app-canary")))
	create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"))
	steps := []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))},
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "x-beta", HeaderValue: v1alpha1.StringMatch{Exact: "yes"}}}}},
		{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: ptr(int32(35)), Match: []v1alpha1.RouteMatch{
			{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}},
		{Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr(int32(50))},
		{Pause: &v1alpha1.RolloutPause{}},
	}
	// managedRoutes order (shadow first) decides precedence, not step order.
	ro := istioRollout(ns, "app", hostLevel, steps, "shadow", "beta")
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 6)
	expectRoutes := func(names string, check func(*unstructured.Unstructured) string) *unstructured.Unstructured {
		t.Helper()
		var vs *unstructured.Unstructured
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			vs = getIstio(t, env, vsGVK, ns, "web")
			if got := routeNames(vs); got != names {
				return false, fmt.Sprintf("HTTP routes %s, want %s", got, names)
			}
			if check != nil {
				if msg := check(vs); msg != "" {
					return false, msg
				}
			}
			return true, ""
		})
		return vs
	}
	mirrorAt := func(w int64) func(*unstructured.Unstructured) string {
		return func(vs *unstructured.Unstructured) string {
			if got := fmt.Sprint(routeWeights(vs, "shadow")); got != fmt.Sprint([]int64{100 - w, w}) {
				return fmt.Sprintf("mirror route weights %s, want the primary's %d/%d", got, 100-w, w)
			}
			return ""
		}
	}

	bump(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 3)
	expectVS(t, env, ns, "app", 20)
	vs := expectRoutes("shadow,beta,admin,primary", mirrorAt(20))
	beta, shadow := httpRoutes(vs)[1], httpRoutes(vs)[0]
	if got := specJSONOf(t, beta); got != `{"match":[{"headers":{"x-beta":{"exact":"yes"}}}],"name":"beta",`+
		`"route":[{"destination":{"host":"app-canary","port":{"number":8080}},"weight":100}]}` {
		t.Fatalf("header route %s", got)
	}
	if got := specJSONOf(t, map[string]any{"match": shadow["match"], "mirror": shadow["mirror"], "mirrorPercentage": shadow["mirrorPercentage"]}); got !=
		`{"match":[{"method":{"exact":"GET"},"uri":{"prefix":"/api"}}],"mirror":{"host":"app-canary","port":{"number":8080}},"mirrorPercentage":{"value":35}}` {
		t.Fatalf("mirror route %s", got)
	}
	t.Logf("VirtualService at the pause after setHeaderRoute and setMirrorRoute:\n%s", specJSON(t, vs))

	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 5)
	expectVS(t, env, ns, "app", 50)
	expectRoutes("shadow,beta,admin,primary", mirrorAt(50))

	// Completion removes them: the VirtualService is as it was.
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 6)
	if got := specJSON(t, expectRoutes("admin,primary", nil)); got != original {
		t.Fatalf("after completion the VirtualService is not as it was:\n got %s\nwant %s", got, original)
	}

	// So does an abort.
	bump(t, env, ro, "app:3")
	expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 3)
	expectRoutes("shadow,beta,admin,primary", mirrorAt(20))
	abort(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
	if got := specJSON(t, expectRoutes("admin,primary", nil)); got != original {
		t.Fatalf("after abort the VirtualService is not as it was:\n got %s\nwant %s", got, original)
	}
	list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=app,reason=ManagedRoutesUpdated"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range list.Items {
		msgs = append(msgs, e.Message)
	}
	if all := strings.Join(msgs, "\n"); !strings.Contains(all, "now carries managed routes [shadow beta]") || !strings.Contains(all, "now carries no managed route") {
		t.Fatalf("ManagedRoutesUpdated Events:\n%s", all)
	}
}

func logDegraded(t *testing.T, env *testenv.Env, ns string) {
	c := condition(getRollout(t, env, ns, "app"), v1alpha1.RolloutProgressing)
	t.Logf("Degraded %s: %s", c.Reason, c.Message)
}

func specJSONOf(t *testing.T, v map[string]any) string {
	return specJSON(t, &unstructured.Unstructured{Object: map[string]any{"spec": v}})
}
