package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
	"github.com/sluice-dev/sluice/internal/testprom"
)

// The seeds' setup with its five latent bugs, rebuilt on the sandbox:
// `kubectl sluice doctor` names every one of them, and exits 1. Fixed, it
// reports nothing and exits 0.
func TestDoctorFindsTheSeedsLatentBugs(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	prom := testprom.Start(t, nil, time.Second) // no exporter: the metric does not exist (seed bug #5)

	// Bug #1 and #2: the Cilium plugin, and a canary Service over every pod.
	cilium := templateRollout(ns, "router", "router:1", 2, seedSteps())
	cilium.Spec.Strategy.Canary.StableService, cilium.Spec.Strategy.Canary.CanaryService = "router", "router-canary"
	cilium.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.TrafficRouting{
		Plugins: map[string]runtime.RawExtension{"argoproj-labs/cilium": {Raw: []byte(`{}`)}}}
	// Bugs #3, #4, #5: the Helm Deployment left serving, a 5xx-only query,
	// a metric nobody exports.
	steps := append(seedSteps(), v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "error-rate"}},
		Args:      []v1alpha1.AnalysisRunArgument{{Name: "prometheus", Value: prom.URL}}}})
	litellm := workloadRollout(ns, "litellm", "litellm", "", 2, steps)
	tmpl := &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "error-rate"},
		Spec: v1alpha1.AnalysisTemplateSpec{Args: []v1alpha1.Argument{{Name: "prometheus"}}, Metrics: []v1alpha1.Metric{{
			Name: "error-rate", SuccessCondition: "result[0] < 0.05",
			Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: "{{args.prometheus}}",
				Query: `sum(rate(litellm_request_total{status=~"5.."}[5m])) / sum(rate(litellm_request_total[5m]))`}}}}}}
	create(t, env, service(ns, "router", "router"), service(ns, "router-canary", "router"),
		deployment(ns, "litellm", "litellm:1", 1), tmpl, cilium, litellm)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		ro := getRollout(t, env, ns, "litellm")
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy, string(ro.Status.Phase)
	})

	c := newCLI(t, env, ns)
	out, code := c.run("doctor")
	t.Logf("$ kubectl sluice doctor -n %s\n%s", ns, out)
	for _, want := range []string{
		"[seed bug #1: traffic router]\n    traffic-router plugin \"argoproj-labs/cilium\" is not one Sluice carries",
		"[seed bug #2: service selector]\n    Service \"router-canary\" (canaryService) selects every pod of the app",
		"[seed bug #3: workloadRef.scaleDown]\n    Deployment \"litellm\" still has 1 available pod(s) serving beside the Rollout's 2",
		"[seed bug #4: error-rate query]\n    AnalysisTemplate \"error-rate\" metric \"error-rate\" counts only server errors",
		"[seed bug #5: metric data]\n    AnalysisTemplate \"error-rate\" metric \"error-rate\" returns no data now",
		"✖ rollout " + ns + "/router  [status]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q", want)
		}
	}
	if code != 1 || t.Failed() {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}

	// Fixed the way the seeds fixed them: doctor has nothing left to say.
	if err := env.Client.Delete(ctx, cilium); err != nil {
		t.Fatal(err)
	}
	patchSpec(t, env, litellm, `{"spec":{"workloadRef":{"scaleDown":"onsuccess"}}}`)
	patchSpec(t, env, tmpl, `{"spec":{"metrics":[{"name":"error-rate","successCondition":"result[0] < 0.05","provider":{"prometheus":{"address":"{{args.prometheus}}","query":"vector(0.01)"}}}]}}`)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		out, code = c.run("doctor", "-o", "json")
		return code == 0, out
	})
	var findings []struct{ Severity, Check, Message string }
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, out)
	}
	for _, f := range findings {
		if f.Severity != "ok" && !(f.Check == "controller" && strings.Contains(f.Message, "no Rollouts controller Deployment")) {
			t.Errorf("after the fixes: %s %s: %s", f.Severity, f.Check, f.Message)
		}
	}
}
