package analysis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Defaults, as upstream.
const (
	DefaultConsecutiveErrorLimit = 4
	// ErrorRetry is how soon a measurement that errored is retried,
	// whatever the metric's interval (as upstream).
	ErrorRetry = 10 * time.Second
	// DefaultRetention is how many measurements of a metric are kept.
	DefaultRetention = 10
)

// Next is what to do about one metric now.
type Next struct {
	MeasureNow bool
	At         time.Time // when the next measurement is due (zero: none)
	Phase      v1alpha1.AnalysisPhase
	Message    string
}

// TerminatedMessage starts the message of a metric or run that ended
// because it was terminated (spec.terminate, or another metric decided the
// run) rather than by its own measurements.
const TerminatedMessage = "Run Terminated"

// Limits are a metric's parsed limits, defaults applied.
type Limits struct {
	Failure, Inconclusive, ConsecutiveError, ConsecutiveSuccess, Count int32
	Interval, InitialDelay                                             time.Duration
}

// ParseLimits reads a metric's limits and durations, with upstream's rules:
// failureLimit may be -1 (disabled) only when consecutiveSuccessLimit is
// set; without count and interval the metric is measured once.
func ParseLimits(m *v1alpha1.Metric) (Limits, error) {
	var l Limits
	var err error
	for _, f := range []struct {
		v     *intstr.IntOrString
		def   int32
		min   int32
		field string
		out   *int32
	}{
		{m.FailureLimit, 0, -1, "failureLimit", &l.Failure},
		{m.InconclusiveLimit, 0, 0, "inconclusiveLimit", &l.Inconclusive},
		{m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit, 0, "consecutiveErrorLimit", &l.ConsecutiveError},
		{m.ConsecutiveSuccessLimit, 0, 0, "consecutiveSuccessLimit", &l.ConsecutiveSuccess},
		{m.Count, 0, 0, "count", &l.Count},
	} {
		if *f.out, err = limit(f.v, f.def, f.min, f.field); err != nil {
			return l, err
		}
	}
	if l.Failure < 0 && l.ConsecutiveSuccess == 0 {
		return l, fmt.Errorf("failureLimit -1 (disabled) needs consecutiveSuccessLimit > 0: otherwise nothing can end the metric")
	}
	if l.Interval, err = duration(m.Interval, "interval"); err != nil {
		return l, err
	}
	if l.InitialDelay, err = duration(m.InitialDelay, "initialDelay"); err != nil {
		return l, err
	}
	if l.Count == 0 && l.Interval == 0 {
		l.Count = 1
	}
	return l, nil
}

// Assess decides a metric's verdict from its measurements so far, and
// whether a measurement is due. It is pure. terminating says the run is
// ending (spec.terminate, or another metric already decided it): a metric
// not decided by its own limits then ends Successful with TerminatedMessage,
// as upstream.
//
// The limits are judged in upstream's order, the later winning when several
// are past: failureLimit (unless -1), then inconclusiveLimit, then
// consecutiveErrorLimit; then consecutiveSuccessLimit reached is Successful;
// then count reached (count excludes Error measurements) is Successful, or,
// when consecutiveSuccessLimit is set and was not reached, Inconclusive
// (failureLimit >= 0) or Failed (failureLimit -1).
func Assess(m *v1alpha1.Metric, r *v1alpha1.MetricResult, started, now time.Time, terminating bool) (Next, error) {
	l, err := ParseLimits(m)
	if err != nil {
		return Next{}, err
	}
	last := lastMeasurement(r)
	inFlight := last != nil && last.Phase == v1alpha1.AnalysisPhaseRunning
	var bad Next
	if !inFlight {
		if l.Failure >= 0 && r.Failed > l.Failure {
			bad = done(v1alpha1.AnalysisPhaseFailed, "Metric %q assessed Failed due to failed (%d) > failureLimit (%d)", m.Name, r.Failed, l.Failure)
		}
		if r.Inconclusive > l.Inconclusive {
			bad = done(v1alpha1.AnalysisPhaseInconclusive, "Metric %q assessed Inconclusive due to inconclusive (%d) > inconclusiveLimit (%d): %q",
				m.Name, r.Inconclusive, l.Inconclusive, lastMessage(r))
		}
		if r.ConsecutiveError > l.ConsecutiveError {
			bad = done(v1alpha1.AnalysisPhaseError, "Metric %q assessed Error due to consecutiveErrors (%d) > consecutiveErrorLimit (%d): %q",
				m.Name, r.ConsecutiveError, l.ConsecutiveError, lastMessage(r))
		}
	}
	switch {
	case bad.Phase != "":
		return bad, nil
	case inFlight && !terminating:
		return Next{Phase: v1alpha1.AnalysisPhaseRunning}, nil // the provider resumes it
	case l.ConsecutiveSuccess > 0 && r.ConsecutiveSuccess >= l.ConsecutiveSuccess:
		return done(v1alpha1.AnalysisPhaseSuccessful, "Metric %q assessed Successful: %d consecutive successful measurements (consecutiveSuccessLimit %d)",
			m.Name, r.ConsecutiveSuccess, l.ConsecutiveSuccess), nil
	case l.Count > 0 && r.Count >= l.Count && l.ConsecutiveSuccess > 0 && l.Failure >= 0:
		return done(v1alpha1.AnalysisPhaseInconclusive, "Metric %q assessed Inconclusive: count (%d) reached without %d consecutive successes "+
			"(consecutiveSuccessLimit) and without passing failureLimit (%d)", m.Name, l.Count, l.ConsecutiveSuccess, l.Failure), nil
	case l.Count > 0 && r.Count >= l.Count && l.ConsecutiveSuccess > 0:
		return done(v1alpha1.AnalysisPhaseFailed, "Metric %q assessed Failed: count (%d) reached without %d consecutive successes (consecutiveSuccessLimit)",
			m.Name, l.Count, l.ConsecutiveSuccess), nil
	case l.Count > 0 && r.Count >= l.Count:
		return done(v1alpha1.AnalysisPhaseSuccessful, "Metric %q assessed Successful: %d measurements", m.Name, r.Count), nil
	case terminating:
		return done(v1alpha1.AnalysisPhaseSuccessful, "%s: metric %q stopped after %d measurements", TerminatedMessage, m.Name, r.Count), nil
	}
	n := Next{Phase: v1alpha1.AnalysisPhaseRunning}
	switch {
	case last == nil:
		n.At = started.Add(l.InitialDelay)
	case last.Phase == v1alpha1.AnalysisPhaseError:
		n.At = finished(last).Add(ErrorRetry) // as upstream, whatever the interval
	default:
		n.At = finished(last).Add(l.Interval)
	}
	n.MeasureNow = !now.Before(n.At)
	return n, nil
}

