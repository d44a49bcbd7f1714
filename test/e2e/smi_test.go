package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

var trafficSplitV1alpha3 = schema.GroupVersionKind{Group: "split.smi-spec.io", Version: "v1alpha3", Kind: "TrafficSplit"}

func routerCRD(name string) string { return filepath.Join("testdata", "routers", name) }

// removeCRD deletes a CRD if present and waits until it is gone, so a test
// that needs a kind absent does not depend on what ran before it.
func removeCRD(t *testing.T, env *testenv.Env, name string) {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Delete(ctx, crd); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		err := env.Client.Get(ctx, types.NamespacedName{Name: name}, crd)
		return apierrors.IsNotFound(err), fmt.Sprintf("CRD %s still there (%v)", name, err)
	})
}

// installCRD installs a router CRD of testdata/routers (kept if there).
func installCRD(t *testing.T, env *testenv.Env, file string) {
	t.Helper()
	if err := env.InstallCRDs(routerCRD(file)); err != nil {
		t.Fatal(err)
	}
}

func smiRollout(ns, name, smi string) *v1alpha1.Rollout {
	ro := templateRollout(ns, name, name+":1", 5, seedSteps())
	c := ro.Spec.Strategy.Canary
	c.StableService, c.CanaryService = name+"-stable", name+"-canary"
	c.ScaleDownDelaySeconds, c.AbortScaleDownDelaySeconds = ptr(int32(2)), ptr(int32(2))
	c.TrafficRouting = &v1alpha1.TrafficRouting{SMI: &runtime.RawExtension{Raw: []byte(smi)}}
	return ro
}

func getTrafficSplit(t *testing.T, env *testenv.Env, ns, name string) (*unstructured.Unstructured, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(trafficSplitV1alpha3)
	err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, u)
	return u, err
}

// splitJSON is a TrafficSplit spec as Sluice writes it.
func splitJSON(root, stable, canary string, w int) string {
	return fmt.Sprintf(`{"backends":[{"service":%q,"weight":%d},{"service":%q,"weight":%d}],"service":%q}`, canary, w, stable, 100-w, root)
}

// expectTrafficSplit waits until the TrafficSplit, controlled by the
// Rollout, sends w% to the canary Service, and the Rollout's status says so.
func expectTrafficSplit(t *testing.T, env *testenv.Env, ns, split, rollout, root string, w int) {
	t.Helper()
	want := splitJSON(root, rollout+"-stable", rollout+"-canary", w)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		u, err := getTrafficSplit(t, env, ns, split)
		if err != nil {
			return false, err.Error()
		}
		b, _ := json.Marshal(u.Object["spec"])
		ro := getRollout(t, env, ns, rollout)
		ref := metav1.GetControllerOf(u)
		ws := ro.Status.Canary.Weights
		ok := string(b) == want && ref != nil && ref.UID == ro.UID && ws != nil && ws.Canary.Weight == int32(w)
		return ok, fmt.Sprintf("TrafficSplit spec %s controller %+v, status weights %+v; want %s controlled by the Rollout", b, ref, ws, want)
	})
}

