package traefik

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
	"github.com/sluice-dev/sluice/internal/router/routertest"
)

func cluster(t *testing.T, gvs ...schema.GroupVersion) client.Client {
	t.Helper()
	served.Forget() // each test has its own cluster
	var kinds []schema.GroupVersionKind
	for _, gv := range gvs {
		kinds = append(kinds, gv.WithKind("TraefikService"))
	}
	return routertest.Cluster(kinds...)
}

func newRouter(t *testing.T, c client.Client) *Router {
	t.Helper()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "shop"}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{TrafficRouting: &v1alpha1.TrafficRouting{
		Traefik: &runtime.RawExtension{Raw: []byte(`{"weightedTraefikServiceName":"shop"}`)}}}
	r, err := New(router.Config{Reader: c, Writer: c, Rollout: ro, Stable: "shop-stable", Canary: "shop-canary", MaxWeight: 100})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func traefikService(gv schema.GroupVersion, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(gv.WithKind("TraefikService"))
	u.SetNamespace("apps")
	u.SetName("shop")
	return u
}

func wantError(t *testing.T, err error, reason, says string) {
	t.Helper()
	var re *router.Error
	if !errors.As(err, &re) || re.Reason != reason || !strings.Contains(re.Message, says) {
		t.Fatalf("got %v; want %s saying %q", err, reason, says)
	}
}

func TestTraefikService(t *testing.T) {
	ctx := context.Background()
	v2 := GroupVersions[1]
	c := cluster(t, v2) // Traefik v2 before 2.10: only traefik.containo.us
	r := newRouter(t, c)
	_, err := r.Weight(ctx)
	wantError(t, err, router.ReasonRouteNotFound, `TraefikService "shop" (traefik.containo.us/v1alpha1) named by spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName was not found in namespace "apps"`)

	ts := traefikService(v2, map[string]any{"mirroring": map[string]any{"name": "shop-stable"}})
	if err := c.Create(ctx, ts); err != nil {
		t.Fatal(err)
	}
	_, err = r.Weight(ctx)
	wantError(t, err, router.ReasonRouteUnusable, `TraefikService "shop" in namespace "apps" has no spec.weighted.services`)

	ts.Object["spec"] = map[string]any{"weighted": map[string]any{"services": []any{map[string]any{"name": "shop-stable", "port": int64(80)}}}}
	if err := c.Update(ctx, ts); err != nil {
		t.Fatal(err)
	}
	_, err = r.SetWeight(ctx, 20)
	wantError(t, err, router.ReasonRouteUnusable, `spec.weighted.services does not list the canary Service "shop-canary"`)

	ts.Object["spec"] = map[string]any{"weighted": map[string]any{"services": []any{
		map[string]any{"name": "shop-stable", "port": int64(80)}, map[string]any{"name": "shop-canary", "port": int64(80)}}}}
	if err := c.Update(ctx, ts); err != nil {
		t.Fatal(err)
	}
	if w, err := r.Weight(ctx); err != nil || w != 50 {
		t.Fatalf("unset weights: %d, %v; want 50 (Traefik counts each as 1)", w, err)
	}
	if wrote, err := r.SetWeight(ctx, 20); err != nil || !wrote {
		t.Fatalf("set 20: %v, %v", wrote, err)
	}
	if wrote, err := r.SetWeight(ctx, 20); err != nil || wrote {
		t.Fatalf("set 20 again wrote %v, %v", wrote, err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(v2.WithKind("TraefikService"))
	if err := c.Get(ctx, types.NamespacedName{Namespace: "apps", Name: "shop"}, got); err != nil {
		t.Fatal(err)
	}
	svcs, _, _ := unstructured.NestedSlice(got.Object, "spec", "weighted", "services")
	if w, _ := servicesWeight(svcs, "apps", "shop-stable", "shop-canary", 100); w != 20 || svcs[0].(map[string]any)["port"] != int64(80) {
		t.Fatalf("stored services %v", svcs)
	}
}

func TestTraefikNotInstalled(t *testing.T) {
	r := newRouter(t, cluster(t))
	_, err := r.Weight(context.Background())
	wantError(t, err, router.ReasonRouterNotInstall, "Traefik's TraefikService (traefik.io/v1alpha1, or traefik.containo.us/v1alpha1 before Traefik v3) is not installed")
}
