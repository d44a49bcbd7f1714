package analysis

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func ip(v int32) *intstr.IntOrString { x := intstr.FromInt32(v); return &x }

// measureAll feeds phases one measurement at a time, honouring the schedule,
// and returns the metric's verdict and the times measurements were taken.
func measureAll(t *testing.T, m v1alpha1.Metric, phases []v1alpha1.AnalysisPhase) (Next, []time.Duration) {
	t.Helper()
	start := time.Unix(1000, 0)
	now := start
	var r v1alpha1.MetricResult
	var at []time.Duration
	for i := 0; i < 100; i++ {
		n, err := Assess(&m, &r, start, now, false)
		if err != nil {
			t.Fatal(err)
		}
		if n.Phase.Completed() {
			return n, at
		}
		if !n.MeasureNow {
			now = n.At
			continue
		}
		p := phases[min(len(at), len(phases)-1)]
		ts := metav1.NewTime(now)
		Record(&r, v1alpha1.Measurement{Phase: p, StartedAt: &ts, FinishedAt: &ts}, false, 0)
		at = append(at, now.Sub(start))
	}
	t.Fatal("metric never completed")
	return Next{}, nil
}

func TestAssess(t *testing.T) {
	S, F, I, E := v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseInconclusive, v1alpha1.AnalysisPhaseError
	seed := v1alpha1.Metric{Name: "error-rate", Interval: "1m", Count: ip(5), InconclusiveLimit: ip(3)}
	for _, tc := range []struct {
		name   string
		metric v1alpha1.Metric
		phases []v1alpha1.AnalysisPhase
		want   v1alpha1.AnalysisPhase
		msg    string
		times  []time.Duration
	}{
		{"seed: 5 good measurements a minute apart", seed, []v1alpha1.AnalysisPhase{S}, S, "5 measurements",
			[]time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute}},
		{"seed: 4 inconclusive > limit 3", seed, []v1alpha1.AnalysisPhase{I}, I, "inconclusive (4) > inconclusiveLimit (3)", nil},
		{"one failure > failureLimit 0", seed, []v1alpha1.AnalysisPhase{S, F}, F, "failed (1) > failureLimit (0)", nil},
		{"errors retry after 10s, abort after 5 (> limit 4)", seed, []v1alpha1.AnalysisPhase{E}, E, "consecutiveErrors (5) > consecutiveErrorLimit (4)",
			[]time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second}},
		{"errors that recover do not count toward count", seed, []v1alpha1.AnalysisPhase{E, S}, S, "5 measurements", nil},
		{"no interval, no count: one measurement", v1alpha1.Metric{Name: "m"}, []v1alpha1.AnalysisPhase{S}, S, "1 measurements", []time.Duration{0}},
		{"initialDelay", v1alpha1.Metric{Name: "m", InitialDelay: "30s"}, []v1alpha1.AnalysisPhase{S}, S, "", []time.Duration{30 * time.Second}},
		// Parity with upstream (issue 16 #12).
		{"failureLimit -1 with consecutiveSuccessLimit: failures never fail it",
			v1alpha1.Metric{Name: "m", Interval: "1s", FailureLimit: ip(-1), ConsecutiveSuccessLimit: ip(2)},
			[]v1alpha1.AnalysisPhase{F, F, F, F, F, F, S, F, S, S}, S, "2 consecutive successful", nil},
		{"consecutiveSuccessLimit reached before count", v1alpha1.Metric{Name: "m", Interval: "1s", Count: ip(10), ConsecutiveSuccessLimit: ip(3), FailureLimit: ip(5)},
			[]v1alpha1.AnalysisPhase{S, F, S, S, S}, S, "3 consecutive", []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}},
		{"count reached without consecutive successes, failureLimit not passed: Inconclusive",
			v1alpha1.Metric{Name: "m", Interval: "1s", Count: ip(4), ConsecutiveSuccessLimit: ip(3), FailureLimit: ip(2)},
			[]v1alpha1.AnalysisPhase{S, F, S, S}, I, "count (4) reached without 3 consecutive", nil},
		{"count reached without consecutive successes, failureLimit -1: Failed",
			v1alpha1.Metric{Name: "m", Interval: "1s", Count: ip(4), ConsecutiveSuccessLimit: ip(3), FailureLimit: ip(-1)},
			[]v1alpha1.AnalysisPhase{S, F, S, S}, F, "count (4) reached without 3 consecutive", nil},
		{"errors are not counted in count: 2 good needs 2 answers, not 2 tries", v1alpha1.Metric{Name: "m", Interval: "1s", Count: ip(2)},
			[]v1alpha1.AnalysisPhase{E, S, E, S}, S, "2 measurements", []time.Duration{0, 10 * time.Second, 11 * time.Second, 21 * time.Second}},
		{"an Error is retried after 10s even with a 1s interval", v1alpha1.Metric{Name: "m", Interval: "1s", Count: ip(2)},
			[]v1alpha1.AnalysisPhase{S, E, S}, S, "", []time.Duration{0, time.Second, 11 * time.Second}},
		{"failed and inconclusive both past their limits: Inconclusive is judged after Failed",
			v1alpha1.Metric{Name: "m", Interval: "1s", Count: ip(5), InconclusiveLimit: ip(0), FailureLimit: ip(0)},
			[]v1alpha1.AnalysisPhase{F}, F, "failed (1)", nil},
		{"count as a string", v1alpha1.Metric{Name: "m", Interval: "1s", Count: &intstr.IntOrString{Type: intstr.String, StrVal: "2"}}, []v1alpha1.AnalysisPhase{S}, S, "2 measurements", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, at := measureAll(t, tc.metric, tc.phases)
			if n.Phase != tc.want || !strings.Contains(n.Message, tc.msg) {
				t.Fatalf("got %s %q, want %s containing %q", n.Phase, n.Message, tc.want, tc.msg)
			}
			if tc.times != nil && len(at) != len(tc.times) {
				t.Fatalf("measured at %v, want %v", at, tc.times)
			}
			for i := range tc.times {
				if at[i] != tc.times[i] {
					t.Fatalf("measured at %v, want %v", at, tc.times)
				}
			}
		})
	}
	// Several limits past at once: the later in upstream's order wins.
	both := v1alpha1.MetricResult{Count: 6, Failed: 2, Inconclusive: 2, ConsecutiveError: 5, Error: 5}
	if n, _ := Assess(&v1alpha1.Metric{Name: "m", Interval: "1s"}, &both, time.Now(), time.Now(), false); n.Phase != E {
		t.Fatalf("failed, inconclusive and errors past their limits: want Error (judged last), got %s", n.Phase)
	}
	both.ConsecutiveError = 0
	if n, _ := Assess(&v1alpha1.Metric{Name: "m", Interval: "1s"}, &both, time.Now(), time.Now(), false); n.Phase != I {
		t.Fatalf("failed and inconclusive past their limits: want Inconclusive (judged after Failed), got %s", n.Phase)
	}
	// Terminating: an open-ended metric ends Successful, saying it was terminated.
	if n, _ := Assess(&v1alpha1.Metric{Name: "m", Interval: "1s"}, &v1alpha1.MetricResult{Count: 1, Successful: 1}, time.Now(), time.Now(), true); n.Phase != S || !strings.HasPrefix(n.Message, TerminatedMessage) {
		t.Fatalf("terminated open-ended metric: %+v", n)
	}
	for _, m := range []v1alpha1.Metric{{Name: "m", FailureLimit: ip(-1)}, {Name: "m", FailureLimit: ip(-2), ConsecutiveSuccessLimit: ip(1)}} {
		if _, err := Assess(&m, &v1alpha1.MetricResult{}, time.Now(), time.Now(), false); err == nil || !strings.Contains(err.Error(), "failureLimit") {
			t.Fatalf("%+v must be refused naming failureLimit, got %v", m, err)
		}
	}
	if _, err := Assess(&v1alpha1.Metric{Name: "m", Count: &intstr.IntOrString{Type: intstr.String, StrVal: "{{args.n}}"}},
		&v1alpha1.MetricResult{}, time.Now(), time.Now(), false); err == nil || !strings.Contains(err.Error(), "count") {
		t.Fatalf("an unfilled placeholder must be an error naming count, got %v", err)
	}
}

