package istio

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct{ raw, err string }{
		{`{"virtualService":{"name":"web"}}`, ""},
		{`{"virtualService":{"name":"web.other","routes":["a","b"],"tlsRoutes":[{"port":443,"sniHosts":["x"]}],"tcpRoutes":[{"port":5432}]}}`, ""},
		{`{"virtualServices":[{"name":"a"},{"name":"b"}],"destinationRule":{"name":"d","canarySubsetName":"c","stableSubsetName":"s","additionalSubsetNames":["p"]}}`, ""},
		{`{}`, "name the VirtualService"},
		{`{"virtualServices":[]}`, "name the VirtualService"},
		{`{"virtualService":{"name":"a"},"virtualServices":[{"name":"b"}]}`, "not both"},
		{`{"virtualService":{"name":""}}`, "virtualService.name is empty"},
		{`{"virtualServices":[{"name":"a"},{"name":".cluster.local"}]}`, "virtualServices[1].name is empty"},
		{`{"virtualService":{"name":"web","routes":["a",""]}}`, "virtualService.routes[1] is empty"},
		{`{"virtualService":{"name":"web","routes":["a","a"]}}`, `"a" is listed twice`},
		{`{"virtualService":{"name":"web","tcpRoutes":[{"port":70000}]}}`, "tcpRoutes[0].port 70000 is not a port"},
		{`{"virtualService":{"name":"web","httpRoutes":["a"]}}`, `unknown field "httpRoutes"`},
		{`{"virtualService":{"name":"web"},"destinationRule":{"name":"d","canarySubsetName":"c"}}`, "needs canarySubsetName and stableSubsetName"},
		{`{"virtualService":{"name":"web"},"destinationRule":{"name":"d","canarySubsetName":"c","stableSubsetName":"c"}}`, `are both "c"`},
		{`{"virtualService":{"name":"web"},"destinationRule":{"name":"d","canarySubsetName":"c","stableSubsetName":"s","additionalSubsetNames":["s"]}}`, "lists the canary or stable subset"},
		{`"web"`, "cannot be read"},
	} {
		_, err := ParseConfig([]byte(tc.raw))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.raw, err, tc.err)
		}
	}
}

func TestSplitName(t *testing.T) {
	for ref, want := range map[string][2]string{
		"web": {"", "web"}, "web.apps": {"apps", "web"}, "web.v2.apps": {"apps", "web.v2"}, "web.apps.cluster.local": {"apps", "web"},
	} {
		if ns, name := splitName(ref); ns != want[0] || name != want[1] {
			t.Errorf("%q: %q/%q, want %q/%q", ref, ns, name, want[0], want[1])
		}
	}
}

func rollout(istio string, managed ...string) router.Config {
	ro := &v1alpha1.Rollout{}
	ro.Namespace, ro.Name = "apps", "web"
	tr := &v1alpha1.TrafficRouting{Istio: &runtime.RawExtension{Raw: []byte(istio)}}
	for _, m := range managed {
		tr.ManagedRoutes = append(tr.ManagedRoutes, v1alpha1.ManagedRoute{Name: m})
	}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{StableService: "web-stable", CanaryService: "web-canary", TrafficRouting: tr}
	return router.Config{Rollout: ro, Stable: "web-stable", Canary: "web-canary", MaxWeight: 100, Managed: managed}
}

func TestNewRefuses(t *testing.T) {
	cfg := rollout(`{"virtualService":{"name":"web"}}`)
	cfg.MaxWeight = 1000
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "maxTrafficWeight 1000") {
		t.Errorf("maxTrafficWeight: %v", err)
	}
	cfg = rollout(`{"virtualService":{"name":"web"}}`)
	cfg.Canary = ""
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "host-level routing needs spec.strategy.canary.stableService and canaryService") {
		t.Errorf("host-level without canaryService: %v", err)
	}
	cfg = rollout(`{"virtualService":{"name":"web"},"destinationRule":{"name":"web","canarySubsetName":"c","stableSubsetName":"s"}}`)
	cfg.Canary, cfg.Stable = "", ""
	if _, err := New(cfg); err != nil {
		t.Errorf("subset-level without Services: %v", err)
	}
	if _, err := New(rollout(`{"virtualService":{"name":"web","routes":["primary","beta"]}}`, "beta")); err == nil ||
		!strings.Contains(err.Error(), `route "beta" is both in virtualService.routes and in managedRoutes`) {
		t.Errorf("managed route that is also a primary route: %v", err)
	}
}

