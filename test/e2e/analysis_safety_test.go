package e2e

// Issue 16, Evidence items 9-13: no promotion without evidence, driven on
// the sandbox API server with the controller in-process and local web
// metrics.

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/analysis"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// answers is a web metric endpoint: /NAME answers {"status": <value>} with
// the value set for NAME ("null" is JSON null, "garbage" is not JSON).
type answers struct {
	mu   sync.Mutex
	vals map[string]string
	URL  string
}

func newAnswers(t *testing.T) *answers {
	a := &answers{vals: map[string]string{}}
	a.URL = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		v := a.vals[strings.TrimPrefix(r.URL.Path, "/")]
		a.mu.Unlock()
		switch v {
		case "garbage":
			fmt.Fprint(w, "<html>oops</html>")
		case "null", "":
			fmt.Fprint(w, `{"status":null}`)
		default:
			fmt.Fprintf(w, `{"status":%q}`, v)
		}
	}))
	return a
}

func (a *answers) set(name, v string) { a.mu.Lock(); a.vals[name] = v; a.mu.Unlock() }

// webMetric judges /name: "ok" is Successful, "bad" Failed, null Inconclusive.
func (a *answers) metric(name string, edit func(*v1alpha1.Metric)) v1alpha1.Metric {
	m := v1alpha1.Metric{Name: name, SuccessCondition: `result == "ok"`, FailureCondition: `result == "bad"`,
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: a.URL + "/" + name, JSONPath: "{$.status}"}}}
	if edit != nil {
		edit(&m)
	}
	return m
}

func template(ns, name string, metrics ...v1alpha1.Metric) *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: metrics}}
}

func openEnded(m *v1alpha1.Metric) { m.Interval = "1s" }

func hasPause(ro *v1alpha1.Rollout, r v1alpha1.PauseReason) bool {
	for _, c := range ro.Status.PauseConditions {
		if c.Reason == r {
			return true
		}
	}
	return false
}

func expectWarning(t *testing.T, env *testenv.Env, ns, name, reason, text string) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		var seen []string
		for _, e := range warningEvents(t, env, ns, name) {
			if e.Reason == reason && strings.Contains(e.Message, text) {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, fmt.Sprintf("no Warning %s mentioning %q among %q", reason, text, seen)
	})
}

// #9: an Inconclusive metric ends its run at once, stopping an open-ended
// metric beside it (which used to keep the run Running for ever).
func TestInconclusiveMetricEndsTheRun(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	a := newAnswers(t)
	a.set("live", "ok")
	start := time.Now()
	create(t, env, analysisRun(ns, "mixed", a.metric("live", openEnded), a.metric("nodata", nil)))
	run := waitRun(t, env, ns, "mixed", v1alpha1.AnalysisPhaseInconclusive, 15*time.Second)
	t.Logf("run ended Inconclusive %v after creation: %s", time.Since(start).Round(time.Millisecond), run.Status.Message)
	for _, r := range run.Status.MetricResults {
		switch r.Name {
		case "nodata":
			if r.Phase != v1alpha1.AnalysisPhaseInconclusive {
				t.Fatalf("nodata: %+v", r)
			}
		case "live":
			if r.Phase != v1alpha1.AnalysisPhaseSuccessful || !strings.HasPrefix(r.Message, analysis.TerminatedMessage) {
				t.Fatalf("the open-ended metric must be stopped, saying so: %+v", r)
			}
		}
	}
	if !strings.Contains(run.Status.Message, `"nodata"`) {
		t.Fatalf("the run's message should name the metric that decided it: %q", run.Status.Message)
	}
}

