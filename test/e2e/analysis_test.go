package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// serve starts an HTTP server on loopback (the controller runs in-process,
// so it reaches it) and returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

func analysisRun(ns, name string, metrics ...v1alpha1.Metric) *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: metrics}}
}

func waitRun(t *testing.T, env *testenv.Env, ns, name string, want v1alpha1.AnalysisPhase, timeout time.Duration) *v1alpha1.AnalysisRun {
	t.Helper()
	var run v1alpha1.AnalysisRun
	testenv.Eventually(t, timeout, func() (bool, string) {
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &run); err != nil {
			return false, err.Error()
		}
		return run.Status.Phase == want, fmt.Sprintf("run %s is %q: %s", name, run.Status.Phase, run.Status.Message)
	})
	return &run
}

// The web provider: 200 + matching JSON is Successful, a 500 is Failed.
func TestWebMetric(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"status":"ok","checks":{"db":"up"}}`) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, `{"status":"down"}`, 500) })
	url := serve(t, mux)

	web := func(name, path string) v1alpha1.Metric {
		return v1alpha1.Metric{Name: name, SuccessCondition: `result == "ok"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url + path, JSONPath: "{$.status}"}}}
	}
	create(t, env, analysisRun(ns, "healthy", web("health", "/healthz")), analysisRun(ns, "broken", web("health", "/broken")))
	ok := waitRun(t, env, ns, "healthy", v1alpha1.AnalysisPhaseSuccessful, 15*time.Second)
	if m := ok.Status.MetricResults[0].Measurements[0]; m.Value != "ok" || m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("measurement %+v", m)
	}
	bad := waitRun(t, env, ns, "broken", v1alpha1.AnalysisPhaseFailed, 15*time.Second)
	if m := bad.Status.MetricResults[0].Measurements[0]; !strings.Contains(m.Message, "HTTP 500") {
		t.Fatalf("failed measurement should say HTTP 500: %+v", m)
	}
}

// The job provider: a Job that completes is Successful, one that fails is Failed.
func TestJobMetric(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	job := func(name string, fail bool) v1alpha1.Metric {
		spec := batchv1.JobSpec{BackoffLimit: ptr(int32(0)), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "check", Image: "busybox"}}}}}
		if fail { // never scheduled, so the deadline fails it
			spec.ActiveDeadlineSeconds = ptr(int64(2))
			spec.Template.Spec.NodeSelector = map[string]string{"no-such-node": "true"}
		}
		return v1alpha1.Metric{Name: name, Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{Spec: spec}}}
	}
	create(t, env, analysisRun(ns, "job-ok", job("smoke", false)), analysisRun(ns, "job-fail", job("smoke", true)))
	waitRun(t, env, ns, "job-ok", v1alpha1.AnalysisPhaseSuccessful, 30*time.Second)
	bad := waitRun(t, env, ns, "job-fail", v1alpha1.AnalysisPhaseFailed, 40*time.Second)
	if !strings.Contains(bad.Status.MetricResults[0].Measurements[0].Message, "failed") {
		t.Fatalf("%+v", bad.Status.MetricResults[0])
	}
}

// A canary with an analysis step: passing analysis promotes on; failing
// analysis aborts back to stable; a missing template is loud and holds.
func TestAnalysisStepGatesTheCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	var healthy atomic.Bool
	healthy.Store(true)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if healthy.Load() {
			fmt.Fprint(w, `{"status":"ok"}`)
			return
		}
		fmt.Fprint(w, `{"status":"degraded"}`)
	}))
	create(t, env, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "health"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
			Name: "health", Interval: "1s", Count: ptr(intstr.FromInt32(2)),
			SuccessCondition: `result == "ok"`, FailureCondition: `result != "ok"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.status}"}},
		}}}})
	steps := []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}},
		{SetWeight: ptr(int32(60))},
	}
	ro := templateRollout(ns, "web", "web:1", 5, steps)
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)

	patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:2"}]}}}}`)
	got := expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
	runs := analysisRuns(t, env, ns)
	if len(runs) != 1 || runs[0].Status.Phase != v1alpha1.AnalysisPhaseSuccessful || len(runs[0].Status.MetricResults[0].Measurements) != 2 {
		t.Fatalf("want one Successful run with 2 measurements gating revision 2, got %+v", runs)
	}
	if got.Status.StableRS != got.Status.CurrentPodHash {
		t.Fatal("not promoted")
	}

	healthy.Store(false)
	patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:3"}]}}}}`)
	got = expectCanary(t, env, ns, "web", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
	if !strings.Contains(got.Status.Message, "RolloutAborted") || !strings.Contains(got.Status.Message, `Metric "health" assessed Failed`) {
		t.Fatalf("abort message should name the failed metric: %q", got.Status.Message)
	}
	// Notification tools key on upstream's event reasons.
	hasWarning(t, env, ns, "web", "AnalysisRunFailed", `Metric "health" assessed Failed`)
	hasWarning(t, env, ns, "web", "RolloutAborted", "revision 3")

	// Retry after the fix measures afresh in a new run (the failed one stays
	// for the record, marked superseded) and the update completes.
	healthy.Store(true)
	retry(t, env, ns, "web")
	got = expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
	if name := got.Status.Canary.CurrentStepAnalysisRunStatus; name != nil && !strings.HasSuffix(name.Name, ".1") {
		t.Fatalf("retry should have used a fresh run <name>.1, status points at %q", name.Name)
	}
	if n := len(analysisRuns(t, env, ns)); n != 3 {
		t.Fatalf("want 3 runs (rev 2, rev 3 failed, rev 3 retried), have %d", n)
	}

	// A template that does not exist: loud, and nothing moves.
	patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:4"}]}},`+
		`"strategy":{"canary":{"steps":[{"setWeight":20},{"analysis":{"templates":[{"templateName":"nope"}]}}]}}}}`)
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "web")
		return r.Status.Phase == v1alpha1.RolloutPhaseDegraded && strings.Contains(r.Status.Message, `AnalysisTemplate "nope"`), r.Status.Message
	})
	// Creating the template is the fix: the Rollout notices at once and goes on.
	create(t, env, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nope"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "health", SuccessCondition: `result == "ok"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.status}"}}}}}})
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 2)
}

func analysisRuns(t *testing.T, env *testenv.Env, ns string) []v1alpha1.AnalysisRun {
	t.Helper()
	var list v1alpha1.AnalysisRunList
	if err := env.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	var out []v1alpha1.AnalysisRun
	for _, r := range list.Items {
		if r.Namespace == ns {
			out = append(out, r)
		}
	}
	return out
}

// Finished AnalysisRuns beyond spec.analysis.successfulRunHistoryLimit are deleted, oldest first.
func TestAnalysisRunHistoryLimit(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	passingTemplate(t, env, ns, "health")
	ro := templateRollout(ns, "web", "web:1", 2, []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(50))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}},
	})
	ro.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr(int32(1))}
	create(t, env, ro)
	var newest string
	for i := 2; i <= 4; i++ {
		expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, 2)
		bump(t, env, ro, fmt.Sprintf("web:%d", i))
		newest = expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, 2).Status.CurrentPodHash
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		runs := analysisRuns(t, env, ns)
		return len(runs) == 1 && strings.Contains(runs[0].Name, newest), fmt.Sprintf("want only the newest run, have %d", len(runs))
	})
}
