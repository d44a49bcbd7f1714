package alb_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/routers"
)

// Validation takes ALB header routes with exact values and refuses mirror
// routes and prefix matches by field.
func TestValidateRouteSteps(t *testing.T) {
	ro := &v1alpha1.Rollout{}
	ro.Name, ro.Namespace = "app", "ns"
	exact := []v1alpha1.HeaderRoutingMatch{{HeaderName: "X", HeaderValue: v1alpha1.StringMatch{Exact: "1"}}}
	prefix := []v1alpha1.HeaderRoutingMatch{{HeaderName: "X", HeaderValue: v1alpha1.StringMatch{Prefix: "1"}}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{StableService: "s", CanaryService: "c",
		TrafficRouting: &v1alpha1.TrafficRouting{ALB: &runtime.RawExtension{Raw: []byte(`{"ingress":"web","servicePort":80}`)},
			ManagedRoutes: []v1alpha1.ManagedRoute{{Name: "h"}, {Name: "p"}, {Name: "m"}}},
		Steps: []v1alpha1.CanaryStep{
			{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h", Match: exact}},
			{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "p", Match: prefix}},
			{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "m"}}}}
	errs := routers.Validate(ro)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "steps[1].setHeaderRoute") || !strings.Contains(errs[0].Error(), "exactly only") ||
		!strings.Contains(errs[1].Error(), "steps[2].setMirrorRoute") || !strings.Contains(errs[1].Error(), "ALB cannot mirror") {
		t.Fatalf("got %v", errs)
	}
}