// #9: a background run that ends Inconclusive pauses the Rollout where it is
// (it used to abort, or, beside an open-ended metric, to be lost); promote
// starts a fresh run and the update goes on.
func TestBackgroundInconclusivePauses(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	a := newAnswers(t)
	a.set("live", "ok")
	create(t, env, template(ns, "bg", a.metric("live", openEnded), a.metric("nodata", openEnded)))
	ro := templateRollout(ns, "web", "web:1", 5, []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))}, {Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("3s"))}}, {SetWeight: ptr(int32(60))},
	})
	ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "bg"}}}}
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)

	bump(t, env, ro, "web:2")
	var got *v1alpha1.Rollout
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		got = getRollout(t, env, ns, "web")
		return got.Status.Phase == v1alpha1.RolloutPhasePaused && hasPause(got, v1alpha1.PauseReasonInconclusiveAnalysis),
			fmt.Sprintf("%s %q %+v", got.Status.Phase, got.Status.Message, got.Status.PauseConditions)
	})
	step := *got.Status.CurrentStepIndex
	rss := replicaSets(t, env, ns, "web")
	held := rss[got.Status.CurrentPodHash].Spec
	// Held: nothing moves while it waits for a person.
	time.Sleep(5 * time.Second)
	got = getRollout(t, env, ns, "web")
	if got.Status.Phase != v1alpha1.RolloutPhasePaused || *got.Status.CurrentStepIndex != step || got.Status.StableRS == got.Status.CurrentPodHash ||
		replicaSets(t, env, ns, "web")[got.Status.CurrentPodHash].Spec != held {
		t.Fatalf("a paused update must stay where it is (step %d, %d canary pods): %s step %d %s", step, held,
			got.Status.Phase, *got.Status.CurrentStepIndex, describeRS(replicaSets(t, env, ns, "web")))
	}
	expectWarning(t, env, ns, "web", "AnalysisInconclusive", "background AnalysisRun")
	t.Logf("paused at step %d with %d canary pods: %s", step, held, got.Status.Message)

	// Data arrives; a person promotes: a fresh run measures and the update completes.
	a.set("nodata", "ok")
	promote(t, env, ns, "web")
	done := expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
	runs := analysisRuns(t, env, ns)
	var names []string
	for _, r := range runs {
		names = append(names, fmt.Sprintf("%s=%s(superseded=%s)", r.Name, r.Status.Phase, r.Annotations["sluice.dev/superseded"]))
	}
	if len(runs) != 2 || !strings.Contains(strings.Join(names, " "), ".1=") {
		t.Fatalf("want the inconclusive run kept and a fresh <name>.1 after promote: %v", names)
	}
	t.Logf("completed to %s; runs %v", done.Status.StableRS, names)
}

// #9: a background run that ends Failed aborts the update.
// #10: background analysis runs for a canary without steps, and fails closed:
// a run that cannot start holds the update before a single pod is scaled.
func TestBackgroundAnalysisWithoutStepsFailsClosed(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	a := newAnswers(t)
	ro := templateRollout(ns, "nosteps", "app:1", 5, nil)
	ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}}
	create(t, env, ro)
	expectCanary(t, env, ns, "nosteps", 5, 0, v1alpha1.RolloutPhaseHealthy, -1)

	bump(t, env, ro, "app:2")
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "nosteps")
		return r.Status.Phase == v1alpha1.RolloutPhaseDegraded && strings.Contains(r.Status.Message, `AnalysisTemplate "health"`), r.Status.Message
	})
	time.Sleep(3 * time.Second)
	got := getRollout(t, env, ns, "nosteps")
	rss := replicaSets(t, env, ns, "nosteps")
	if rss[got.Status.StableRS].Spec != 5 || (len(rss) > 1 && rss[got.Status.CurrentPodHash].Spec != 0) {
		t.Fatalf("no pod of the new version may be scaled while its background analysis cannot start: %s", describeRS(rss))
	}
	expectWarning(t, env, ns, "nosteps", "AnalysisTemplateNotFound", "health")

	// The template appears, and says the new version is bad: the run
	// starts, fails, and the update is aborted back to stable.
	a.set("health", "bad")
	create(t, env, template(ns, "health", a.metric("health", openEnded)))
	got = expectCanary(t, env, ns, "nosteps", 0, 5, v1alpha1.RolloutPhaseDegraded, -1)
	if !strings.Contains(got.Status.Message, "background AnalysisRun") || !strings.Contains(got.Status.Message, "Failed") {
		t.Fatalf("abort should name the background run: %q", got.Status.Message)
	}
	t.Logf("aborted: %s", got.Status.Message)

	// A good version with a passing background run completes; the run is
	// terminated when the update completes.
	a.set("health", "ok")
	bump(t, env, ro, "app:3")
	got = expectCanary(t, env, ns, "nosteps", 5, 0, v1alpha1.RolloutPhaseHealthy, -1)
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		for _, r := range analysisRuns(t, env, ns) {
			if strings.Contains(r.Name, got.Status.StableRS) {
				return r.Status.Phase == v1alpha1.AnalysisPhaseSuccessful && r.Annotations["sluice.dev/superseded"] != "", r.Name + " " + string(r.Status.Phase)
			}
		}
		return false, "no background run for " + got.Status.StableRS
	})
}

