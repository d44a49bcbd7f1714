// Package provider takes measurements for analysis metrics: one file per
// source (prometheus.go, web.go, job.go), each behind the two-method
// Provider interface. A provider never panics on a bad answer: every failure
// to measure is an Error measurement with a message that says what happened.
package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/analysis"
	"github.com/sluice-dev/sluice/internal/validation"
)

// Provider takes measurements of one kind.
type Provider interface {
	// Run starts a measurement. Quick providers return it finished; slow ones
	// (job) return it Running, to be finished by Resume.
	Run(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement
	// Resume looks at a Running measurement again.
	Resume(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement
}

// Terminator is a Provider that must clean up a measurement still in flight
// when its run ends (the job provider deletes its Job).
type Terminator interface {
	Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, m v1alpha1.Measurement)
}

// For returns the provider for metric, or an error naming what is missing.
// reader reads without the cache (nil: c).
func For(metric *v1alpha1.Metric, c client.Client, reader client.Reader) (Provider, error) {
	if errs := validation.UnimplementedMetricFields(metric, field.NewPath("metric").Key(metric.Name)); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	p := metric.Provider
	switch {
	case p.Prometheus != nil:
		return Prometheus{}, nil
	case p.Web != nil:
		return Web{}, nil
	case p.Job != nil:
		return Job{Client: c, Reader: reader}, nil
	}
	return nil, fmt.Errorf("metric %q has no provider: set prometheus, web or job", metric.Name)
}

// Now is the clock of measurements; tests may replace it.
var Now = time.Now

func started() *metav1.Time { t := metav1.NewTime(Now()); return &t }

// errored is an Error measurement.
func errored(start *metav1.Time, format string, args ...any) v1alpha1.Measurement {
	return v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseError, Message: fmt.Sprintf(format, args...),
		StartedAt: start, FinishedAt: started()}
}

// judged is a measurement of value, judged against the metric's conditions.
func judged(start *metav1.Time, metric *v1alpha1.Metric, value any, empty bool) v1alpha1.Measurement {
	v := analysis.Judge(metric.SuccessCondition, metric.FailureCondition, value, empty)
	val := analysis.Format(value)
	if empty {
		val = "[]"
	}
	return v1alpha1.Measurement{Phase: v.Phase, Message: v.Message, Value: val, StartedAt: start, FinishedAt: started()}
}

// fetch makes one HTTP request with the metric's timeout and headers and
// reads at most 8 MiB of the answer.
func fetch(ctx context.Context, method, url string, body io.Reader, headers []v1alpha1.WebMetricHeader,
	insecure bool, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	for _, h := range headers {
		req.Header.Set(h.Key, h.Value)
	}
	resp, err := httpClient(insecure).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, raw, err
}
