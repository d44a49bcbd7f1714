package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// tokenServer is an OAuth2 token endpoint on 127.0.0.1 that grants
// client-credentials tokens to client "sluice" (secret "s3cret", sent as
// HTTP basic auth), each valid for expiresIn seconds, and counts the grants.
type tokenServer struct {
	*httptest.Server
	grants    atomic.Int32
	expiresIn int
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	ts := &tokenServer{expiresIn: expiresIn}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		if !ok || id != "sluice" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		n := ts.grants.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer",
			"expires_in": ts.expiresIn, "scope": r.PostForm.Get("scope")})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// promServer answers /api/v1/query and /api/v1/query_range only when the
// Authorization header is want, recording the last request.
func promServer(t *testing.T, want string, last *atomic.Pointer[http.Request]) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(r)
		if r.Header.Get("Authorization") != want || r.Header.Get("X-Scope-OrgID") != "team-a" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/v1/query":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"0.01"]}]}}`)
		case "/api/v1/query_range":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"0.01"],[2,"0.02"],[3,"0.5"]]}]}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func resetTokens() {
	tokens.Lock()
	tokens.m = map[string]cachedToken{}
	tokens.Unlock()
}

func promMetric(addr string, auth *v1alpha1.Authentication) *v1alpha1.Metric {
	return &v1alpha1.Metric{Name: "errors", SuccessCondition: "all(result, # < 0.1)",
		Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: addr, Query: "rate(x[5m])",
			Headers: []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "team-a"}}, Authentication: auth}}}
}

func TestPrometheusOAuth2ClientCredentialsTokenIsCachedUntilExpiry(t *testing.T) {
	resetTokens()
	defer func(n func() time.Time) { Now = n }(Now)
	now := time.Now()
	Now = func() time.Time { return now }
	ts := newTokenServer(t, 60)
	var last atomic.Pointer[http.Request]
	auth := &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{TokenURL: ts.URL + "/token", ClientID: "sluice",
		ClientSecret: "s3cret", Scopes: []string{"metrics.read", "metrics.list"}}}

	prom := promServer(t, "Bearer tok-1", &last)
	m := Prometheus{}.Run(context.Background(), nil, promMetric(prom.URL, auth))
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("first measurement: %s: %s", m.Phase, m.Message)
	}
	m = Prometheus{}.Run(context.Background(), nil, promMetric(prom.URL, auth))
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || ts.grants.Load() != 1 {
		t.Fatalf("second measurement within the token's life: %s %q, %d grants (want the cached token, 1 grant)", m.Phase, m.Message, ts.grants.Load())
	}
	// 55s later the token is within the renewal margin: a new one is fetched.
	now = now.Add(55 * time.Second)
	prom2 := promServer(t, "Bearer tok-2", &last)
	m = Prometheus{}.Run(context.Background(), nil, promMetric(prom2.URL, auth))
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || ts.grants.Load() != 2 {
		t.Fatalf("after expiry: %s %q, %d grants (want a renewed token)", m.Phase, m.Message, ts.grants.Load())
	}
}

func TestPrometheusOAuth2TokenEndpointRefusesIsAnErrorMeasurement(t *testing.T) {
	resetTokens()
	ts := newTokenServer(t, 60)
	var last atomic.Pointer[http.Request]
	prom := promServer(t, "Bearer tok-1", &last)
	auth := &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{TokenURL: ts.URL + "/token", ClientID: "sluice", ClientSecret: "wrong"}}
	m := Prometheus{}.Run(context.Background(), nil, promMetric(prom.URL, auth))
	if m.Phase != v1alpha1.AnalysisPhaseError {
		t.Fatalf("phase %s, want Error", m.Phase)
	}
	for _, want := range []string{"provider.prometheus.authentication.oauth2", ts.URL + "/token", `refused client "sluice"`, "HTTP 401", "invalid_client"} {
		if !strings.Contains(m.Message, want) {
			t.Errorf("message %q does not say %q", m.Message, want)
		}
	}
	if last.Load() != nil {
		t.Errorf("prometheus was queried without a token")
	}
	// Unreachable token endpoint.
	auth.OAuth2.TokenURL = "http://127.0.0.1:1/token"
	m = Prometheus{}.Run(context.Background(), nil, promMetric(prom.URL, auth))
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "unreachable") {
		t.Fatalf("unreachable token endpoint: %s %q", m.Phase, m.Message)
	}
}