func done(p v1alpha1.AnalysisPhase, format string, args ...any) Next {
	return Next{Phase: p, Message: fmt.Sprintf(format, args...)}
}

// Record adds a finished (or in-flight) measurement to r and updates its
// counters as upstream does: count is of measurements that returned a value
// (Error ones are counted apart, in error and consecutiveError).
// replace says m replaces the last (in-flight) measurement.
func Record(r *v1alpha1.MetricResult, m v1alpha1.Measurement, replace bool, retention int32) {
	if replace && len(r.Measurements) > 0 {
		r.Measurements[len(r.Measurements)-1] = m
	} else {
		r.Measurements = append(r.Measurements, m)
	}
	if m.Phase == v1alpha1.AnalysisPhaseRunning {
		return
	}
	if m.Phase != v1alpha1.AnalysisPhaseError {
		r.Count++
		r.ConsecutiveError = 0
	}
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		r.ConsecutiveSuccess = 0
	}
	switch m.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		r.Successful++
		r.ConsecutiveSuccess++
	case v1alpha1.AnalysisPhaseFailed:
		r.Failed++
	case v1alpha1.AnalysisPhaseInconclusive:
		r.Inconclusive++
	case v1alpha1.AnalysisPhaseError:
		r.Error++
		r.ConsecutiveError++
	}
	if retention <= 0 {
		retention = DefaultRetention
	}
	if over := len(r.Measurements) - int(retention); over > 0 {
		r.Measurements = append([]v1alpha1.Measurement(nil), r.Measurements[over:]...)
	}
}

// Decided reports whether a metric that is not a dry run has ended Failed,
// Error or Inconclusive: the run then ends at once, as upstream, and its
// other metrics are stopped (terminated).
func Decided(results []v1alpha1.MetricResult) bool {
	for _, r := range results {
		if !r.DryRun && r.Phase.Completed() && r.Phase != v1alpha1.AnalysisPhaseSuccessful {
			return true
		}
	}
	return false
}

// RunPhase is a run's verdict from its metrics' verdicts: the worst of
// them (Failed, then Error, then Inconclusive) as soon as one metric has one
// of those, else Running until every metric is done, else Successful. Dry-run
// metrics never decide it.
func RunPhase(results []v1alpha1.MetricResult, metrics int) (v1alpha1.AnalysisPhase, string) {
	rank := map[v1alpha1.AnalysisPhase]int{v1alpha1.AnalysisPhaseInconclusive: 1, v1alpha1.AnalysisPhaseError: 2, v1alpha1.AnalysisPhaseFailed: 3}
	var worst *v1alpha1.MetricResult
	completed := 0
	for i := range results {
		r := &results[i]
		if r.Phase.Completed() {
			completed++
		}
		if !r.DryRun && rank[r.Phase] > 0 && (worst == nil || rank[r.Phase] > rank[worst.Phase]) {
			worst = r
		}
	}
	switch {
	case worst != nil:
		return worst.Phase, worst.Message
	case completed < metrics:
		return v1alpha1.AnalysisPhaseRunning, ""
	}
	return v1alpha1.AnalysisPhaseSuccessful, ""
}

func lastMeasurement(r *v1alpha1.MetricResult) *v1alpha1.Measurement {
	if len(r.Measurements) == 0 {
		return nil
	}
	return &r.Measurements[len(r.Measurements)-1]
}

func lastMessage(r *v1alpha1.MetricResult) string {
	if m := lastMeasurement(r); m != nil {
		return m.Message
	}
	return ""
}

func finished(m *v1alpha1.Measurement) time.Time {
	if m.FinishedAt != nil {
		return m.FinishedAt.Time
	}
	if m.StartedAt != nil {
		return m.StartedAt.Time
	}
	return time.Time{}
}

func limit(v *intstr.IntOrString, def, lowest int32, field string) (int32, error) {
	if v == nil {
		return def, nil
	}
	n := int64(v.IntVal)
	if v.Type != intstr.Int {
		var err error
		if n, err = strconv.ParseInt(strings.TrimSpace(v.StrVal), 10, 32); err != nil {
			return 0, fmt.Errorf("%s must be an integer, is %q", field, v.StrVal)
		}
	}
	if n < int64(lowest) {
		if lowest < 0 {
			return 0, fmt.Errorf("%s must be >= 0, or -1 to disable it; is %d", field, n)
		}
		return 0, fmt.Errorf("%s must be >= 0, is %d", field, n)
	}
	return int32(n), nil
}

func duration(d v1alpha1.DurationString, field string) (time.Duration, error) {
	if d == "" {
		return 0, nil
	}
	v, err := time.ParseDuration(string(d))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s %q is not a duration like 30s or 5m", field, d)
	}
	return v, nil
}