// #11: terminating a step's run by hand is not evidence: the Rollout pauses,
// saying so, and moves on only when a person promotes.
func TestTerminatedStepRunIsNotEvidence(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	a := newAnswers(t)
	a.set("live", "ok")
	create(t, env, template(ns, "live", a.metric("live", openEnded)))
	ro := templateRollout(ns, "web", "web:1", 5, []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "live"}}}},
		{SetWeight: ptr(int32(60))},
	})
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
	bump(t, env, ro, "web:2")
	got := expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhaseProgressing, 1)
	name := got.Status.Canary.CurrentStepAnalysisRunStatus.Name
	// ArgoCD's "terminate" action on the AnalysisRun.
	patchSpec(t, env, &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, `{"spec":{"terminate":true}}`)
	run := waitRun(t, env, ns, name, v1alpha1.AnalysisPhaseSuccessful, 15*time.Second)
	t.Logf("terminated run: %s %q", run.Status.Phase, run.Status.Message)
	got = expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if !hasPause(got, v1alpha1.PauseReasonInconclusiveAnalysis) {
		t.Fatalf("want an InconclusiveAnalysisRun pause, have %+v", got.Status.PauseConditions)
	}
	expectWarning(t, env, ns, "web", "AnalysisInconclusive", "was terminated")
	time.Sleep(3 * time.Second)
	if got = getRollout(t, env, ns, "web"); got.Status.Phase != v1alpha1.RolloutPhasePaused || *got.Status.CurrentStepIndex != 1 {
		t.Fatalf("the terminated run must not let the step pass: %s step %d", got.Status.Phase, *got.Status.CurrentStepIndex)
	}
	promote(t, env, ns, "web")
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 3)
}