func TestPrometheusBasicAuthAndRefusedCredentials(t *testing.T) {
	var last atomic.Pointer[http.Request]
	prom := promServer(t, "Basic YWxpY2U6cHc=", &last) // alice:pw
	m := Prometheus{}.Run(context.Background(), nil, promMetric(prom.URL,
		&v1alpha1.Authentication{BasicAuth: &v1alpha1.BasicAuth{Username: "alice", Password: "pw"}}))
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("basicAuth: %s %q", m.Phase, m.Message)
	}
	m = Prometheus{}.Run(context.Background(), nil, promMetric(prom.URL,
		&v1alpha1.Authentication{BasicAuth: &v1alpha1.BasicAuth{Username: "alice", Password: "nope"}}))
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "HTTP 401") || !strings.Contains(m.Message, "authentication") {
		t.Fatalf("wrong password: %s %q", m.Phase, m.Message)
	}
	// A bearer token given as a header works the same way.
	prom2 := promServer(t, "Bearer static", &last)
	metric := promMetric(prom2.URL, nil)
	metric.Provider.Prometheus.Headers = append(metric.Provider.Prometheus.Headers, v1alpha1.WebMetricHeader{Key: "Authorization", Value: "Bearer static"})
	if m := (Prometheus{}).Run(context.Background(), nil, metric); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("bearer header: %s %q", m.Phase, m.Message)
	}
}

func TestPrometheusSigv4IsRefusedByName(t *testing.T) {
	m := Prometheus{}.Run(context.Background(), nil, promMetric("http://127.0.0.1:1",
		&v1alpha1.Authentication{Sigv4: &v1alpha1.Sigv4Config{Region: "eu-west-1"}}))
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "authentication.sigv4") || !strings.Contains(m.Message, "not implemented") {
		t.Fatalf("sigv4: %s %q", m.Phase, m.Message)
	}
	_, err := For(promMetric("http://x", &v1alpha1.Authentication{Sigv4: &v1alpha1.Sigv4Config{}}), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "provider.prometheus.authentication.sigv4") {
		t.Fatalf("For: %v", err)
	}
}

func TestPrometheusRangeQueryAndTimeout(t *testing.T) {
	var last atomic.Pointer[http.Request]
	prom := promServer(t, "", &last)
	metric := promMetric(prom.URL, nil)
	metric.Provider.Prometheus.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("10m")`, End: "now()", Step: "1m"}
	m := Prometheus{}.Run(context.Background(), nil, metric)
	// every value of the matrix is judged: 0.5 is not < 0.1
	if m.Phase != v1alpha1.AnalysisPhaseFailed || m.Value != "[0.01,0.02,0.5]" {
		t.Fatalf("range query: %s value %q %q", m.Phase, m.Value, m.Message)
	}
	q := last.Load().URL
	if q.Path != "/api/v1/query_range" || q.Query().Get("step") != "60" || q.Query().Get("query") != "rate(x[5m])" {
		t.Fatalf("request %s", q)
	}
	start, end := q.Query().Get("start"), q.Query().Get("end")
	var s, e float64
	fmt.Sscan(start, &s)
	fmt.Sscan(end, &e)
	if e-s != 600 {
		t.Fatalf("start %s end %s: want 10m apart", start, end)
	}
	metric.Provider.Prometheus.RangeQuery.Step = "soon"
	if m := (Prometheus{}).Run(context.Background(), nil, metric); m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "rangeQuery.step") {
		t.Fatalf("bad step: %s %q", m.Phase, m.Message)
	}

	// timeout: a server slower than the metric's timeout is an Error.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(1500 * time.Millisecond) }))
	defer slow.Close()
	one := int64(1)
	metric = promMetric(slow.URL, nil)
	metric.Provider.Prometheus.Timeout = &one
	if m := (Prometheus{}).Run(context.Background(), nil, metric); m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "unreachable") {
		t.Fatalf("timeout: %s %q", m.Phase, m.Message)
	}
}

func TestPrometheusInsecureSkipsTLSVerification(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"0.01"]}]}}`)
	}))
	defer s.Close()
	metric := promMetric(s.URL, nil)
	if m := (Prometheus{}).Run(context.Background(), nil, metric); m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "certificate") {
		t.Fatalf("self-signed without insecure: %s %q", m.Phase, m.Message)
	}
	metric.Provider.Prometheus.Insecure = true
	if m := (Prometheus{}).Run(context.Background(), nil, metric); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("insecure: %s %q", m.Phase, m.Message)
	}
}

