package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
	"github.com/sluice-dev/sluice/internal/testprom"
)

// trafficGen is an app's request counter the test controls: each app serves
// ~20 req/s with the status codes its mode says.
type trafficGen struct {
	mu    sync.Mutex
	mode  map[string][]string // app → status codes cycled through; nil = no traffic
	total *prometheus.CounterVec
}

func startTraffic(t *testing.T) (*trafficGen, string) {
	reg := prometheus.NewRegistry()
	g := &trafficGen{mode: map[string][]string{}, total: prometheus.NewCounterVec(
		prometheus.CounterOpts{Name: "app_requests_total", Help: "requests served, by app and status"}, []string{"app", "status"})}
	reg.MustRegister(g.total)
	url := serve(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			g.mu.Lock()
			for app, codes := range g.mode {
				if len(codes) > 0 {
					g.total.WithLabelValues(app, codes[n%len(codes)]).Inc()
				}
			}
			g.mu.Unlock()
		}
	}()
	return g, strings.TrimPrefix(url, "http://")
}

// set gives app a traffic mix. Every status series starts at 0, as a
// careful exporter does, so "no errors" is 0 and not an absent series.
func (g *trafficGen) set(app string, codes ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range []string{"200", "404", "429", "500"} {
		g.total.WithLabelValues(app, c).Add(0)
	}
	g.mode[app] = codes
}

// errorRateTemplate is the seeds' AnalysisTemplate with bug #4 fixed: every
// non-2xx/3xx answer counts as an error.
func errorRateTemplate(ns, name string, extra func(*v1alpha1.Metric)) *v1alpha1.AnalysisTemplate {
	m := v1alpha1.Metric{
		Name: "error-rate", Interval: "1s", Count: ptr(intstr.FromInt32(3)),
		SuccessCondition: "result[0] < 0.05", FailureCondition: "result[0] >= 0.05",
		Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
			Address: "{{args.prometheus}}",
			Query: `sum(rate(app_requests_total{app="{{args.app}}",status!~"2..|3.."}[1m])) / ` +
				`sum(rate(app_requests_total{app="{{args.app}}"}[1m]))`,
		}},
	}
	if extra != nil {
		extra(&m)
	}
	return &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{m},
			Args: []v1alpha1.Argument{{Name: "prometheus"}, {Name: "app"}}}}
}

func analysisStepRollout(ns, app, promURL string) *v1alpha1.Rollout {
	return templateRollout(ns, app, app+":1", 5, []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))},
		{Analysis: &v1alpha1.RolloutAnalysis{
			Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "error-rate"}},
			Args:      []v1alpha1.AnalysisRunArgument{{Name: "prometheus", Value: promURL}, {Name: "app", Value: app}},
		}},
		{SetWeight: ptr(int32(60))},
	})
}

func bump(t *testing.T, env *testenv.Env, ro *v1alpha1.Rollout, image string) {
	patchSpec(t, env, ro, fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, ro.Name, image))
}

