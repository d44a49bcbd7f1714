package smi

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

// cluster is a fake API server serving TrafficSplit in versions.
func cluster(t *testing.T, versions ...string) client.Client {
	t.Helper()
	served.Forget() // each test has its own cluster
	var kinds []schema.GroupVersionKind
	for _, v := range versions {
		kinds = append(kinds, schema.GroupVersionKind{Group: Group, Version: v, Kind: "TrafficSplit"})
	}
	return routertest.Cluster(kinds...)
}

func rollout(smi string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "shop", UID: "uid-shop"}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{StableService: "shop-stable", CanaryService: "shop-canary",
		TrafficRouting: &v1alpha1.TrafficRouting{SMI: &runtime.RawExtension{Raw: []byte(smi)}}}
	return ro
}

func newRouter(t *testing.T, c client.Client, smi string) *Router {
	t.Helper()
	r, err := New(router.Config{Reader: c, Writer: c, Rollout: rollout(smi), Stable: "shop-stable", Canary: "shop-canary", MaxWeight: 100})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func getSplit(t *testing.T, c client.Client, version, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: Group, Version: version, Kind: "TrafficSplit"})
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "apps", Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDefaults(t *testing.T) {
	r := newRouter(t, nil, `{}`)
	if r.Name != "shop" || r.Root != "shop-stable" {
		t.Fatalf("trafficSplitName defaults to %q, rootService to %q; want the Rollout's name and the stableService", r.Name, r.Root)
	}
	r = newRouter(t, nil, `{"rootService":"shop","trafficSplitName":"split"}`)
	if r.Name != "split" || r.Root != "shop" {
		t.Fatalf("got name %q root %q", r.Name, r.Root)
	}
}

func TestCreatesOwnedSplitAndRewritesIt(t *testing.T) {
	ctx := context.Background()
	c := cluster(t, "v1alpha1", "v1alpha2")
	r := newRouter(t, c, `{"rootService":"shop"}`)
	if w, err := r.Weight(ctx); err != nil || w != -1 {
		t.Fatalf("missing TrafficSplit: weight %d, %v; want -1 so that SetWeight creates it", w, err)
	}
	if wrote, err := r.SetWeight(ctx, 20); err != nil || !wrote {
		t.Fatalf("create: %v, %v", wrote, err)
	}
	u := getSplit(t, c, "v1alpha2", "shop") // the newest served version is written
	if ref := metav1.GetControllerOf(u); ref == nil || ref.UID != "uid-shop" || ref.Kind != "Rollout" {
		t.Fatalf("created TrafficSplit is not controlled by the Rollout: %+v", u.GetOwnerReferences())
	}
	got, _, _ := unstructured.NestedMap(u.Object, "spec")
	if specWeight(got, "shop", "shop-stable", "shop-canary", 100) != 20 {
		t.Fatalf("created spec %v", got)
	}
	if w, err := r.Weight(ctx); err != nil || w != 20 {
		t.Fatalf("weight %d, %v; want 20", w, err)
	}
	if wrote, err := r.SetWeight(ctx, 20); err != nil || wrote {
		t.Fatalf("same weight again wrote %v, %v", wrote, err)
	}

	// Someone puts the weights back and adds a backend: read as -1, rewritten whole.
	_ = unstructured.SetNestedField(u.Object, spec(t, `{"service":"shop","backends":[{"service":"shop-canary","weight":0},{"service":"shop-stable","weight":100},{"service":"x","weight":5}]}`), "spec")
	if err := c.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	if w, _ := r.Weight(ctx); w != -1 {
		t.Fatalf("hand-edited split read as %d, want -1", w)
	}
	if wrote, err := r.SetWeight(ctx, 50); err != nil || !wrote {
		t.Fatalf("rewrite: %v, %v", wrote, err)
	}
	if w, _ := r.Weight(ctx); w != 50 {
		t.Fatalf("after rewrite %d, want 50", w)
	}
}

func TestRefusesSplitItDoesNotControl(t *testing.T) {
	ctx := context.Background()
	c := cluster(t, "v1alpha3")
	foreign := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"service": "shop", "backends": []any{}}}}
	foreign.SetGroupVersionKind(schema.GroupVersionKind{Group: Group, Version: "v1alpha3", Kind: "TrafficSplit"})
	foreign.SetNamespace("apps")
	foreign.SetName("shop")
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	r := newRouter(t, c, `{}`)
	for _, op := range []func() error{
		func() error { _, err := r.Weight(ctx); return err },
		func() error { _, err := r.SetWeight(ctx, 20); return err },
	} {
		var re *router.Error
		if err := op(); !errors.As(err, &re) || re.Reason != router.ReasonRouteUnusable ||
			!strings.Contains(re.Message, `SMI TrafficSplit "shop" in namespace "apps" exists but is not controlled by Rollout "shop" (it has no controller)`) {
			t.Fatalf("got %v", err)
		}
	}
	if got := getSplit(t, c, "v1alpha3", "shop"); len(got.Object["spec"].(map[string]any)["backends"].([]any)) != 0 {
		t.Fatal("a TrafficSplit the Rollout does not control was written")
	}
}

func TestVersionNotServed(t *testing.T) {
	for _, tc := range []struct {
		versions []string
		says     string
	}{
		{nil, "the SMI TrafficSplit (split.smi-spec.io v1alpha3, v1alpha2 or v1alpha1) is not installed in this cluster"},
		{[]string{"v1alpha4"}, "serves the SMI TrafficSplit (split.smi-spec.io) only in version v1alpha4"},
	} {
		r := newRouter(t, cluster(t, tc.versions...), `{}`)
		var re *router.Error
		if _, err := r.Weight(context.Background()); !errors.As(err, &re) || re.Reason != router.ReasonRouterNotInstall || !strings.Contains(re.Message, tc.says) {
			t.Fatalf("versions %v: got %v, want %q", tc.versions, err, tc.says)
		}
	}
}
