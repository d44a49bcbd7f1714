package exporter

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func litellm(t testing.TB, mod func(*Config)) *Processor {
	t.Helper()
	c, err := Preset("litellm")
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&c)
	}
	p, err := NewProcessor(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func feedFile(t *testing.T, p *Processor, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p.Process(sc.Bytes())
	}
}

func wantCount(t *testing.T, p *Processor, want uint64, labels ...string) {
	t.Helper()
	got, ok := p.Count(labels...)
	if !ok || got != want {
		t.Errorf("count%q = %d (exists %v), want %d", labels, got, ok, want)
	}
}

// The fixture's expected counts, worked out line by line (see
// testdata/access.log): 6 parsed, 4 skipped, 6 malformed.
func TestFixtureCounts(t *testing.T) {
	p := litellm(t, nil)
	feedFile(t, p, "testdata/access.log")
	st := p.Stats()
	if st.Parsed != 6 || st.Skipped != 4 || st.Malformed != 6 || st.Series != 5 {
		t.Fatalf("stats = %+v, want 6 parsed, 4 skipped, 6 malformed, 5 series", st)
	}
	wantCount(t, p, 1, "qwen3.5", "200", "team-a")
	wantCount(t, p, 2, "qwen3.5", "200", "anon")
	wantCount(t, p, 1, "mistral-small", "404", "team-a")
	wantCount(t, p, 1, "mistral-small", "429", "anon")
	wantCount(t, p, 1, "gpt-4o-mini", "503", "team-b")
}

func TestProcessReasons(t *testing.T) {
	p := litellm(t, nil)
	tests := []struct {
		line   string
		result Result
		reason string
	}{
		{`{"event":"request_completed","model":"m","status_code":200}`, Parsed, ""},
		{`{"event":"request_started","model":"m","status_code":200}`, Skipped, ReasonNoMatch},
		{`{"model":"m","status_code":200}`, Skipped, ReasonNoMatch},
		{"  \r", Skipped, ReasonBlank},
		{`{"event":"request_completed","model":"m"}`, Malformed, ReasonMissing},
		{`{"event":"request_completed","model":null,"status_code":200}`, Malformed, ReasonMissing},
		{`{"event":"request_completed","model":"m","status_code":[200]}`, Malformed, ReasonNotScalar},
		{`{"event":"request_completed"`, Malformed, "unterminated object"},
		{`[{"event":"request_completed"}]`, Malformed, "not a JSON object"},
	}
	for _, tc := range tests {
		r, why := p.Process([]byte(tc.line))
		if r != tc.result || why != tc.reason {
			t.Errorf("%s: got %s %q, want %s %q", tc.line, r, why, tc.result, tc.reason)
		}
	}
}