func TestWebOAuth2ClientCredentials(t *testing.T) {
	resetTokens()
	ts := newTokenServer(t, 3600)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer api.Close()
	metric := &v1alpha1.Metric{Name: "health", SuccessCondition: `result == "ok"`, Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
		URL: api.URL, JSONPath: "{$.status}", Authentication: &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{
			TokenURL: ts.URL, ClientID: "sluice", ClientSecret: "s3cret"}}}}}
	if m := (Web{}).Run(context.Background(), nil, metric); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("web oauth2: %s %q", m.Phase, m.Message)
	}
	metric.Provider.Web.Authentication.OAuth2.ClientSecret = "wrong"
	m := Web{}.Run(context.Background(), nil, metric)
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "provider.web.authentication.oauth2") || !strings.Contains(m.Message, "HTTP 401") {
		t.Fatalf("web oauth2 refused: %s %q", m.Phase, m.Message)
	}
}

// An endpoint that wants the client's credentials in the form (not basic
// auth) is tried that way after refusing basic auth, as golang.org/x/oauth2 does.
func TestOAuth2FallsBackToCredentialsInTheForm(t *testing.T) {
	resetTokens()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if _, _, basic := r.BasicAuth(); basic || r.PostForm.Get("client_id") != "sluice" || r.PostForm.Get("client_secret") != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"access_token":"form-token","token_type":"bearer"}`)
	}))
	defer ts.Close()
	hs, err := authHeaders(context.Background(), &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{
		TokenURL: ts.URL, ClientID: "sluice", ClientSecret: "s3cret"}}, "x", false, time.Second)
	if err != nil || len(hs) != 1 || hs[0].Value != "Bearer form-token" {
		t.Fatalf("got %v %v", hs, err)
	}
}

func TestOtherProvidersAreRefusedByName(t *testing.T) {
	for name, p := range map[string]v1alpha1.MetricProvider{
		"datadog":    {Datadog: &v1alpha1.DatadogMetric{Query: "q"}},
		"newRelic":   {NewRelic: &v1alpha1.NewRelicMetric{Query: "q"}},
		"kayenta":    {Kayenta: &v1alpha1.KayentaMetric{}},
		"cloudWatch": {CloudWatch: &v1alpha1.CloudWatchMetric{}},
		"wavefront":  {Wavefront: &v1alpha1.WavefrontMetric{}},
		"graphite":   {Graphite: &v1alpha1.GraphiteMetric{}},
		"influxdb":   {Influxdb: &v1alpha1.InfluxdbMetric{}},
		"skywalking": {SkyWalking: &v1alpha1.SkyWalkingMetric{}},
	} {
		_, err := For(&v1alpha1.Metric{Name: "m", Provider: p}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "provider."+name) || !strings.Contains(err.Error(), "not implemented") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
