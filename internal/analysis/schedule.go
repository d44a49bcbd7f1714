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
	// ErrorRetry is how soon a measurement that errored is retried, when the
	// metric's interval is longer.
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

// Assess decides a metric's verdict from its measurements so far, and
// whether a measurement is due. It is pure.
func Assess(m *v1alpha1.Metric, r *v1alpha1.MetricResult, started, now time.Time, terminate bool) (Next, error) {
	failureLimit, err := limit(m.FailureLimit, 0, "failureLimit")
	if err != nil {
		return Next{}, err
	}
	inconclusiveLimit, err := limit(m.InconclusiveLimit, 0, "inconclusiveLimit")
	if err != nil {
		return Next{}, err
	}
	errorLimit, err := limit(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit, "consecutiveErrorLimit")
	if err != nil {
		return Next{}, err
	}
	count, err := limit(m.Count, 0, "count")
	if err != nil {
		return Next{}, err
	}
	interval, err := duration(m.Interval, "interval")
	if err != nil {
		return Next{}, err
	}
	delay, err := duration(m.InitialDelay, "initialDelay")
	if err != nil {
		return Next{}, err
	}
	if count == 0 && interval == 0 {
		count = 1
	}
	switch {
	case r.Failed > failureLimit:
		return done(v1alpha1.AnalysisPhaseFailed, "Metric %q assessed Failed due to failed (%d) > failureLimit (%d)", m.Name, r.Failed, failureLimit), nil
	case r.ConsecutiveError > errorLimit:
		return done(v1alpha1.AnalysisPhaseError, "Metric %q assessed Error due to consecutiveErrors (%d) > consecutiveErrorLimit (%d): %q",
			m.Name, r.ConsecutiveError, errorLimit, lastMessage(r)), nil
	case r.Inconclusive > inconclusiveLimit:
		return done(v1alpha1.AnalysisPhaseInconclusive, "Metric %q assessed Inconclusive due to inconclusive (%d) > inconclusiveLimit (%d): %q",
			m.Name, r.Inconclusive, inconclusiveLimit, lastMessage(r)), nil
	case count > 0 && r.Count-r.Error >= count:
		return done(v1alpha1.AnalysisPhaseSuccessful, "Metric %q assessed Successful: %d measurements", m.Name, r.Count-r.Error), nil
	case terminate:
		return done(v1alpha1.AnalysisPhaseSuccessful, "Metric %q terminated: run was terminated", m.Name), nil
	}
	n := Next{Phase: v1alpha1.AnalysisPhaseRunning}
	last := lastMeasurement(r)
	switch {
	case last == nil:
		n.At = started.Add(delay)
	case last.Phase == v1alpha1.AnalysisPhaseRunning:
		return n, nil // in flight: the provider resumes it
	case last.Phase == v1alpha1.AnalysisPhaseError:
		retry := ErrorRetry
		if interval > 0 && interval < retry {
			retry = interval
		}
		n.At = finished(last).Add(retry)
	default:
		n.At = finished(last).Add(interval)
	}
	n.MeasureNow = !now.Before(n.At)
	return n, nil
}

func done(p v1alpha1.AnalysisPhase, format string, args ...any) Next {
	return Next{Phase: p, Message: fmt.Sprintf(format, args...)}
}

// Record adds a finished (or in-flight) measurement to r and updates its counters.
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
	r.Count++
	switch m.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		r.Successful++
	case v1alpha1.AnalysisPhaseFailed:
		r.Failed++
	case v1alpha1.AnalysisPhaseInconclusive:
		r.Inconclusive++
	case v1alpha1.AnalysisPhaseError:
		r.Error++
	}
	if m.Phase == v1alpha1.AnalysisPhaseError {
		r.ConsecutiveError++
	} else {
		r.ConsecutiveError = 0
	}
	if retention <= 0 {
		retention = DefaultRetention
	}
	if over := len(r.Measurements) - int(retention); over > 0 {
		r.Measurements = append([]v1alpha1.Measurement(nil), r.Measurements[over:]...)
	}
}

// RunPhase is a run's verdict from its metrics' verdicts: any Failed →
// Failed, else any Error → Error, else (when all are done) any Inconclusive
// → Inconclusive, else Successful. Dry-run metrics never decide it.
func RunPhase(results []v1alpha1.MetricResult, metrics int) (v1alpha1.AnalysisPhase, string) {
	var inconclusive, errored *v1alpha1.MetricResult
	completed := 0
	for i := range results {
		r := &results[i]
		if r.Phase.Completed() {
			completed++
		}
		if r.DryRun {
			continue
		}
		switch r.Phase {
		case v1alpha1.AnalysisPhaseFailed:
			return r.Phase, r.Message
		case v1alpha1.AnalysisPhaseError:
			errored = r
		case v1alpha1.AnalysisPhaseInconclusive:
			inconclusive = r
		}
	}
	switch {
	case errored != nil:
		return errored.Phase, errored.Message
	case completed < metrics:
		return v1alpha1.AnalysisPhaseRunning, ""
	case inconclusive != nil:
		return inconclusive.Phase, inconclusive.Message
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

func limit(v *intstr.IntOrString, def int32, field string) (int32, error) {
	if v == nil {
		return def, nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, fmt.Errorf("%s must be >= 0, is %d", field, v.IntVal)
		}
		return v.IntVal, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.StrVal), 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative integer, is %q", field, v.StrVal)
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