// #12: upstream's analysis semantics, and conditions compiled up front.
func TestAnalysisParity(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	a := newAnswers(t)

	t.Run("a condition that does not compile stops the Rollout naming the field", func(t *testing.T) {
		create(t, env, template(ns, "broken", a.metric("x", func(m *v1alpha1.Metric) { m.SuccessCondition = "result[0] <" })))
		ro := templateRollout(ns, "broken", "b:1", 2, []v1alpha1.CanaryStep{{SetWeight: ptr(int32(50))},
			{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "broken"}}}}})
		create(t, env, ro)
		expectCanary(t, env, ns, "broken", 2, 0, v1alpha1.RolloutPhaseHealthy, 2)
		bump(t, env, ro, "b:2")
		testenv.Eventually(t, 15*time.Second, func() (bool, string) {
			r := getRollout(t, env, ns, "broken")
			return r.Status.Phase == v1alpha1.RolloutPhaseDegraded && strings.Contains(r.Status.Message, "spec.metrics[0].successCondition"), r.Status.Message
		})
		if runs := analysisRuns(t, env, ns); len(runs) != 0 {
			t.Fatalf("no run may be created from an invalid template, have %d", len(runs))
		}
		t.Logf("%s", getRollout(t, env, ns, "broken").Status.Message)
	})

	t.Run("failureLimit -1 with consecutiveSuccessLimit; count excludes errors; errors retried after 10s", func(t *testing.T) {
		a.set("flaky", "bad")
		create(t, env, analysisRun(ns, "csl", a.metric("flaky", func(m *v1alpha1.Metric) {
			m.Interval, m.FailureLimit, m.ConsecutiveSuccessLimit = "500ms", ptr(intstr.FromInt32(-1)), ptr(intstr.FromInt32(2))
		})))
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			r := waitRun(t, env, ns, "csl", v1alpha1.AnalysisPhaseRunning, 5*time.Second)
			return len(r.Status.MetricResults) == 1 && r.Status.MetricResults[0].Failed >= 3, "waiting for 3 failures"
		})
		a.set("flaky", "ok")
		run := waitRun(t, env, ns, "csl", v1alpha1.AnalysisPhaseSuccessful, 10*time.Second)
		res := run.Status.MetricResults[0]
		if res.ConsecutiveSuccess != 2 || res.Failed < 3 {
			t.Fatalf("want Successful after 2 consecutive successes despite %d failures: %+v", res.Failed, res)
		}

		a.set("counted", "garbage")
		create(t, env, analysisRun(ns, "count", a.metric("counted", func(m *v1alpha1.Metric) { m.Interval, m.Count = "1s", ptr(intstr.FromInt32(2)) })))
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			r := waitRun(t, env, ns, "count", v1alpha1.AnalysisPhaseRunning, 5*time.Second)
			return len(r.Status.MetricResults) == 1 && r.Status.MetricResults[0].Error == 1, "waiting for an Error measurement"
		})
		a.set("counted", "ok")
		run = waitRun(t, env, ns, "count", v1alpha1.AnalysisPhaseSuccessful, 30*time.Second)
		res = run.Status.MetricResults[0]
		ms := res.Measurements
		if res.Count != 2 || res.Error != 1 || len(ms) != 3 || ms[0].Phase != v1alpha1.AnalysisPhaseError {
			t.Fatalf("want count 2 (the Error not counted), error 1, 3 measurements: %+v", res)
		}
		gap := ms[1].StartedAt.Sub(ms[0].FinishedAt.Time)
		if gap < 9*time.Second {
			t.Fatalf("an Error must be retried after 10s, not the 1s interval: retried after %v", gap)
		}
		t.Logf("count %d, error %d, retry after an Error: %v", res.Count, res.Error, gap)
	})
}

// #13: each Job measurement has exactly one Job, and none is recorded as an
// Error because the cache had not seen its Job yet.
func TestJobMeasurementsOneJobEach(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	spec := batchv1.JobSpec{BackoffLimit: ptr(int32(0)), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "check", Image: "busybox"}}}}}
	create(t, env, analysisRun(ns, "jobs", v1alpha1.Metric{Name: "smoke", Interval: "1s", Count: ptr(intstr.FromInt32(3)),
		Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{Spec: spec}}}))
	run := waitRun(t, env, ns, "jobs", v1alpha1.AnalysisPhaseSuccessful, 60*time.Second)
	res := run.Status.MetricResults[0]
	if res.Error != 0 || res.Count != 3 {
		t.Fatalf("want 3 measurements and no Error: %+v", res)
	}
	var jobs batchv1.JobList
	if err := env.Client.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range res.Measurements {
		seen[m.Metadata["job-name"]] = true
	}
	if len(jobs.Items) != 3 || len(seen) != 3 {
		t.Fatalf("want exactly one Job per measurement (3), have %d Jobs for %d measurements", len(jobs.Items), len(seen))
	}
}
