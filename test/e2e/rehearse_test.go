package e2e

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
	"github.com/sluice-dev/sluice/internal/testprom"
)

// `kubectl sluice rehearse` runs the update workflow for real: a new
// revision with the same image goes through every step, with one abort and
// retry on the way, and ends stable. With analysis gated on a metric that
// does not exist, the rehearsal fails the way the seeds' canary should have
// on day one.
func TestRehearse(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()

	t.Run("passes, with one abort and retry", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, templateRollout(ns, "app", "app:1", 5, seedSteps()))
		before := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4).Status.StableRS
		c := newCLI(t, env, ns)

		out, code := c.run("rehearse", "app")
		if code != 2 || !strings.Contains(out, "Nothing was changed. Add --yes to run it.") {
			t.Fatalf("without --yes: exit %d\n%s", code, out)
		}
		if getRollout(t, env, ns, "app").Status.CurrentPodHash != before {
			t.Fatal("rehearse without --yes changed the Rollout")
		}

		out, code = c.run("rehearse", "app", "--yes", "--abort-once", "--timeout", "2m")
		t.Logf("$ kubectl sluice rehearse app -n %s --yes --abort-once\n%s", ns, out)
		for _, want := range []string{
			"through its 4 step(s): setWeight 20, pause, setWeight 50, pause; every pause is promoted, and the first one is aborted once and retried",
			"step 1/4, Paused: CanaryPauseStep · pods: new 1, stable 4",
			"→ at the first pause (CanaryPauseStep): abort once",
			"pods: new 0, stable 5",
			"→ the abort worked (the stable version serves everything again): retry",
			"step 3/4, Paused: CanaryPauseStep · pods: new 3, stable 3",
			"is Healthy and stable; the workflow ran end to end",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("transcript lacks %q", want)
			}
		}
		ro := getRollout(t, env, ns, "app")
		if code != 0 || t.Failed() || ro.Status.StableRS == before || ro.Spec.Template.Annotations["sluice.dev/rehearsal"] == "" ||
			ro.Spec.Template.Spec.Containers[0].Image != "app:1" {
			t.Fatalf("exit %d; stable %s (was %s), template %+v", code, ro.Status.StableRS, before, ro.Spec.Template.ObjectMeta)
		}
	})

	t.Run("blue-green: promotes the preview", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "api-active", "api"), blueGreenRollout(ns, "api", 2, &v1alpha1.BlueGreenStrategy{
			ActiveService: "api-active", AutoPromotionEnabled: ptr(false), ScaleDownDelaySeconds: ptr(int32(1))}))
		before := waitBlueGreen(t, env, ns, "api", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
			return map[string]int32{r.Status.CurrentPodHash: 2}
		}).Status.StableRS
		out, code := newCLI(t, env, ns).run("rehearse", "api", "--yes", "--timeout", "2m")
		t.Logf("$ kubectl sluice rehearse api -n %s --yes\n%s", ns, out)
		ro := getRollout(t, env, ns, "api")
		if code != 0 || !strings.Contains(out, "blue-green: preview, then promotion") || !strings.Contains(out, "→ paused (BlueGreenPause): promote") ||
			ro.Status.StableRS == before || selectedHash(t, env, ns, "api-active") != ro.Status.StableRS {
			t.Fatalf("exit %d, stable %s (was %s), active %s:\n%s", code, ro.Status.StableRS, before, selectedHash(t, env, ns, "api-active"), out)
		}
	})

	t.Run("fails on an analysis with no data", func(t *testing.T) {
		ns := env.Namespace(t)
		prom := testprom.Start(t, nil, time.Second) // nothing exports the metric
		create(t, env, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "error-rate"},
			Spec: v1alpha1.AnalysisTemplateSpec{Args: []v1alpha1.Argument{{Name: "prometheus"}, {Name: "app"}},
				Metrics: []v1alpha1.Metric{{Name: "error-rate", SuccessCondition: "result[0] < 0.05",
					Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: "{{args.prometheus}}",
						Query: `sum(rate(app_requests_total{app="{{args.app}}",code!~"2..|3.."}[1m])) / sum(rate(app_requests_total{app="{{args.app}}"}[1m]))`}}}}}},
			analysisStepRollout(ns, "absent", prom.URL))
		expectCanary(t, env, ns, "absent", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
		c := newCLI(t, env, ns)
		out, code := c.run("rehearse", "absent", "--yes", "--timeout", "2m")
		t.Logf("$ kubectl sluice rehearse absent -n %s --yes\n%s", ns, out)
		if code != 1 || !strings.Contains(out, "FAILED: an analysis was inconclusive (no data is not success)") ||
			!strings.Contains(out, "Inconclusive") {
			t.Fatalf("exit %d, want 1 with the inconclusive analysis named:\n%s", code, out)
		}
	})
}