// The analysis workflows of the seeds against a real Prometheus scraping a
// real exporter.
func TestPrometheusAnalysis(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	gen, target := startTraffic(t)
	prom := testprom.Start(t, []string{target}, time.Second)
	for _, app := range []string{"healthy", "broken", "background"} {
		gen.set(app, "200")
	}
	gen.set("broken", "200", "404", "429") // seed bug #4: 4xx is an error too
	prom.WaitScraped(t, "app_requests_total", 30*time.Second)
	time.Sleep(2 * time.Second) // two scrapes, so rate() has data

	t.Run("healthy canary is promoted", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, errorRateTemplate(ns, "error-rate", nil))
		ro := analysisStepRollout(ns, "healthy", prom.URL)
		create(t, env, ro)
		expectCanary(t, env, ns, "healthy", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
		bump(t, env, ro, "healthy:2")
		got := expectCanary(t, env, ns, "healthy", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
		run := analysisRuns(t, env, ns)[0]
		if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Status.MetricResults[0].Successful != 3 {
			t.Fatalf("want 3 successful measurements, got %+v", run.Status.MetricResults)
		}
		if v := run.Status.MetricResults[0].Measurements[0].Value; v != "[0]" {
			t.Fatalf("healthy error rate should measure [0], got %q", v)
		}
		if got.Status.StableRS != got.Status.CurrentPodHash {
			t.Fatal("not promoted")
		}
	})

	t.Run("canary answering 404 and 429 fails and aborts", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, errorRateTemplate(ns, "error-rate", nil))
		ro := analysisStepRollout(ns, "broken", prom.URL)
		create(t, env, ro)
		stable := expectCanary(t, env, ns, "broken", 5, 0, v1alpha1.RolloutPhaseHealthy, 3).Status.StableRS
		bump(t, env, ro, "broken:2")
		got := expectCanary(t, env, ns, "broken", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
		if got.Status.StableRS != stable || !strings.Contains(got.Status.Message, `Metric "error-rate" assessed Failed`) {
			t.Fatalf("stable %q→%q, message %q", stable, got.Status.StableRS, got.Status.Message)
		}
	})

	t.Run("absent metric is inconclusive and pauses for a person", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, errorRateTemplate(ns, "error-rate", func(m *v1alpha1.Metric) {
			m.InconclusiveLimit = ptr(intstr.FromInt32(1))
			m.Provider.Prometheus.Query = `sum(rate(litellm_request_total{status!~"2..|3.."}[1m])) / sum(rate(litellm_request_total[1m]))`
		}))
		ro := analysisStepRollout(ns, "absent", prom.URL)
		create(t, env, ro)
		expectCanary(t, env, ns, "absent", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
		bump(t, env, ro, "absent:2")
		got := expectCanary(t, env, ns, "absent", 1, 4, v1alpha1.RolloutPhasePaused, 1)
		if got.Status.Message != "InconclusiveAnalysisRun" || got.Status.Abort {
			t.Fatalf("want a pause for a person, got %q abort=%v", got.Status.Message, got.Status.Abort)
		}
		run := analysisRuns(t, env, ns)[0]
		m := run.Status.MetricResults[0]
		if run.Status.Phase != v1alpha1.AnalysisPhaseInconclusive || m.Inconclusive != 2 || !strings.Contains(m.Measurements[0].Message, "no samples") {
			t.Fatalf("want 2 inconclusive 'no samples' measurements, got %+v", m)
		}
		time.Sleep(2 * time.Second) // neither promoted nor aborted while it waits
		expectCanary(t, env, ns, "absent", 1, 4, v1alpha1.RolloutPhasePaused, 1)
		promote(t, env, ns, "absent")
		expectCanary(t, env, ns, "absent", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
	})

	t.Run("dry-run metric failing does not fail the run; args from a Secret", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prom"},
			StringData: map[string]string{"address": prom.URL}})
		tmpl := errorRateTemplate(ns, "error-rate", nil)
		tmpl.Spec.Args[0].ValueFrom = &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "prom", Key: "address"}}
		strict := tmpl.Spec.Metrics[0]
		strict.Name, strict.SuccessCondition, strict.FailureCondition = "strict", "result[0] < 0", "result[0] >= 0"
		tmpl.Spec.Metrics = append(tmpl.Spec.Metrics, strict)
		tmpl.Spec.DryRun = []v1alpha1.DryRun{{MetricName: "strict"}}
		create(t, env, tmpl)
		ro := analysisStepRollout(ns, "healthy", "")
		ro.Spec.Strategy.Canary.Steps[1].Analysis.Args = []v1alpha1.AnalysisRunArgument{{Name: "app", Value: "healthy"}}
		create(t, env, ro)
		expectCanary(t, env, ns, "healthy", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
		bump(t, env, ro, "healthy:3")
		expectCanary(t, env, ns, "healthy", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
		run := analysisRuns(t, env, ns)[0]
		if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Status.DryRunSummary == nil || run.Status.DryRunSummary.Failed != 1 {
			t.Fatalf("want Successful with one failed dry-run metric, got %s %+v", run.Status.Phase, run.Status.DryRunSummary)
		}
	})

	t.Run("background analysis aborts when the metric turns bad", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, errorRateTemplate(ns, "error-rate", func(m *v1alpha1.Metric) { m.Count = nil }))
		ro := templateRollout(ns, "background", "background:1", 5, seedSteps())
		ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
			Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "error-rate"}},
			Args:      []v1alpha1.AnalysisRunArgument{{Name: "prometheus", Value: prom.URL}, {Name: "app", Value: "background"}},
		}}
		create(t, env, ro)
		expectCanary(t, env, ns, "background", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		bump(t, env, ro, "background:2")
		expectCanary(t, env, ns, "background", 1, 4, v1alpha1.RolloutPhasePaused, 1)
		time.Sleep(2 * time.Second)
		if r := analysisRuns(t, env, ns); len(r) != 1 || r[0].Status.Phase != v1alpha1.AnalysisPhaseRunning {
			t.Fatalf("background run should be running while healthy: %+v", r)
		}
		gen.set("background", "500")
		got := expectCanary(t, env, ns, "background", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
		if !strings.Contains(got.Status.Message, "background AnalysisRun") {
			t.Fatalf("message %q", got.Status.Message)
		}
	})

	t.Run("prometheus down: errors, then abort past consecutiveErrorLimit", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, errorRateTemplate(ns, "error-rate", func(m *v1alpha1.Metric) {
			m.Count = ptr(intstr.FromInt32(30))
			m.ConsecutiveErrorLimit = ptr(intstr.FromInt32(2))
		}))
		ro := analysisStepRollout(ns, "healthy", prom.URL)
		create(t, env, ro)
		expectCanary(t, env, ns, "healthy", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
		bump(t, env, ro, "healthy:4")
		testenv.Eventually(t, 20*time.Second, func() (bool, string) {
			r := analysisRuns(t, env, ns)
			return len(r) == 1 && r[0].Status.MetricResults != nil && r[0].Status.MetricResults[0].Successful >= 1, "waiting for a good measurement"
		})
		prom.Stop()
		got := expectCanary(t, env, ns, "healthy", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
		if !strings.Contains(got.Status.Message, "consecutiveErrors (3) > consecutiveErrorLimit (2)") || !strings.Contains(got.Status.Message, "unreachable") {
			t.Fatalf("abort message should explain the errors: %q", got.Status.Message)
		}
	})
}