func TestRunPhase(t *testing.T) {
	r := func(p v1alpha1.AnalysisPhase, dry bool) v1alpha1.MetricResult {
		return v1alpha1.MetricResult{Phase: p, DryRun: dry}
	}
	S, F, I, E, R := v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseInconclusive, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseRunning
	for _, tc := range []struct {
		in   []v1alpha1.MetricResult
		n    int
		want v1alpha1.AnalysisPhase
	}{
		{[]v1alpha1.MetricResult{r(S, false), r(S, false)}, 2, S},
		{[]v1alpha1.MetricResult{r(S, false), r(R, false)}, 2, R},
		{[]v1alpha1.MetricResult{r(F, false), r(R, false)}, 2, F},
		{[]v1alpha1.MetricResult{r(E, false), r(R, false)}, 2, E},
		// An Inconclusive metric ends the run at once, as upstream (issue 16 #9).
		{[]v1alpha1.MetricResult{r(I, false), r(R, false)}, 2, I},
		{[]v1alpha1.MetricResult{r(I, false), r(E, false), r(R, false)}, 3, E},
		{[]v1alpha1.MetricResult{r(I, false), r(F, false), r(E, false)}, 3, F},
		{[]v1alpha1.MetricResult{r(I, true), r(R, false)}, 2, R},
		{[]v1alpha1.MetricResult{r(I, false), r(S, false)}, 2, I},
		{[]v1alpha1.MetricResult{r(S, false), r(F, true)}, 2, S},
		{[]v1alpha1.MetricResult{r(S, false)}, 2, R},
	} {
		if got, _ := RunPhase(tc.in, tc.n); got != tc.want {
			t.Errorf("%v: got %s want %s", tc.in, got, tc.want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	m := v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
		Address: "{{args.addr}}", Query: `rate(x{app="{{ args.app }}"}[1m])`}}}
	got, err := Substitute(m, map[string]string{"addr": "http://p:9090", "app": `a"b`})
	if err != nil || got.Provider.Prometheus.Address != "http://p:9090" || got.Provider.Prometheus.Query != `rate(x{app="a"b"}[1m])` {
		t.Fatalf("%v %+v", err, got.Provider.Prometheus)
	}
	if _, err := Substitute(m, map[string]string{"addr": "x"}); err == nil || !strings.Contains(err.Error(), `"app"`) {
		t.Fatalf("missing arg must name it: %v", err)
	}
}
