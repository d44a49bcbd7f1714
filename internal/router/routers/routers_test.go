package routers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

// memRouter is a router whose object is a number in memory.
type memRouter struct {
	name   string
	weight int32
	writes int
}

func (m *memRouter) Weight(context.Context) (int32, error) { return m.weight, nil }
func (m *memRouter) SetWeight(_ context.Context, w int32) (bool, error) {
	if m.weight == w {
		return false, nil
	}
	m.weight, m.writes = w, m.writes+1
	return true, nil
}
func (m *memRouter) Describe() string { return m.name }

// headerRouter also carries managed routes.
type headerRouter struct {
	memRouter
	routes []router.ManagedRoute
}

func (h *headerRouter) CanCarry(router.ManagedRoute) error { return nil }
func (h *headerRouter) SetManagedRoutes(_ context.Context, rs []router.ManagedRoute) (bool, error) {
	h.routes = rs
	return true, nil
}

func TestMultiCarriesOneWeightOnAll(t *testing.T) {
	ctx := context.Background()
	a, b := &memRouter{name: "A"}, &headerRouter{memRouter: memRouter{name: "B"}}
	m := Multi{a, b}
	if w, _ := m.Weight(ctx); w != 0 {
		t.Fatalf("both at 0: %d", w)
	}
	if wrote, _ := m.SetWeight(ctx, 30); !wrote || a.weight != 30 || b.weight != 30 {
		t.Fatalf("set 30: %v %d %d", wrote, a.weight, b.weight)
	}
	if wrote, _ := m.SetWeight(ctx, 30); wrote || a.writes != 1 {
		t.Fatal("setting the weight they carry wrote again")
	}
	b.weight = 10 // reset behind our back on one of them
	if w, _ := m.Weight(ctx); w != -1 {
		t.Fatalf("routers that disagree read %d, want -1", w)
	}
	beta := router.ManagedRoute{Name: "beta", Header: &v1alpha1.SetHeaderRoute{Name: "beta"}}
	if err := m.CanCarry(beta); err == nil || !strings.Contains(err.Error(), "A cannot carry header or mirror routes") {
		t.Fatalf("a route must be carried by every router: %v", err)
	}
	if _, err := (Multi{b}).SetManagedRoutes(ctx, []router.ManagedRoute{beta}); err != nil || len(b.routes) != 1 {
		t.Fatalf("routes: %v %v", err, b.routes)
	}
	if m.Describe() != "A and B" {
		t.Fatal(m.Describe())
	}
}

func TestUnavailableAndConfigErrors(t *testing.T) {
	tr := &v1alpha1.TrafficRouting{
		Ambassador: &runtime.RawExtension{Raw: []byte(`{}`)},
		Plugins:    map[string]runtime.RawExtension{"argoproj-labs/cilium": {Raw: []byte(`{}`)}},
	}
	if got := strings.Join(Unavailable(tr), ", "); got != `"ambassador", plugin "argoproj-labs/cilium"` {
		t.Fatalf("unavailable: %s", got)
	}
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		StableService: "s", CanaryService: "c", TrafficRouting: &v1alpha1.TrafficRouting{
			Plugins: map[string]runtime.RawExtension{v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":""}`)}}}}}}}
	_, err := New(ConfigFor(ro))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field.String() != "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/gatewayAPI]" {
		t.Fatalf("config error names the field: %v", err)
	}
	ro.Spec.Strategy.Canary.TrafficRouting.Plugins = nil
	if _, err := New(ConfigFor(ro)); err == nil || !strings.Contains(err.Error(), "names no router Sluice carries") {
		t.Fatalf("no router: %v", err)
	}
}
