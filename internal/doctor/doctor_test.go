package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

func ptr[T any](v T) *T { return &v }

func controller(image string) appsv1.Deployment {
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "sys", Name: "ctrl"}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Image: image}}
	d.Status.ReadyReplicas = 1
	return d
}

// The seeds' litellm setup, with all five latent bugs in it.
func seedSnapshot() Snapshot {
	now := time.Unix(1_000_000, 0)
	ro := v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "litellm", Name: "litellm", Generation: 3,
		CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}}
	ro.Status.ObservedGeneration = "3"
	ro.Status.Phase = v1alpha1.RolloutPhaseHealthy
	ro.Status.AvailableReplicas = 5
	ro.Spec.WorkloadRef = &v1alpha1.WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "litellm"}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
		StableService: "litellm", CanaryService: "litellm-canary",
		TrafficRouting: &v1alpha1.TrafficRouting{Plugins: map[string]runtime.RawExtension{"argoproj-labs/cilium": {Raw: []byte(`{}`)}}},
		Steps: []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: &v1alpha1.RolloutAnalysis{
			Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "error-rate"}},
			Args:      []v1alpha1.AnalysisRunArgument{{Name: "service", Value: "litellm"}}}}},
	}
	svc := func(name string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "litellm", Name: name}, Spec: corev1.ServiceSpec{Selector: sel}}
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "litellm", Name: "litellm"}}
	dep.Status.AvailableReplicas = 1
	tmpl := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: "litellm", Name: "error-rate"},
		Spec: v1alpha1.AnalysisTemplateSpec{
			Args: []v1alpha1.Argument{{Name: "service"}},
			Metrics: []v1alpha1.Metric{{Name: "error-rate", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
				Address: "http://vm:8428",
				Query:   `sum(rate(litellm_request_total{service="{{args.service}}",status=~"5.."}[5m])) / sum(rate(litellm_request_total[5m]))`}}}}}}
	return Snapshot{
		Now: now, Command: "kubectl sluice", Rollouts: []v1alpha1.Rollout{ro},
		Controllers: []appsv1.Deployment{controller("quay.io/argoproj/argo-rollouts:v1.8.3")},
		ArgoPlugins: map[string]bool{},
		Services: map[string]*corev1.Service{
			"litellm/litellm":        svc("litellm", map[string]string{"app": "litellm"}),
			"litellm/litellm-canary": svc("litellm-canary", map[string]string{"app": "litellm"}),
		},
		Deployments: map[string]*appsv1.Deployment{"litellm/litellm": dep},
		Templates:   map[string]*v1alpha1.AnalysisTemplate{"litellm/error-rate": tmpl},
	}
}

func find(t *testing.T, fs []Finding, check string, sev Severity, says string) Finding {
	t.Helper()
	for _, f := range fs {
		if strings.Contains(f.Check, check) && f.Severity == sev && strings.Contains(f.Message, says) {
			return f
		}
	}
	var all []string
	for _, f := range fs {
		all = append(all, f.Severity.String()+" "+f.Check+": "+f.Message)
	}
	t.Fatalf("no %s finding %q saying %q in:\n%s", sev, check, says, strings.Join(all, "\n"))
	return Finding{}
}

func TestSeedsFiveLatentBugs(t *testing.T) {
	var queried string
	probe := func(_ context.Context, addr, q string) (int, error) {
		queried = q
		return 0, nil // the metric does not exist
	}
	fs := Check(context.Background(), seedSnapshot(), probe)
	find(t, fs, "seed bug #1", Error, `plugin "argoproj-labs/cilium" is not configured for the Argo Rollouts controller`)
	find(t, fs, "seed bug #2", Warning, `Service "litellm-canary" (canaryService) selects every pod`)
	find(t, fs, "seed bug #3", Warning, `Deployment "litellm" still has 1 available pod(s)`)
	find(t, fs, "seed bug #4", Warning, `counts only server errors`)
	find(t, fs, "seed bug #5", Warning, `returns no data now`)
	if !strings.Contains(queried, `service="litellm"`) || strings.Contains(queried, "{{") {
		t.Fatalf("probe got %q; want the args filled in", queried)
	}
}

func TestFixedSetupIsClean(t *testing.T) {
	s := seedSnapshot()
	ro := &s.Rollouts[0]
	ro.Spec.Strategy.Canary.TrafficRouting, ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = nil, "", ""
	ro.Spec.WorkloadRef.ScaleDown = v1alpha1.ScaleDownOnSuccess
	s.Templates["litellm/error-rate"].Spec.Metrics[0].Provider.Prometheus.Query = `sum(rate(litellm_request_total{status!~"2..|3.."}[5m]))`
	fs := Check(context.Background(), s, func(context.Context, string, string) (int, error) { return 3, nil })
	for _, f := range fs {
		if f.Severity != OK {
			t.Errorf("unexpected %s: %s: %s", f.Severity, f.Check, f.Message)
		}
	}
	find(t, fs, "seed bug #5", OK, "returns 3 sample(s)")
}

