package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// routed is a valid Gateway API canary with a header route step.
func routed() *v1alpha1.Rollout {
	ro := good()
	c := ro.Spec.Strategy.Canary
	c.StableService, c.CanaryService = "web-stable", "web-canary"
	c.TrafficRouting = &v1alpha1.TrafficRouting{
		Plugins:       map[string]runtime.RawExtension{v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":"web"}`)}},
		ManagedRoutes: []v1alpha1.ManagedRoute{{Name: "beta"}},
	}
	return ro
}

func TestManagedRoutesAndMaxTrafficWeight(t *testing.T) {
	hdr := func(name string, m ...v1alpha1.HeaderRoutingMatch) v1alpha1.CanaryStep {
		return v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: name, Match: m}}
	}
	beta := v1alpha1.HeaderRoutingMatch{HeaderName: "X-Beta", HeaderValue: v1alpha1.StringMatch{Exact: "1"}}
	for _, tc := range []struct {
		name string
		edit func(*v1alpha1.Rollout)
		want string // "" is valid
	}{
		{"setWeight up to maxTrafficWeight", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = i32(1000)
			r.Spec.Strategy.Canary.Steps[0].SetWeight = i32(500)
		}, ""},
		{"setWeight above maxTrafficWeight", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = i32(10)
			r.Spec.Strategy.Canary.Steps[0].SetWeight = i32(20)
		}, "spec.strategy.canary.steps[0].setWeight: Invalid value: 20: must be between 0 and 10"},
		{"maxTrafficWeight 0", func(r *v1alpha1.Rollout) { r.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = i32(0) },
			"spec.strategy.canary.trafficRouting.maxTrafficWeight"},
		{"duplicate managed route", func(r *v1alpha1.Rollout) {
			tr := r.Spec.Strategy.Canary.TrafficRouting
			tr.ManagedRoutes = append(tr.ManagedRoutes, v1alpha1.ManagedRoute{Name: "beta"})
		}, "spec.strategy.canary.trafficRouting.managedRoutes[1].name: Duplicate value"},
		{"header route step names an unmanaged route", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.Steps = append(r.Spec.Strategy.Canary.Steps, hdr("gamma", beta))
		}, "spec.strategy.canary.steps[2].setHeaderRoute.name: Not found: \"gamma: not in spec.strategy.canary.trafficRouting.managedRoutes"},
		{"header match with two kinds", func(r *v1alpha1.Rollout) {
			m := beta
			m.HeaderValue.Prefix = "x"
			r.Spec.Strategy.Canary.Steps = append(r.Spec.Strategy.Canary.Steps, hdr("beta", m))
		}, "steps[2].setHeaderRoute.match[0].headerValue: Invalid value: \"2 set\": must set exactly one of exact, prefix or regex"},
		{"bad regex", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.Steps = append(r.Spec.Strategy.Canary.Steps,
				hdr("beta", v1alpha1.HeaderRoutingMatch{HeaderName: "h", HeaderValue: v1alpha1.StringMatch{Regex: "("}}))
		}, "headerValue.regex: Invalid value: \"(\": not a regular expression"},
		{"header value not UTF-8", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.Steps = append(r.Spec.Strategy.Canary.Steps,
				hdr("beta", v1alpha1.HeaderRoutingMatch{HeaderName: "h", HeaderValue: v1alpha1.StringMatch{Prefix: "\xd6"}}))
		}, "headerValue: Invalid value: \"\\xd6\": must be valid UTF-8"},
		{"mirror percentage", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.Steps = append(r.Spec.Strategy.Canary.Steps, v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{
				Name: "beta", Percentage: i32(101), Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/"}}}}})
		}, "steps[2].setMirrorRoute.percentage: Invalid value: 101"},
		{"mirror match without anything", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.Steps = append(r.Spec.Strategy.Canary.Steps, v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{
				Name: "beta", Match: []v1alpha1.RouteMatch{{}}}})
		}, "steps[2].setMirrorRoute.match[0]: Required value: set method, path or headers"},
		{"header route without a router", func(r *v1alpha1.Rollout) {
			c := r.Spec.Strategy.Canary
			c.TrafficRouting, c.StableService, c.CanaryService = nil, "", ""
			c.Steps = append(c.Steps, hdr("beta", beta))
		}, "steps[2].setHeaderRoute: Forbidden: needs spec.strategy.canary.trafficRouting"},
		{"Istio subset-level needs no Services", func(r *v1alpha1.Rollout) {
			c := r.Spec.Strategy.Canary
			c.StableService, c.CanaryService = "", ""
			c.TrafficRouting = &v1alpha1.TrafficRouting{Istio: &runtime.RawExtension{Raw: []byte(
				`{"virtualService":{"name":"web"},"destinationRule":{"name":"web","canarySubsetName":"canary","stableSubsetName":"stable"}}`)}}
		}, ""},
		{"Istio host-level needs both Services", func(r *v1alpha1.Rollout) {
			c := r.Spec.Strategy.Canary
			c.StableService, c.CanaryService = "", ""
			c.TrafficRouting = &v1alpha1.TrafficRouting{Istio: &runtime.RawExtension{Raw: []byte(`{"virtualService":{"name":"web"}}`)}}
		}, "spec.strategy.canary.stableService: Required value: trafficRouting needs both stableService and canaryService"},
		{"Istio subset-level beside another router needs both Services", func(r *v1alpha1.Rollout) {
			c := r.Spec.Strategy.Canary
			c.StableService, c.CanaryService = "", ""
			c.TrafficRouting.Istio = &runtime.RawExtension{Raw: []byte(
				`{"virtualService":{"name":"web"},"destinationRule":{"name":"web","canarySubsetName":"canary","stableSubsetName":"stable"}}`)}
		}, "spec.strategy.canary.stableService: Required value"},
		{"Istio with maxTrafficWeight", func(r *v1alpha1.Rollout) {
			c := r.Spec.Strategy.Canary
			c.TrafficRouting = &v1alpha1.TrafficRouting{MaxTrafficWeight: i32(1000), Istio: &runtime.RawExtension{Raw: []byte(`{"virtualService":{"name":"web"}}`)}}
		}, "spec.strategy.canary.trafficRouting.istio: Invalid value: cannot be used with maxTrafficWeight 1000"},
		{"unknown field in the router config", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.TrafficRouting.Plugins[v1alpha1.GatewayAPIPluginName] = runtime.RawExtension{Raw: []byte(`{"httpRoot":"web"}`)}
		}, `spec.strategy.canary.trafficRouting.plugins[argoproj-labs/gatewayAPI]: Invalid value: not a Gateway API config: json: unknown field "httpRoot"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := routed()
			tc.edit(ro)
			got := Rollout(ro).ToAggregate()
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("want valid, got %v", got)
			case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
				t.Fatalf("want %q in %v", tc.want, got)
			}
		})
	}
}