// A canary split by an SMI TrafficSplit (the mesh's): Sluice creates the
// TrafficSplit, owned by the Rollout, and its backends follow the steps.
// Without the CRD, with only v1alpha4 served, or with someone else's
// TrafficSplit of that name, the Rollout says so and touches nothing.
func TestSMICanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	const crdName = "trafficsplits.split.smi-spec.io"
	removeCRD(t, env, crdName)

	t.Run("SMI not installed, then only v1alpha4, then v1alpha3", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), smiRollout(ns, "app", `{}`))
		expectDegraded(t, env, ns, "app", "TrafficRouterNotInstalled",
			"the SMI TrafficSplit (split.smi-spec.io v1alpha3, v1alpha2 or v1alpha1) is not installed in this cluster, but spec.strategy.canary.trafficRouting.smi names it")
		logCondition(t, env, ns, "app")

		installCRD(t, env, "smi/split-v1alpha4.yaml")
		expectDegraded(t, env, ns, "app", "TrafficRouterNotInstalled",
			"this cluster serves the SMI TrafficSplit (split.smi-spec.io) only in version v1alpha4")
		logCondition(t, env, ns, "app")

		removeCRD(t, env, crdName)
		installCRD(t, env, "smi/split-v1alpha3.yaml")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		expectTrafficSplit(t, env, ns, "app", "app", "app-stable", 0) // the defaults: the Rollout's name, the stableService as root
	})

	t.Run("someone else's TrafficSplit is not taken over", func(t *testing.T) {
		installCRD(t, env, "smi/split-v1alpha3.yaml")
		ns := env.Namespace(t)
		theirs := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(`{"spec":`+splitJSON("web", "web-v1", "web-v2", 10)+`}`), &theirs.Object); err != nil {
			t.Fatal(err)
		}
		theirs.SetGroupVersionKind(trafficSplitV1alpha3)
		theirs.SetNamespace(ns)
		theirs.SetName("web")
		create(t, env, theirs, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"),
			smiRollout(ns, "app", `{"trafficSplitName":"web","rootService":"web"}`))
		expectDegraded(t, env, ns, "app", "TrafficRouteUnusable",
			`SMI TrafficSplit "web" in namespace "`+ns+`" exists but is not controlled by Rollout "app" (it has no controller)`)
		logCondition(t, env, ns, "app")
		u, err := getTrafficSplit(t, env, ns, "web")
		if b, _ := json.Marshal(u.Object["spec"]); err != nil || string(b) != splitJSON("web", "web-v1", "web-v2", 10) {
			t.Fatalf("someone else's TrafficSplit was touched: %s, %v", b, err)
		}
		if err := env.Client.Delete(ctx, u); err != nil {
			t.Fatal(err)
		}
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		expectTrafficSplit(t, env, ns, "web", "app", "web", 0)
	})

	t.Run("steps, reset, abort, promote --full", func(t *testing.T) {
		installCRD(t, env, "smi/split-v1alpha3.yaml")
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"))
		ro := smiRollout(ns, "app", `{"rootService":"app"}`)
		create(t, env, ro)
		v1 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
		expectTrafficSplit(t, env, ns, "app", "app", "app", 0)

		bump(t, env, ro, "app:2")
		v2 := expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1).Status.CurrentPodHash
		expectTrafficSplit(t, env, ns, "app", "app", "app", 20)
		if u, err := getTrafficSplit(t, env, ns, "app"); err == nil {
			logYAML(t, "TrafficSplit at step 1 (setWeight 20)", u)
		}
		if s, c := selectedHash(t, env, ns, "app-stable"), selectedHash(t, env, ns, "app-canary"); s != v1 || c != v2 {
			t.Fatalf("stable Service selects %q (want %s), canary Service %q (want %s)", s, v1, c, v2)
		}

		// Someone puts the split back to all-stable while the Rollout is
		// paused: it is rewritten without any other change to bring it back.
		u, err := getTrafficSplit(t, env, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		var reset map[string]any
		_ = json.Unmarshal([]byte(splitJSON("app", "app-stable", "app-canary", 0)), &reset)
		u.Object["spec"] = reset
		if err := env.Client.Update(ctx, u); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		expectTrafficSplit(t, env, ns, "app", "app", "app", 20)
		t.Logf("TrafficSplit reset to 0%% was rewritten to 20%% after %s", time.Since(start).Round(time.Second))

		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 3)
		expectTrafficSplit(t, env, ns, "app", "app", "app", 50)

		// Abort: traffic leaves the canary at once.
		abort(t, env, ns, "app")
		expectTrafficSplit(t, env, ns, "app", "app", "app", 0)
		expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)

		// A new version, fully promoted from its first step: 100% to it,
		// then it is the stable and the split goes back to all-stable.
		bump(t, env, ro, "app:3")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
		expectTrafficSplit(t, env, ns, "app", "app", "app", 20)
		promoteFull(t, env, ns, "app")
		v3 := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
		expectTrafficSplit(t, env, ns, "app", "app", "app", 0)
		if s := selectedHash(t, env, ns, "app-stable"); s != v3 || v3 == v1 || v3 == v2 {
			t.Fatalf("after promote --full the stable Service selects %q, want the third version %s", s, v3)
		}
		// 20% three times: step 0, the reset put right, step 0 of the third version.
		expectWeightCounts(t, env, ns, "app", map[string]int{"0%": 3, "20%": 3, "50%": 1, "100%": 1})
	})
}

// logYAML logs an object's metadata.ownerReferences and spec as kubectl
// would print them, for the docs.
func logYAML(t *testing.T, title string, u *unstructured.Unstructured) {
	t.Helper()
	show := map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": map[string]any{
		"name": u.GetName(), "ownerReferences": u.Object["metadata"].(map[string]any)["ownerReferences"]}, "spec": u.Object["spec"]}
	if u.GetOwnerReferences() == nil {
		delete(show["metadata"].(map[string]any), "ownerReferences")
	}
	b, _ := yaml.Marshal(show)
	t.Logf("%s:\n%s", title, b)
}

// expectWeightCounts checks the TrafficWeightUpdated Events: at least the
// given number of changes to each canary share (Events of one message may
// be folded into one, so their order is not checked).
func expectWeightCounts(t *testing.T, env *testenv.Env, ns, name string, want map[string]int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=TrafficWeightUpdated"})
		if err != nil {
			return false, err.Error()
		}
		got := map[string]int{}
		for _, e := range list.Items {
			n := max(int(e.Count), 1)
			if e.Series != nil {
				n = max(n, int(e.Series.Count))
			}
			if i := strings.Index(e.Message, " now sends "); i >= 0 {
				got[strings.Fields(e.Message[i+len(" now sends "):])[0]] += n
			}
		}
		for share, n := range want {
			if got[share] < n {
				return false, fmt.Sprintf("weight Events by canary share %v, want at least %v", got, want)
			}
		}
		return true, ""
	})
}

// Two routers at once, as upstream allows (a mesh inside, a gateway at the
// edge): the SMI TrafficSplit and the Gateway API HTTPRoute carry the same
// weight at every step.
func TestSMIWithGatewayAPI(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	installCRD(t, env, "smi/split-v1alpha3.yaml")
	crd, err := env.GatewayAPICRD("httproutes")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InstallCRDs(crd); err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	ro := smiRollout(ns, "app", `{}`)
	ro.Spec.Strategy.Canary.TrafficRouting.Plugins = routedRollout(ns, "app", "web").Spec.Strategy.Canary.TrafficRouting.Plugins
	create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), httpRoute(ns, "web", "app-stable", "app-canary"), ro)

	both := func(w int) {
		t.Helper()
		expectTrafficSplit(t, env, ns, "app", "app", "app-stable", w)
		expectSplit(t, env, ns, "app", int32(w))
	}
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	both(0)
	bump(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
	both(20)
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 3)
	both(50)
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	both(0)
	list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=app,reason=TrafficWeightUpdated"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if !strings.Contains(e.Message, `HTTPRoute "web" in namespace "`+ns+`" and SMI TrafficSplit "app" in namespace "`+ns+`" now sends`) {
			t.Fatalf("a weight Event does not name both routers: %s", e.Message)
		}
	}
}
