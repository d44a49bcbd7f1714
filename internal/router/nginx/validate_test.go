package nginx_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/routers"
)

// NGINX carries no header or mirror routes (upstream's does not either):
// validation refuses those steps by name, naming the router; a config error
// names its field.
func TestValidateRefusesRouteSteps(t *testing.T) {
	ro := &v1alpha1.Rollout{}
	ro.Name, ro.Namespace = "app", "ns"
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{StableService: "s", CanaryService: "c",
		TrafficRouting: &v1alpha1.TrafficRouting{Nginx: &runtime.RawExtension{Raw: []byte(`{"stableIngress":"web"}`)},
			ManagedRoutes: []v1alpha1.ManagedRoute{{Name: "h"}, {Name: "m"}}},
		Steps: []v1alpha1.CanaryStep{{SetWeight: new(int32)},
			{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h"}}, {SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "m"}}}}
	errs := routers.Validate(ro)
	if len(errs) != 2 {
		t.Fatalf("want the two route steps refused, got %v", errs)
	}
	for i, want := range []string{"spec.strategy.canary.steps[1].setHeaderRoute", "spec.strategy.canary.steps[2].setMirrorRoute"} {
		if msg := errs[i].Error(); !strings.Contains(msg, want) || !strings.Contains(msg, `NGINX canary Ingress "app-web-canary"`) ||
			!strings.Contains(msg, "cannot carry header or mirror routes") {
			t.Errorf("error %d: %s", i, msg)
		}
	}

	ro.Spec.Strategy.Canary.Steps = nil
	ro.Spec.Strategy.Canary.TrafficRouting.Nginx.Raw = []byte(`{"stableIngres":"web"}`)
	if errs := routers.Validate(ro); len(errs) != 1 || !strings.Contains(errs[0].Error(), `spec.strategy.canary.trafficRouting.nginx`) ||
		!strings.Contains(errs[0].Error(), `unknown field "stableIngres"`) {
		t.Fatalf("a typo: %v", errs)
	}
}
