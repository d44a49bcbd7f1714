package provider

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/analysis"
)

// Prometheus queries the Prometheus HTTP API (/api/v1/query), which
// VictoriaMetrics serves too. A vector result is the list of its sample
// values, so `result[0] < 0.05` reads the first; a scalar is the number.
type Prometheus struct{}

// Run queries now.
func (Prometheus) Run(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	start := started()
	p := metric.Provider.Prometheus
	timeout := 30 * time.Second
	if p.Timeout != nil && *p.Timeout > 0 {
		timeout = time.Duration(*p.Timeout) * time.Second
	}
	u, err := promURL(p, Now())
	if err != nil {
		return errored(start, "%v", err)
	}
	auth, err := authHeaders(ctx, p.Authentication, "provider.prometheus.authentication", p.Insecure, timeout)
	if err != nil {
		return errored(start, "%v", err)
	}
	status, body, err := fetch(ctx, http.MethodGet, u, nil, append(append([]v1alpha1.WebMetricHeader{}, p.Headers...), auth...), p.Insecure, timeout)
	if err != nil {
		return errored(start, "prometheus at %s unreachable: %v", p.Address, err)
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		forgetToken(p.Authentication)
		return errored(start, "prometheus at %s refused the query: HTTP %d (check provider.prometheus.authentication or headers): %s",
			p.Address, status, snippet(body))
	}
	values, empty, err := DecodePrometheus(status, body)
	if err != nil {
		return errored(start, "%v", err)
	}
	return judged(start, metric, values, empty)
}

// promURL is the instant query, or with rangeQuery the query_range over
// [start, end] by step, start and end evaluated at now.
func promURL(p *v1alpha1.PrometheusMetric, now time.Time) (string, error) {
	base := strings.TrimRight(p.Address, "/")
	rq := p.RangeQuery
	if rq == nil {
		return base + "/api/v1/query?" + url.Values{"query": {p.Query}}.Encode(), nil
	}
	end := now
	if rq.End != "" {
		t, err := analysis.RangeTime(rq.End, now)
		if err != nil {
			return "", fmt.Errorf("provider.prometheus.rangeQuery.end: %v", err)
		}
		end = t
	}
	if rq.Start == "" {
		return "", fmt.Errorf("provider.prometheus.rangeQuery.start is required, e.g. now() - duration(\"5m\")")
	}
	startT, err := analysis.RangeTime(rq.Start, now)
	if err != nil {
		return "", fmt.Errorf("provider.prometheus.rangeQuery.start: %v", err)
	}
	step, err := time.ParseDuration(rq.Step)
	if err != nil || step <= 0 {
		return "", fmt.Errorf("provider.prometheus.rangeQuery.step %q must be a duration with a unit, like 1m", rq.Step)
	}
	if !startT.Before(end) {
		return "", fmt.Errorf("provider.prometheus.rangeQuery: start (%s) must be before end (%s)", startT.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	return base + "/api/v1/query_range?" + url.Values{
		"query": {p.Query},
		"start": {strconv.FormatFloat(float64(startT.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}.Encode(), nil
}

// Resume has nothing to resume: queries finish in Run.
func (Prometheus) Resume(_ context.Context, _ *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	return m
}

type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// DecodePrometheus turns an /api/v1/query answer into the value conditions
// see: []float64 for a vector, float64 for a scalar. empty is true for a
// vector with no samples. Any other shape is an error, never a panic.
func DecodePrometheus(status int, body []byte) (value any, empty bool, err error) {
	var a promAnswer
	if jerr := json.Unmarshal(body, &a); jerr != nil {
		if status != http.StatusOK {
			return nil, false, fmt.Errorf("prometheus answered HTTP %d: %s", status, snippet(body))
		}
		return nil, false, fmt.Errorf("prometheus answer is not JSON: %v: %s", jerr, snippet(body))
	}
	if a.Status != "success" {
		return nil, false, fmt.Errorf("prometheus answered HTTP %d (%s) %s: %s", status, cmp.Or(a.Status, "no status"), a.ErrorType, a.Error)
	}
	switch a.Data.ResultType {
	case "vector":
		var samples []struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(a.Data.Result, &samples); err != nil {
			return nil, false, fmt.Errorf("prometheus vector: %v", err)
		}
		out := make([]float64, 0, len(samples))
		for i, s := range samples {
			f, err := sampleValue(s.Value)
			if err != nil {
				return nil, false, fmt.Errorf("prometheus vector sample %d: %v", i, err)
			}
			out = append(out, f)
		}
		return out, len(out) == 0, nil
	case "matrix":
		// A range query: every value of every series, in order, as upstream.
		var series []struct {
			Values [][]json.RawMessage `json:"values"`
		}
		if err := json.Unmarshal(a.Data.Result, &series); err != nil {
			return nil, false, fmt.Errorf("prometheus matrix: %v", err)
		}
		out := []float64{}
		for i, s := range series {
			for j, pair := range s.Values {
				f, err := sampleValue(pair)
				if err != nil {
					return nil, false, fmt.Errorf("prometheus matrix series %d value %d: %v", i, j, err)
				}
				out = append(out, f)
			}
		}
		return out, len(out) == 0, nil
	case "scalar":
		var pair []json.RawMessage
		if err := json.Unmarshal(a.Data.Result, &pair); err != nil {
			return nil, false, fmt.Errorf("prometheus scalar: %v", err)
		}
		f, err := sampleValue(pair)
		if err != nil {
			return nil, false, fmt.Errorf("prometheus scalar: %v", err)
		}
		return f, false, nil
	}
	return nil, false, fmt.Errorf("prometheus result type %q is not supported: write the query so it returns an instant vector or a scalar (or use rangeQuery for a matrix)", a.Data.ResultType)
}

func sampleValue(pair []json.RawMessage) (float64, error) {
	if len(pair) != 2 {
		return 0, fmt.Errorf("want [timestamp, \"value\"], got %d elements", len(pair))
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, fmt.Errorf("value is not a string: %s", snippet(pair[1]))
	}
	return strconv.ParseFloat(s, 64)
}

func httpClient(insecure bool) *http.Client {
	if !insecure {
		return http.DefaultClient
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the metric asked for it
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