func TestMatchAndLabels(t *testing.T) {
	c := Config{
		Metric: "http_requests_total",
		Match:  []Match{{Field: "kind", Value: "access"}, {Field: "path", Value: "/healthz", Not: true}},
		Labels: []Label{{Name: "code", Field: "res.status"}, {Name: "route", Field: "path", Default: strp("unknown")}},
	}
	p, err := NewProcessor(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		`{"kind":"access","path":"/a","res":{"status":200}}`,
		`{"kind":"access","path":"/a","res":{"status":"200"}}`, // string and number render the same
		`{"kind":"access","res":{"status":500}}`,               // missing path: default
		`{"kind":"access","path":"/healthz","res":{"status":200}}`,
		`{"kind":"audit","path":"/a","res":{"status":200}}`,
		`{"kind":"acc\u0065ss","path":"/b\u00e9","res":{"status":201}}`,     // escapes unescaped before matching and labelling
		"{\"kind\":\"access\",\"path\":\"/\xff\",\"res\":{\"status\":200}}", // invalid UTF-8 sanitized
	} {
		p.Process([]byte(l))
	}
	wantCount(t, p, 2, "200", "/a")
	wantCount(t, p, 1, "500", "unknown")
	wantCount(t, p, 1, "201", "/bé")
	wantCount(t, p, 1, "200", "/\uFFFD")
	if st := p.Stats(); st.Parsed != 5 || st.Skipped != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEmptyMatchCountsEveryObject(t *testing.T) {
	p, err := NewProcessor(Config{Metric: "lines_total"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{`{}`, `{"a":1}`, `x`, ``} {
		p.Process([]byte(l))
	}
	wantCount(t, p, 2)
	if st := p.Stats(); st.Parsed != 2 || st.Malformed != 1 || st.Skipped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOverflow: past MaxSeries, new label sets fold into __overflow__
// series that keep the status label, up to a cap, then into one series
// with every label __overflow__. Known series keep counting.
func TestOverflow(t *testing.T) {
	p := litellm(t, func(c *Config) { c.MaxSeries = 2 })
	ev := func(model, status, user string) {
		l := `{"event":"request_completed","model":"` + model + `","status_code":` + status + `,"api_user":"` + user + `"}`
		if r, why := p.Process([]byte(l)); r != Parsed {
			t.Fatalf("%s: %s %s", l, r, why)
		}
	}
	ev("a", "200", "u1")
	ev("b", "200", "u1")
	ev("c", "200", "u1") // overflow, keeps status 200
	ev("d", "500", "u1") // overflow, keeps status 500
	ev("e", "500", "u2") // same overflow series
	ev("a", "200", "u1") // known series still counts
	// Overflow series cap is min(64, MaxSeries) = 2: a third status goes
	// to the all-overflow series.
	ev("f", "404", "u3")
	ev("g", "429", "u3")
	wantCount(t, p, 2, "a", "200", "u1")
	wantCount(t, p, 1, "b", "200", "u1")
	wantCount(t, p, 1, OverflowValue, "200", OverflowValue)
	wantCount(t, p, 2, OverflowValue, "500", OverflowValue)
	wantCount(t, p, 2, OverflowValue, OverflowValue, OverflowValue)
	st := p.Stats()
	if st.Series != 5 || st.OverflowSeries != 3 || st.OverflowEvents != 5 || st.Parsed != 8 {
		t.Fatalf("stats %+v", st)
	}

	// A hard bound under a flood of unique values.
	p = litellm(t, func(c *Config) { c.MaxSeries = 100 })
	for i := range 20000 {
		l := `{"event":"request_completed","model":"m` + itoa(i) + `","status_code":` + itoa(100+i%500) + `}`
		p.Process([]byte(l))
	}
	if st := p.Stats(); st.Series > 100+64+1 || st.Parsed != 20000 || st.OverflowEvents != 20000-100 {
		t.Fatalf("flood: %+v", st)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestExpositionWithHistogram(t *testing.T) {
	c, _ := Preset("litellm")
	c.Duration = &Duration{Field: "response_time", Unit: "ms", Buckets: []float64{0.1, 1}}
	e, err := New(Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		`{"event":"request_completed","model":"m","status_code":200,"response_time":50}`,
		`{"event":"request_completed","model":"m","status_code":200,"response_time":"500"}`,
		`{"event":"request_completed","model":"m","status_code":200,"response_time":5000}`,
		`{"event":"request_completed","model":"m","status_code":200}`,
		`{"event":"request_completed","model":"m","status_code":200,"response_time":-1}`,
		`{"oops`,
	} {
		e.handle([]byte(l))
	}
	out := scrape(t, e.Handler())
	for _, want := range []string{
		`litellm_request_total{api_user="anon",model="m",status="200"} 5`,
		`litellm_request_duration_seconds_bucket{api_user="anon",model="m",status="200",le="0.1"} 1`,
		`litellm_request_duration_seconds_bucket{api_user="anon",model="m",status="200",le="1"} 2`,
		`litellm_request_duration_seconds_bucket{api_user="anon",model="m",status="200",le="+Inf"} 3`,
		`litellm_request_duration_seconds_sum{api_user="anon",model="m",status="200"} 5.55`,
		`litellm_request_duration_seconds_count{api_user="anon",model="m",status="200"} 3`,
		`sluice_exporter_duration_unusable_total{metric="litellm_request_total"} 2`,
		`sluice_exporter_lines_total{result="parsed"} 5`,
		`sluice_exporter_lines_total{result="malformed"} 1`,
		`sluice_exporter_lines_total{result="skipped"} 0`,
		`sluice_exporter_series{metric="litellm_request_total"} 1`,
		`sluice_exporter_overflow_events_total{metric="litellm_request_total"} 0`,
		`# HELP litellm_request_total LiteLLM requests completed`,
		`# TYPE litellm_request_duration_seconds histogram`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestConfigParsing(t *testing.T) {
	base, _ := Preset("litellm")
	c, err := ParseConfig([]byte(`
metric: gateway_requests_total
match:
  - {field: type, value: access}
labels:
  - {name: model, field: model}
  - {name: status, field: response.status}
  - {name: team, field: user.team, default: none}
duration: {field: latency_ms, unit: ms}
maxSeries: 50
overflowKeep: [status]
`), base)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Describe(); got != "gateway_requests_total{model=model, status=response.status, team=user.team:none} where type=access; gateway_requests_duration_seconds from latency_ms (ms); at most 50 series" {
		t.Fatalf("describe: %s", got)
	}
	// A file that sets only some keys refines the base.
	c, err = ParseConfig([]byte("maxSeries: 7\n"), base)
	if err != nil || c.MaxSeries != 7 || c.Metric != "litellm_request_total" || len(c.Labels) != 3 {
		t.Fatalf("refine: %+v %v", c, err)
	}
	if _, err := ParseConfig([]byte("metrik: x\n"), base); err == nil {
		t.Fatal("unknown key accepted")
	}

	bad := []func(*Config){
		func(c *Config) { c.Metric = "bad-name" },
		func(c *Config) { c.Metric = "sluice_exporter_lines_total" },
		func(c *Config) { c.Labels = append(c.Labels, Label{Name: "model", Field: "x"}) },
		func(c *Config) { c.Labels[0].Name = "__name" },
		func(c *Config) { c.OverflowKeep = []string{"nope"} },
		func(c *Config) { c.Duration = &Duration{Field: "t", Unit: "h"} },
		func(c *Config) { c.Duration = &Duration{Field: "t", Buckets: []float64{2, 1}} },
		func(c *Config) { c.Match = []Match{{Value: "x"}} },
	}
	for i, mod := range bad {
		c, _ := Preset("litellm")
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
}

func TestParseFlags(t *testing.T) {
	m, err := ParseMatch("status!=200")
	if err != nil || m != (Match{Field: "status", Value: "200", Not: true}) {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = ParseMatch("event=a=b")
	if err != nil || m != (Match{Field: "event", Value: "a=b"}) {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := ParseMatch("event"); err == nil {
		t.Fatal("match without = accepted")
	}
	l, err := ParseLabel("api_user=user.name:anon")
	if err != nil || l.Name != "api_user" || l.Field != "user.name" || *l.Default != "anon" {
		t.Fatalf("%+v %v", l, err)
	}
	l, err = ParseLabel("model")
	if err != nil || l.Name != "model" || l.Field != "model" || l.Default != nil {
		t.Fatalf("%+v %v", l, err)
	}
	l, err = ParseLabel("team=team:")
	if err != nil || *l.Default != "" {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err := ParseLabel("=x"); err == nil {
		t.Fatal("empty name accepted")
	}
}

func TestSampler(t *testing.T) {
	s := Sampler{Every: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	if ok, n := s.Allow(t0); !ok || n != 0 {
		t.Fatal("first sample must print")
	}
	for i := 1; i <= 5; i++ {
		if ok, _ := s.Allow(t0.Add(time.Duration(i) * time.Second)); ok {
			t.Fatal("sampled too often")
		}
	}
	if ok, n := s.Allow(t0.Add(10 * time.Second)); !ok || n != 5 {
		t.Fatalf("after the interval: ok=%v suppressed=%d, want true 5", ok, n)
	}
	off := Sampler{}
	if ok, _ := off.Allow(t0); ok {
		t.Fatal("disabled sampler printed")
	}
}

func TestSampledStderr(t *testing.T) {
	var errb bytes.Buffer
	c, _ := Preset("litellm")
	e, err := New(Options{Config: c, Stderr: &errb, MalformedEvery: time.Hour, SkippedEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		e.handle([]byte(`{"event":"request_completed","model":`))
		e.handle([]byte(`{"event":"request_started"}`))
	}
	out := errb.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "malformed line: expected a value") || !strings.Contains(out, "skipped line: not a selected event") {
		t.Fatalf("stderr:\n%s", out)
	}
	if st := e.Processor().Stats(); st.Malformed != 100 || st.Skipped != 100 {
		t.Fatalf("%+v", st)
	}
}

func TestReadLinesLongAndPartial(t *testing.T) {
	var got []string
	long := strings.Repeat("x", 5000)
	in := "a\n" + long + "\nb\r\n" + long + long + "\nc" // last line has no newline
	tooLong := 0
	err := ReadLines(t.Context(), io.MultiReader(strings.NewReader(in[:3]), strings.NewReader(in[3:])), 4096,
		func(l []byte) { got = append(got, string(l)) }, func() { tooLong++ })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "a|b\r|c" || tooLong != 2 {
		t.Fatalf("lines %q, tooLong %d", got, tooLong)
	}
}