// The router against an API that keeps what it is sent (a fake client).
func TestRouterReadsAndWritesThroughTheAPI(t *testing.T) {
	vs, dr := obj(t, webVS), obj(t, webDR)
	c := fake.NewClientBuilder().WithObjects(vs, dr).Build()
	cfg := rollout(`{"virtualService":{"name":"web","routes":["primary"]},"destinationRule":{"name":"web","canarySubsetName":"canary","stableSubsetName":"stable"}}`)
	cfg.Reader, cfg.Writer = c, c
	// Subset-level needs the subsets in the route: use a host-level router
	// for the VirtualService and the subset one for the DestinationRule.
	host := rollout(`{"virtualService":{"name":"web","routes":["primary"]}}`, "beta")
	host.Reader, host.Writer = c, c
	r, err := New(host)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d := r.Describe(); d != `Istio VirtualService "web"` {
		t.Errorf("Describe %q", d)
	}
	if wrote, err := r.SetWeight(ctx, 30); !wrote || err != nil {
		t.Fatalf("SetWeight: %v, %v", wrote, err)
	}
	if w, err := r.Weight(ctx); w != 30 || err != nil {
		t.Fatalf("Weight after SetWeight 30: %d, %v", w, err)
	}
	if wrote, _ := r.SetWeight(ctx, 30); wrote {
		t.Fatal("SetWeight 30 again wrote")
	}
	if wrote, err := r.SetManagedRoutes(ctx, []router.ManagedRoute{header}); !wrote || err != nil {
		t.Fatalf("SetManagedRoutes: %v, %v", wrote, err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(VirtualServiceGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "web"}, got); err != nil {
		t.Fatal(err)
	}
	if n := strings.Join(httpNames(got), ","); n != "beta,admin,primary" {
		t.Fatalf("stored routes %s", n)
	}
	if wrote, err := r.SetManagedRoutes(ctx, nil); !wrote || err != nil {
		t.Fatalf("SetManagedRoutes(nil): %v, %v", wrote, err)
	}
	if wrote, err := r.PinHashes(ctx, "a", "b"); wrote || err != nil {
		t.Fatalf("host-level PinHashes: %v, %v; want nothing to do", wrote, err)
	}

	sub, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if wrote, err := sub.PinHashes(ctx, "abc", "def"); !wrote || err != nil {
		t.Fatalf("PinHashes: %v, %v", wrote, err)
	}
	gotDR := &unstructured.Unstructured{}
	gotDR.SetGroupVersionKind(DestinationRuleGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "web"}, gotDR); err != nil {
		t.Fatal(err)
	}
	if h := subset(gotDR, "canary")["labels"].(map[string]any)[HashLabel]; h != "abc" {
		t.Fatalf("stored canary subset hash %v", h)
	}
	if _, err := sub.Weight(ctx); reason(err) != router.ReasonRouteUnusable ||
		!strings.Contains(err.Error(), `also sends traffic to host "web-stable.apps.svc.cluster.local", which is neither the stable nor the canary`) {
		t.Fatalf("subset-level Weight on a host-level route: %v", err)
	}

	missing := rollout(`{"virtualService":{"name":"gone"}}`)
	missing.Reader, missing.Writer = c, c
	m, _ := New(missing)
	if _, err := m.Weight(ctx); reason(err) != router.ReasonRouteNotFound ||
		!strings.Contains(err.Error(), `named by spec.strategy.canary.trafficRouting.istio.virtualService.name was not found in namespace "apps"`) {
		t.Fatalf("missing VirtualService: %v", err)
	}
}

func TestRouterWithoutIstio(t *testing.T) {
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gvk := obj.GetObjectKind().GroupVersionKind()
			return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
		}}).Build()
	cfg := rollout(`{"virtualService":{"name":"web"}}`)
	cfg.Reader, cfg.Writer = c, c
	r, _ := New(cfg)
	_, err := r.Weight(context.Background())
	if reason(err) != router.ReasonRouterNotInstall || !strings.Contains(err.Error(), "VirtualService (networking.istio.io/v1beta1) is not installed") {
		t.Fatalf("no Istio: %v", err)
	}
}

// Any config either fails with a message or names a VirtualService; on a
// route of any weights, set-then-read returns the weight set.
func FuzzParseConfigAndWeights(f *testing.F) {
	f.Add([]byte(`{"virtualService":{"name":"web"}}`), int32(20), int64(3), int64(1), int64(0))
	f.Add([]byte(`{"virtualServices":[{"name":"a.b"}]}`), int32(100), int64(0), int64(0), int64(40))
	f.Fuzz(func(t *testing.T, raw []byte, w int32, s, c, kept int64) {
		if cfg, err := ParseConfig(raw); err == nil {
			for _, vs := range cfg.virtualServices() {
				if _, name := splitName(vs.Name); name == "" {
					t.Fatalf("accepted a VirtualService without a name: %q", raw)
				}
			}
			if len(cfg.virtualServices()) == 0 {
				t.Fatalf("accepted a config without a VirtualService: %q", raw)
			}
		}
		vs := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"http": []any{map[string]any{
			"route": []any{
				map[string]any{"destination": map[string]any{"host": "web", "subset": "stable"}, "weight": s},
				map[string]any{"destination": map[string]any{"host": "web", "subset": "canary"}, "weight": c},
				map[string]any{"destination": map[string]any{"host": "web", "subset": "extra"}, "weight": kept},
			}}}}}}
		sp := &split{vs: "web", max: 100, dr: &DestinationRuleRef{CanarySubsetName: "canary", StableSubsetName: "stable", AdditionalSubsetNames: []string{"extra"}}}
		refs, err := sp.selectRoutes(vs, VirtualServiceRef{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := sp.weight(vs, refs); err != nil || got < -1 || got > 100 {
			t.Fatalf("weights %d/%d/%d read as %d, %v", s, c, kept, got, err)
		}
		w = ((w % 101) + 101) % 101
		if _, err := sp.setWeight(vs, refs, w, nil); err != nil {
			t.Fatal(err)
		}
		got, _ := sp.weight(vs, refs)
		if kept >= 0 && kept+int64(w) <= 100 && got != w {
			t.Fatalf("set %d (kept %d), read %d", w, kept, got)
		}
		if st := weightsOf(vs, "http", 0)[0]; st < 0 {
			t.Fatalf("stable weight %d", st)
		}
	})
}
