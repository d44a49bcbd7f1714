package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Web calls an HTTP endpoint. A non-2xx answer is Failed (the endpoint said
// no); an unreachable endpoint is Error. The JSON answer, or the part
// jsonPath picks, is `result`.
type Web struct{}

// Run calls the endpoint now.
func (Web) Run(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	start := started()
	w := metric.Provider.Web
	timeout := 10 * time.Second
	if w.TimeoutSeconds > 0 {
		timeout = time.Duration(w.TimeoutSeconds) * time.Second
	}
	method := w.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	switch {
	case w.JSONBody != nil && len(w.JSONBody.Raw) > 0:
		body = bytes.NewReader(w.JSONBody.Raw)
	case w.Body != "":
		body = strings.NewReader(w.Body)
	}
	headers := w.Headers
	if w.JSONBody != nil {
		headers = append([]v1alpha1.WebMetricHeader{{Key: "Content-Type", Value: "application/json"}}, headers...)
	}
	auth, err := authHeaders(ctx, w.Authentication, "provider.web.authentication", w.Insecure, timeout)
	if err != nil {
		return errored(start, "%v", err)
	}
	status, raw, err := fetch(ctx, method, w.URL, body, append(append([]v1alpha1.WebMetricHeader{}, headers...), auth...), w.Insecure, timeout)
	if err != nil {
		return errored(start, "web %s %s unreachable: %v", method, w.URL, err)
	}
	if status == http.StatusUnauthorized && w.Authentication != nil {
		forgetToken(w.Authentication)
		return errored(start, "web %s %s refused the credentials of provider.web.authentication: HTTP %d: %s", method, w.URL, status, snippet(raw))
	}
	if status < 200 || status > 299 {
		m := judged(start, metric, nil, false)
		m.Phase, m.Value = v1alpha1.AnalysisPhaseFailed, snippet(raw)
		m.Message = fmt.Sprintf("web %s %s answered HTTP %d", method, w.URL, status)
		return m
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		if metric.SuccessCondition == "" && metric.FailureCondition == "" {
			return judged(start, metric, strings.TrimSpace(string(raw)), false)
		}
		return errored(start, "web answer is not JSON: %v: %s", err, snippet(raw))
	}
	if w.JSONPath != "" {
		jp := jsonpath.New("metric")
		if err := jp.Parse(w.JSONPath); err != nil {
			return errored(start, "jsonPath %q: %v", w.JSONPath, err)
		}
		res, err := jp.FindResults(doc)
		if err != nil || len(res) == 0 || len(res[0]) == 0 {
			m := judged(start, metric, nil, true)
			m.Message = fmt.Sprintf("jsonPath %q found nothing in the answer (no data is not success): %s", w.JSONPath, snippet(raw))
			return m
		}
		doc = res[0][0].Interface()
	}
	return judged(start, metric, doc, false)
}

// Resume has nothing to resume: calls finish in Run.
func (Web) Resume(_ context.Context, _ *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	return m
}
