package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

var traefikServiceGVK = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"}

func traefikRollout(ns, name, traefikService string) *v1alpha1.Rollout {
	ro := templateRollout(ns, name, name+":1", 5, seedSteps())
	c := ro.Spec.Strategy.Canary
	c.StableService, c.CanaryService = name+"-stable", name+"-canary"
	c.ScaleDownDelaySeconds, c.AbortScaleDownDelaySeconds = ptr(int32(2)), ptr(int32(2))
	c.TrafficRouting = &v1alpha1.TrafficRouting{Traefik: &runtime.RawExtension{Raw: []byte(
		fmt.Sprintf(`{"weightedTraefikServiceName":%q}`, traefikService))}}
	return ro
}

// weightedService is a TraefikService whose spec.weighted.services is the
// JSON list services.
func weightedService(t *testing.T, ns, name, services string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(`{"spec":{"weighted":{"services":`+services+`}}}`), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetGroupVersionKind(traefikServiceGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func getTraefikService(t *testing.T, env *testenv.Env, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(traefikServiceGVK)
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// expectWeighted waits until the TraefikService's services are exactly
// want (JSON) and the Rollout's status carries canary weight w.
func expectWeighted(t *testing.T, env *testenv.Env, ns, name, rollout string, w int32, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		svcs, _, _ := unstructured.NestedSlice(getTraefikService(t, env, ns, name).Object, "spec", "weighted", "services")
		b, _ := json.Marshal(svcs)
		ws := getRollout(t, env, ns, rollout).Status.Canary.Weights
		return string(b) == want && ws != nil && ws.Canary.Weight == w,
			fmt.Sprintf("TraefikService services %s, status weights %+v; want %s at canary weight %d", b, ws, want, w)
	})
}

// The app's services as the TraefikService lists them, with their weights
// (stable first, as users write them), and a third entry Sluice leaves alone.
func appServices(stable, canary int) string {
	return fmt.Sprintf(`[{"name":"app-stable","port":8080,"weight":%d},{"name":"app-canary","port":8080,"weight":%d},`+
		`{"kind":"TraefikService","name":"maintenance","weight":0}]`, stable, canary)
}

// A canary split by a weighted TraefikService (what a Traefik IngressRoute
// points at): the stable and canary entries' weights follow the steps.
// Without Traefik's CRD, without the TraefikService, or with one that does
// not list both Services, the Rollout says so and touches nothing.
func TestTraefikCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	const crdName = "traefikservices.traefik.io"
	removeCRD(t, env, crdName)

	t.Run("Traefik not installed", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), traefikRollout(ns, "app", "app"))
		expectDegraded(t, env, ns, "app", "TrafficRouterNotInstalled",
			"Traefik's TraefikService (traefik.io/v1alpha1, or traefik.containo.us/v1alpha1 before Traefik v3) is not installed in this cluster, but spec.strategy.canary.trafficRouting.traefik names one")
		logCondition(t, env, ns, "app")
	})

	t.Run("TraefikService missing, then without the canary, then right", func(t *testing.T) {
		installCRD(t, env, "traefik/traefik.io_traefikservices.yaml")
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), traefikRollout(ns, "app", "app"))
		expectDegraded(t, env, ns, "app", "TrafficRouteNotFound",
			`TraefikService "app" (traefik.io/v1alpha1) named by spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName was not found in namespace "`+ns+`"; create it with spec.weighted.services listing the stable Service "app-stable" and the canary Service "app-canary"`)
		logCondition(t, env, ns, "app")

		c := newCLI(t, env, ns)
		out, code := c.run("doctor", "--no-metrics")
		if code != 1 || !strings.Contains(out, `TraefikService "app" (traefik.io/v1alpha1) named by spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName was not found`) {
			t.Fatalf("doctor with the TraefikService missing: exit %d\n%s", code, out)
		}
		t.Logf("$ kubectl sluice doctor --no-metrics\n%s", out)

		ts := weightedService(t, ns, "app", `[{"name":"app-stable","port":8080}]`)
		create(t, env, ts)
		expectDegraded(t, env, ns, "app", "TrafficRouteUnusable",
			`TraefikService "app" in namespace "`+ns+`" named by spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName cannot carry the split: spec.weighted.services does not list the canary Service "app-canary"`)
		logCondition(t, env, ns, "app")
		if b, _ := json.Marshal(getTraefikService(t, env, ns, "app").Object["spec"]); string(b) != `{"weighted":{"services":[{"name":"app-stable","port":8080}]}}` {
			t.Fatalf("an unusable TraefikService was touched: %s", b)
		}

		ts = getTraefikService(t, env, ns, "app")
		_ = unstructured.SetNestedSlice(ts.Object, []any{map[string]any{"name": "app-stable", "port": int64(8080)},
			map[string]any{"name": "app-canary", "port": int64(8080)}}, "spec", "weighted", "services")
		if err := env.Client.Update(ctx, ts); err != nil {
			t.Fatal(err)
		}
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		// Unweighted entries are 1:1 to Traefik: Sluice writes 100/0 at once.
		expectWeighted(t, env, ns, "app", "app", 0, `[{"name":"app-stable","port":8080,"weight":100},{"name":"app-canary","port":8080,"weight":0}]`)
		if out, code := c.run("doctor", "--no-metrics"); code != 0 || !strings.Contains(out, "✔ rollout "+ns+"/app") {
			t.Fatalf("doctor with the TraefikService in place: exit %d\n%s", code, out)
		}
	})

	t.Run("steps, reset, abort, promote --full", func(t *testing.T) {
		installCRD(t, env, "traefik/traefik.io_traefikservices.yaml")
		ns := env.Namespace(t)
		ro := traefikRollout(ns, "app", "app-weighted")
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"),
			weightedService(t, ns, "app-weighted", appServices(100, 0)), ro)
		v1 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
		expectWeighted(t, env, ns, "app-weighted", "app", 0, appServices(100, 0))

		bump(t, env, ro, "app:2")
		v2 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
		expectWeighted(t, env, ns, "app-weighted", "app", 20, appServices(80, 20))
		logYAML(t, "TraefikService at step 1 (setWeight 20)", getTraefikService(t, env, ns, "app-weighted"))
		if out, code := newCLI(t, env, ns).run("get", "rollout", "app"); code == 0 {
			t.Logf("$ kubectl sluice get rollout app\n%s", out)
		}
		if s, c := selectedHash(t, env, ns, "app-stable"), selectedHash(t, env, ns, "app-canary"); s != v1 || c != v2 {
			t.Fatalf("stable Service selects %q (want %s), canary Service %q (want %s)", s, v1, c, v2)
		}

		// Someone (say, a GitOps sync of the manifest) puts the weights back
		// while the Rollout is paused: they are rewritten.
		ts := getTraefikService(t, env, ns, "app-weighted")
		var reset []any
		_ = json.Unmarshal([]byte(appServices(100, 0)), &reset)
		_ = unstructured.SetNestedSlice(ts.Object, reset, "spec", "weighted", "services")
		if err := env.Client.Update(ctx, ts); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		expectWeighted(t, env, ns, "app-weighted", "app", 20, appServices(80, 20))
		t.Logf("TraefikService reset to 100/0 was rewritten to 80/20 after %s", time.Since(start).Round(time.Second))

		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 3)
		expectWeighted(t, env, ns, "app-weighted", "app", 50, appServices(50, 50))

		abort(t, env, ns, "app")
		expectWeighted(t, env, ns, "app-weighted", "app", 0, appServices(100, 0))
		expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)

		bump(t, env, ro, "app:3")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
		expectWeighted(t, env, ns, "app-weighted", "app", 20, appServices(80, 20))
		promoteFull(t, env, ns, "app")
		v3 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
		expectWeighted(t, env, ns, "app-weighted", "app", 0, appServices(100, 0))
		if s := selectedHash(t, env, ns, "app-stable"); s != v3 || v3 == v1 || v3 == v2 {
			t.Fatalf("after promote --full the stable Service selects %q, want the third version %s", s, v3)
		}
		expectWeightCounts(t, env, ns, "app", map[string]int{"0%": 2, "20%": 3, "50%": 1, "100%": 1})
	})
}
