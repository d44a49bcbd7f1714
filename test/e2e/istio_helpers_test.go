package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/istio"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The kinds as the router reads and writes them.
var vsGVK, drGVK = istio.VirtualServiceGVK, istio.DestinationRuleGVK

// installIstioCRDs applies Istio's own VirtualService and DestinationRule
// CRDs (test data taken from istio.io/api, see the files' headers).
func installIstioCRDs(t *testing.T, env *testenv.Env) {
	t.Helper()
	dir := filepath.Join(env.Root, "test", "e2e", "testdata", "routers", "istio")
	if err := env.InstallCRDs(filepath.Join(dir, "virtualservices.yaml"), filepath.Join(dir, "destinationrules.yaml")); err != nil {
		t.Fatal(err)
	}
}

// hostVS has a route that only ever goes to the stable (it must be left
// alone) and the primary route that carries the split; the primary has
// fields Sluice does not know (withoutHeaders, retries), which must
// survive every write byte for byte (upstream's argoproj/argo-rollouts#2767).
func hostVS(ns, canaryHost string) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: %s}
spec:
  hosts: [app.example.com]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: app-stable}, weight: 100}]
  - name: primary
    match: [{withoutHeaders: {x-debug: {exact: "1"}}}]
    retries: {attempts: 3, perTryTimeout: 2s}
    route:
    - destination: {host: app-stable, port: {number: 8080}}
      weight: 100
    - destination: {host: %s, port: {number: 8080}}
      weight: 0
`, ns, canaryHost)
}

func istioRollout(ns, name, istio string, steps []v1alpha1.CanaryStep, managed ...string) *v1alpha1.Rollout {
	ro := templateRollout(ns, name, name+":1", 5, steps)
	c := ro.Spec.Strategy.Canary
	c.StableService, c.CanaryService = name+"-stable", name+"-canary"
	c.ScaleDownDelaySeconds, c.AbortScaleDownDelaySeconds = ptr(int32(2)), ptr(int32(2))
	c.TrafficRouting = &v1alpha1.TrafficRouting{Istio: &runtime.RawExtension{Raw: []byte(istio)}}
	for _, m := range managed {
		c.TrafficRouting.ManagedRoutes = append(c.TrafficRouting.ManagedRoutes, v1alpha1.ManagedRoute{Name: m})
	}
	return ro
}

func createYAML(t *testing.T, env *testenv.Env, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return u
}

func getIstio(t *testing.T, env *testenv.Env, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func httpRoutes(u *unstructured.Unstructured) []map[string]any {
	l, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	var out []map[string]any
	for _, r := range l {
		out = append(out, r.(map[string]any))
	}
	return out
}

func routeNames(u *unstructured.Unstructured) string {
	var names []string
	for _, r := range httpRoutes(u) {
		n, _ := r["name"].(string)
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// routeNamed returns the weights of the destinations of the HTTP route.
func routeWeights(u *unstructured.Unstructured, name string) []int64 {
	for _, r := range httpRoutes(u) {
		if r["name"] != name {
			continue
		}
		var out []int64
		for _, d := range r["route"].([]any) {
			w, _ := d.(map[string]any)["weight"].(int64)
			out = append(out, w)
		}
		return out
	}
	return nil
}

func specJSON(t *testing.T, u *unstructured.Unstructured) string {
	b, err := json.Marshal(u.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectVS waits until the primary route sends canary% to the canary, the
// admin route still sends everything to the stable, and the Rollout's
// status says so.
func expectVS(t *testing.T, env *testenv.Env, ns, name string, canary int64) *unstructured.Unstructured {
	t.Helper()
	var vs *unstructured.Unstructured
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		vs = getIstio(t, env, vsGVK, ns, "web")
		p, a := routeWeights(vs, "primary"), routeWeights(vs, "admin")
		w := getRollout(t, env, ns, name).Status.Canary.Weights
		ok := fmt.Sprint(p) == fmt.Sprint([]int64{100 - canary, canary}) && fmt.Sprint(a) == "[100]" &&
			w != nil && int64(w.Canary.Weight) == canary
		return ok, fmt.Sprintf("primary route weights %v, admin %v, status %+v; want canary %d", p, a, w, canary)
	})
	return vs
}

// subsetHashes are the hash labels of the DestinationRule's canary and
// stable subsets.
func subsetHashes(dr *unstructured.Unstructured) (canary, stable string) {
	l, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
	for _, s := range l {
		m := s.(map[string]any)
		h, _, _ := unstructured.NestedString(m, "labels", "rollouts-pod-template-hash")
		switch m["name"] {
		case "canary":
			canary = h
		case "stable":
			stable = h
		}
	}
	return canary, stable
}

// istioTimeline records every version of the VirtualService and the
// DestinationRule of a namespace, in the order the API server stored them.
type istioTimeline struct {
	mu     sync.Mutex
	events []timelineEvent
	stop   func()
}

type timelineEvent struct {
	rv   int64
	kind string
	obj  *unstructured.Unstructured
}

func watchIstio(t *testing.T, env *testenv.Env, ns string) *istioTimeline {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tl := &istioTimeline{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, res := range []string{"virtualservices", "destinationrules"} {
		w, err := dyn.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: res}).
			Namespace(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Stop()
			for {
				select {
				case <-done:
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					u, ok := ev.Object.(*unstructured.Unstructured)
					if !ok {
						continue
					}
					rv, _ := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
					tl.mu.Lock()
					tl.events = append(tl.events, timelineEvent{rv: rv, kind: u.GetKind(), obj: u})
					tl.mu.Unlock()
				}
			}
		}()
	}
	tl.stop = func() { close(done); wg.Wait() }
	return tl
}

// sorted returns the events in the order the API server stored them (a
// single etcd: resourceVersions of all kinds are one sequence).
func (tl *istioTimeline) sorted() []timelineEvent {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := append([]timelineEvent(nil), tl.events...)
	sort.Slice(out, func(i, j int) bool { return out[i].rv < out[j].rv })
	return out
}