func TestSluiceControllerAndMissingObjects(t *testing.T) {
	s := seedSnapshot()
	s.Controllers = []appsv1.Deployment{controller("ghcr.io/sluice-dev/sluice:latest")}
	ro := &s.Rollouts[0]
	ro.Spec.Strategy.Canary.TrafficRouting.Plugins = map[string]runtime.RawExtension{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":"web"}`)}}
	delete(s.Templates, "litellm/error-rate")
	delete(s.Services, "litellm/litellm-canary")
	fs := Check(context.Background(), s, nil)
	find(t, fs, "traffic router", Error, "the Gateway API (gateway.networking.k8s.io/v1 HTTPRoute) is not installed")
	find(t, fs, "analysis template", Error, `AnalysisTemplate "error-rate" (spec.strategy.canary.steps[1].analysis) does not exist`)
	find(t, fs, "service", Error, `Service "litellm-canary" (spec.strategy.canary.canaryService) does not exist`)
	s.HTTPRoutes = map[string]*gwv1.HTTPRoute{}
	find(t, Check(context.Background(), s, nil), "traffic router", Error, `HTTPRoute "web" (namespace "litellm") named by the gatewayAPI plugin does not exist`)
	rt := &gwv1.HTTPRoute{}
	rt.Name = "web"
	rt.Spec.Rules = []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{Name: "litellm"}}}}}}
	s.HTTPRoutes["litellm/web"] = rt
	find(t, Check(context.Background(), s, nil), "traffic router", Error, `no rule of HTTPRoute "web" has backendRefs to both`)

	ro.Spec.Strategy.Canary.TrafficRouting.Plugins = map[string]runtime.RawExtension{"argoproj-labs/cilium": {Raw: []byte(`{}`)}}
	find(t, Check(context.Background(), s, nil), "seed bug #1", Error, "is not one Sluice carries")
}

func TestControllerMissingOrDownAndNeverObserved(t *testing.T) {
	s := seedSnapshot()
	s.Controllers = nil
	ro := &s.Rollouts[0]
	ro.Generation = 4 // a spec the controller never acted on
	ro.ManagedFields = []metav1.ManagedFieldsEntry{{Operation: metav1.ManagedFieldsOperationUpdate, Time: ptr(metav1.NewTime(s.Now.Add(-10 * time.Minute)))}}
	fs := Check(context.Background(), s, nil)
	find(t, fs, "controller", Warning, "no Rollouts controller Deployment found")
	find(t, fs, "status", Error, "the controller has not acted on this spec")

	s.Controllers = []appsv1.Deployment{controller("ghcr.io/sluice-dev/sluice:latest")}
	s.Controllers[0].Status.ReadyReplicas = 0
	find(t, Check(context.Background(), s, nil), "controller", Error, "no controller pod is ready")
}

func TestProbeErrorIsAWarningNotAVerdict(t *testing.T) {
	fs := Check(context.Background(), seedSnapshot(), func(context.Context, string, string) (int, error) {
		return 0, errors.New("dial tcp: lookup vm: no such host")
	})
	find(t, fs, "seed bug #5", Warning, "could not be run from here")
}

func TestIgnoresClientErrors(t *testing.T) {
	for q, want := range map[string]bool{
		`rate(x{status=~"5.."}[5m])`:         true,
		`rate(x{code="500"}[5m])`:            true,
		`rate(x{status_code =~ "5xx"}[5m])`:  true,
		`rate(x{status!~"2..|3.."}[5m])`:     false,
		`rate(x{status=~"4..|5.."}[5m])`:     false,
		`sum(rate(http_requests_total[5m]))`: false,
		`rate(x{statusgroup=~"5.."}[5m])`:    false,
	} {
		if got := ignoresClientErrors(q) != ""; got != want {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
}

func TestBuiltInRouterProblemsAndUnavailableRouters(t *testing.T) {
	s := seedSnapshot()
	s.Controllers = []appsv1.Deployment{controller("ghcr.io/sluice-dev/sluice:latest")}
	ro := &s.Rollouts[0]
	ro.Spec.Strategy.Canary.TrafficRouting.Plugins = nil
	ro.Spec.Strategy.Canary.TrafficRouting.Ambassador = &runtime.RawExtension{Raw: []byte(`{"mappings":["m"]}`)}
	find(t, Check(context.Background(), s, nil), "seed bug #1", Error, `traffic router "ambassador" is not one Sluice carries`)

	ro.Spec.Strategy.Canary.TrafficRouting.Ambassador = nil
	s.RouterProblems = map[string]error{"litellm/litellm": &router.Error{Reason: router.ReasonRouteNotFound,
		Message: `TraefikService "web" named by spec.strategy.canary.trafficRouting.traefik was not found`}}
	fs := Check(context.Background(), s, nil)
	f := find(t, fs, "traffic router", Error, `TraefikService "web" named by spec.strategy.canary.trafficRouting.traefik was not found`)
	if f.Fix != "create it, or fix the name in the Rollout" {
		t.Errorf("fix: %q", f.Fix)
	}
}
