package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestScheduleAggregate(t *testing.T) {
	s, err := NewSchedule(3, Plan{Rate: 4, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(s)
	want := []Send{{0, 0, 0}, {1, 1, 250 * time.Millisecond}, {2, 2, 500 * time.Millisecond}, {3, 0, 750 * time.Millisecond}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSchedulePerRouteAndBounds(t *testing.T) {
	p := Plan{PerRoute: true, Rates: []float64{2, 1}, Duration: 2 * time.Second}
	s, err := NewSchedule(2, p)
	if err != nil {
		t.Fatal(err)
	}
	got := drain(s)
	ms := time.Millisecond
	want := []Send{{0, 0, 0}, {1, 1, 0}, {2, 0, 500 * ms}, {3, 0, 1000 * ms}, {4, 1, 1000 * ms}, {5, 0, 1500 * ms}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := p.Expected(2); n != 6 {
		t.Fatalf("Expected = %d", n)
	}
	// Count bound wins when smaller; both bounds apply.
	if n := (Plan{Rate: 100, Duration: time.Second, Count: 7}).Expected(3); n != 7 {
		t.Fatalf("count bound: %d", n)
	}
	if n := (Plan{Rate: 100, Duration: time.Second, Count: 700}).Expected(3); n != 100 {
		t.Fatalf("time bound: %d", n)
	}
	if n := (Plan{Rate: 3, Duration: 1100 * time.Millisecond}).Expected(1); n != 4 { // 0, .333, .667, 1.0
		t.Fatalf("fractional: %d", n)
	}
	if n := (Plan{Rate: 2000, Duration: 10 * time.Second}).Expected(5); n != 20000 {
		t.Fatalf("2000/s for 10s: %d", n)
	}
	for _, bad := range []Plan{{Rate: 1}, {Rate: 0, Count: 1}, {Rate: math.Inf(1), Count: 1}, {PerRoute: true, Rates: []float64{1}, Count: 1}, {PerRoute: true, Rates: []float64{1, 0}, Count: 1}} {
		if _, err := NewSchedule(2, bad); err == nil {
			t.Errorf("plan %+v accepted", bad)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h Hist
	r := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	for range 20000 {
		// Log-uniform from 10µs to 10s.
		d := time.Duration(math.Exp(math.Log(10e3)+r.Float64()*(math.Log(10e9)-math.Log(10e3)))) * time.Nanosecond
		vals = append(vals, d)
		h.Add(d)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
			t.Errorf("q%.3f = %v, exact %v (%.2f%% off)", q, got, exact, rel*100)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Count() != 20000 {
		t.Fatal("max/count")
	}
	var small Hist
	for _, us := range []int{1, 2, 3, 100} {
		small.Add(time.Duration(us) * time.Microsecond)
	}
	if small.Quantile(0.5) != 2*time.Microsecond || small.Quantile(1) != 100*time.Microsecond {
		t.Fatalf("exact small values: %v %v", small.Quantile(0.5), small.Quantile(1))
	}
	var empty Hist
	if empty.Quantile(0.99) != 0 {
		t.Fatal("empty")
	}
}

func TestRoutes(t *testing.T) {
	r, err := ParseRoute(`embed=post /v1/embeddings {"model":"e5", "input":"hi"}`)
	if err != nil || r.Name != "embed" || r.Method != "POST" || r.Path != "/v1/embeddings" || r.Body != `{"model":"e5", "input":"hi"}` {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = ParseRoute("GET /health/liveliness")
	if err != nil || r.Name != "" || r.Path != "/health/liveliness" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"", "GET", "x="} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	rs, err := NormalizeAll([]Route{{Model: "qwen3.5"}, {Path: "/health"}, {Path: "/x", Body: "{}"}}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Name != "qwen3.5" || rs[0].Method != "POST" || rs[0].Path != ChatPath ||
		rs[0].Body != `{"max_tokens":5,"messages":[{"content":"Reply with the single word: ok","role":"user"}],"model":"qwen3.5"}` {
		t.Fatalf("model route %+v", rs[0])
	}
	if rs[1].Name != "GET /health" || rs[2].Method != "POST" {
		t.Fatalf("%+v", rs)
	}
	if _, err := NormalizeAll([]Route{{Model: "a"}, {Model: "a"}}, "", 0); err == nil {
		t.Fatal("duplicate names accepted")
	}
	if _, err := NormalizeAll([]Route{{Path: "nope"}}, "", 0); err == nil {
		t.Fatal("relative path accepted")
	}
	f, err := ParseFile([]byte("url: http://gw:4000\nheaders: {Authorization: Bearer x}\nroutes:\n  - model: qwen3.5\n  - {name: health, method: GET, path: /health, rate: 0.5}\n"))
	if err != nil || f.URL != "http://gw:4000" || len(f.Routes) != 2 || f.Routes[1].Rate != 0.5 || f.Headers["Authorization"] != "Bearer x" {
		t.Fatalf("%+v %v", f, err)
	}
	if _, err := ParseFile([]byte("routs: []\n")); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestReportAndRender(t *testing.T) {
	t0 := time.Unix(0, 0)
	ok, bad := &RouteStats{Name: "qwen3.5"}, &RouteStats{Name: "mistral-small"}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		ok.Record(Outcome{Status: 200, Scheduled: at, Sent: at, Done: at.Add(100 * time.Millisecond)})
		st := 404
		if i%2 == 1 {
			st = 429
		}
		bad.Record(Outcome{Status: st, Scheduled: at, Sent: at, Done: at.Add(20 * time.Millisecond), Detail: `{"error":"upstream"}`})
	}
	bad.Record(Outcome{Err: io.ErrUnexpectedEOF, Scheduled: t0, Sent: t0, Done: t0})
	routes := []Route{{Name: "qwen3.5", Method: "POST", Path: ChatPath}, {Name: "mistral-small", Method: "POST", Path: ChatPath}}
	rep := BuildReport("http://gw", routes, []*RouteStats{ok, bad}, Plan{Rate: 2, Duration: 10 * time.Second}, 10*time.Second, 0.95)
	if !rep.Failed() || !slices.Equal(rep.Failing, []string{"mistral-small"}) {
		t.Fatalf("failing = %v", rep.Failing)
	}
	if *rep.Routes[0].SuccessRate != 1 || *rep.Routes[1].SuccessRate != 0 || rep.Routes[1].Status4xx != 10 || rep.Routes[1].Errors != 1 {
		t.Fatalf("%+v", rep.Routes)
	}
	if rep.Routes[0].P50ms != 100 || *rep.Routes[0].AchievedRate != 1 || rep.Routes[0].RequestedRate != 1 {
		t.Fatalf("%+v", rep.Routes[0])
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"ROUTE          REQUESTS  2XX  3XX  4XX  5XX  ERRORS  SUCCESS     P50     P95     P99\n",
		"qwen3.5              10   10    0    0    0       0   100.0%   100ms   100ms   100ms\n",
		"mistral-small        11    0    0   10    0       1     0.0%  20.0ms  20.0ms  20.0ms\n",
		"TOTAL                21   10    0   10    0       1    47.6%",
		"mistral-small: last failure: unexpected EOF",
		"FAIL: success rate below 95.0% on: mistral-small",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Routes[1].StatusCodes["429"] != 5 || !back.Routes[1].BelowFailUnder {
		t.Fatalf("json round trip: %v %s", err, b.String())
	}
	// No requests at all fails a threshold, and renders as "-".
	none := BuildReport("http://gw", routes[:1], []*RouteStats{{Name: "qwen3.5"}}, Plan{Rate: 1, Count: 1}, time.Second, 0.5)
	if !none.Failed() || none.Routes[0].SuccessRate != nil {
		t.Fatalf("%+v", none)
	}
	if line := ProgressLine(ok, 13); !strings.HasPrefix(line, "qwen3.5        sent     10  2xx     10") {
		t.Fatalf("progress %q", line)
	}
}

// gateway is a local stand-in for an OpenAI-compatible gateway: one model
// healthy, one broken upstream (404/429 like the seeds' mistral-small), a
// slow one; it records arrivals and the peak of requests in flight.
type gateway struct {
	mu       sync.Mutex
	arrivals map[string][]time.Time
	inflight atomic.Int64
	peak     atomic.Int64
	delay    map[string]time.Duration
}

func newGateway(t *testing.T, delay map[string]time.Duration) (*gateway, *httptest.Server) {
	g := &gateway{arrivals: map[string][]time.Time{}, delay: delay}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := g.inflight.Add(1)
	defer g.inflight.Add(-1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	var body struct {
		Model string `json:"model"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	key := body.Model
	if key == "" {
		key = r.Method + " " + r.URL.Path
	}
	g.mu.Lock()
	g.arrivals[key] = append(g.arrivals[key], time.Now())
	i := len(g.arrivals[key])
	g.mu.Unlock()
	if d := g.delay[key]; d > 0 {
		time.Sleep(d)
	}
	switch {
	case r.URL.Path == "/redirect":
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	case r.URL.Path != ChatPath && r.URL.Path != "/health":
		http.NotFound(w, r)
	case key == "mistral-small" && i%2 == 0:
		http.Error(w, `{"error":{"message":"Rate limit exceeded: free-models-per-min"}}`, http.StatusTooManyRequests)
	case key == "mistral-small":
		http.Error(w, `{"error":{"message":"No endpoints found for mistralai/mistral-small:free"}}`, http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"ok"}}]}`)
	}
}

func (g *gateway) count(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.arrivals[key])
}

func models(t *testing.T, names ...string) []Route {
	var rs []Route
	for _, n := range names {
		rs = append(rs, Route{Model: n})
	}
	out, err := NormalizeAll(rs, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProbeHealthyAndBrokenRoute: rotating over a healthy and a broken
// model reports both separately; the broken one fails --fail-under even
// though the aggregate is 50%.
func TestProbeHealthyAndBrokenRoute(t *testing.T) {
	g, srv := newGateway(t, nil)
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Routes: models(t, "qwen3.5", "mistral-small"),
		Plan:      Plan{Rate: 200, Count: 40},
		Timeout:   5 * time.Second,
		FailUnder: 0.95,
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.count("qwen3.5") != 20 || g.count("mistral-small") != 20 {
		t.Fatalf("server saw %d/%d requests, want 20/20", g.count("qwen3.5"), g.count("mistral-small"))
	}
	q, m := rep.Routes[0], rep.Routes[1]
	if q.Requests != 20 || q.Status2xx != 20 || *q.SuccessRate != 1 || q.BelowFailUnder {
		t.Errorf("healthy route: %+v", q)
	}
	if m.Requests != 20 || m.Status4xx != 20 || m.StatusCodes["404"] != 10 || m.StatusCodes["429"] != 10 || *m.SuccessRate != 0 || !m.BelowFailUnder {
		t.Errorf("broken route: %+v", m)
	}
	if !strings.Contains(m.LastFailure, "HTTP 4") || !strings.Contains(m.LastFailure, "error") {
		t.Errorf("last failure %q lacks the status and body", m.LastFailure)
	}
	if !rep.Failed() || !slices.Equal(rep.Failing, []string{"mistral-small"}) || rep.Total.Requests != 40 {
		t.Errorf("report: failing %v, total %d", rep.Failing, rep.Total.Requests)
	}
}

// TestProbeHonoursRateAndDuration: at 40/s for 1s the plan is exactly 40
// sends, and an open-loop sender cannot finish them faster than scheduled.
func TestProbeHonoursRateAndDuration(t *testing.T) {
	g, srv := newGateway(t, nil)
	start := time.Now()
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Routes: models(t, "a", "b", "c", "d"),
		Plan: Plan{Rate: 40, Duration: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if rep.Total.Requests != 40 || rep.Total.Status2xx != 40 {
		t.Fatalf("requests %d (2xx %d), want 40", rep.Total.Requests, rep.Total.Status2xx)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if g.count(k) != 10 {
			t.Errorf("route %s got %d requests, want 10 (rotation)", k, g.count(k))
		}
	}
	// The last send is due at 39/40 s: finishing earlier means it sent too fast.
	if elapsed < 975*time.Millisecond {
		t.Fatalf("40 sends at 40/s finished in %v: faster than the schedule", elapsed)
	}
	// Server-side arrival spacing: first to last arrival spans the schedule.
	g.mu.Lock()
	var all []time.Time
	for _, a := range g.arrivals {
		all = append(all, a...)
	}
	g.mu.Unlock()
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	if span := all[len(all)-1].Sub(all[0]); span < 950*time.Millisecond {
		t.Fatalf("arrivals spanned %v, want ~975ms", span)
	}
	if rep.AchievedRate == nil || *rep.AchievedRate > 50 {
		t.Fatalf("achieved rate %v", rep.AchievedRate)
	}
}

func TestProbePerRouteRates(t *testing.T) {
	g, srv := newGateway(t, nil)
	rs := models(t, "fast", "slow")
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Routes: rs,
		Plan: Plan{PerRoute: true, Rates: []float64{20, 5}, Duration: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.count("fast") != 20 || g.count("slow") != 5 || rep.Mode != "per-route" || rep.RequestedRate != 25 {
		t.Fatalf("fast %d slow %d mode %s rate %v", g.count("fast"), g.count("slow"), rep.Mode, rep.RequestedRate)
	}
	// Each stream's rate (loose bounds: a late first send on a busy
	// machine skews the estimate; the exact counts above are the real
	// check), and the total as their sum.
	if f, s := *rep.Routes[0].AchievedRate, *rep.Routes[1].AchievedRate; f > 25 || s > 6.5 || f < 15 || s < 3.5 {
		t.Fatalf("per-route achieved rates %v, %v", f, s)
	}
	if tot := *rep.AchievedRate; math.Abs(tot-(*rep.Routes[0].AchievedRate+*rep.Routes[1].AchievedRate)) > 1e-9 {
		t.Fatalf("total achieved %v", tot)
	}
}

// TestProbeConcurrencyCapAndNoCoordinatedOmission: with one slot and a
// 100ms server, requests due every 10ms queue up; their latency is measured
// from when they were due, so it grows with the queue instead of reading
// ~100ms for every request.
func TestProbeConcurrencyCapAndNoCoordinatedOmission(t *testing.T) {
	g, srv := newGateway(t, map[string]time.Duration{"slow": 100 * time.Millisecond})
	rep, err := Run(context.Background(), Options{
		URL: srv.URL, Routes: models(t, "slow"),
		Plan:        Plan{Rate: 100, Count: 8},
		Concurrency: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.peak.Load() != 1 {
		t.Fatalf("peak in flight %d, want 1", g.peak.Load())
	}
	r := rep.Routes[0]
	if r.Requests != 8 || r.Status2xx != 8 {
		t.Fatalf("%+v", r)
	}
	// Request k completes at ~(k+1)*100ms and was due at k*10ms: the last
	// one's latency is ~730ms. A closed-loop measurement would say ~100ms.
	if r.MaxMs < 600 || r.P50ms < 300 {
		t.Fatalf("latency p50 %vms max %vms: coordinated omission (queueing not counted)", r.P50ms, r.MaxMs)
	}
	if r.SendLagP99ms < 500 {
		t.Fatalf("send lag p99 %vms: the cap should have delayed sends", r.SendLagP99ms)
	}

	// A wider cap is used but never exceeded.
	g2, srv2 := newGateway(t, map[string]time.Duration{"slow": 100 * time.Millisecond})
	if _, err := Run(context.Background(), Options{URL: srv2.URL, Routes: models(t, "slow"), Plan: Plan{Rate: 200, Count: 30}, Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	if p := g2.peak.Load(); p != 4 {
		t.Fatalf("peak in flight %d, want exactly the cap 4", p)
	}
}

func TestProbeTimeoutsErrorsAndRedirects(t *testing.T) {
	_, srv := newGateway(t, map[string]time.Duration{"hang": 2 * time.Second})
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused from now on

	rs, _ := NormalizeAll([]Route{{Model: "hang"}, {Name: "redirect", Path: "/redirect"}, {Name: "health", Path: "/health"}}, "", 0)
	rep, err := Run(context.Background(), Options{URL: srv.URL, Routes: rs, Plan: Plan{Rate: 100, Count: 3}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h, r, ok := rep.Routes[0], rep.Routes[1], rep.Routes[2]
	if h.Errors != 1 || h.Timeouts != 1 || *h.SuccessRate != 0 {
		t.Errorf("hanging route: %+v", h)
	}
	if r.Status3xx != 1 || *r.SuccessRate != 1 {
		t.Errorf("redirect must be reported as 3xx, not followed: %+v", r)
	}
	if ok.Status2xx != 1 {
		t.Errorf("health: %+v", ok)
	}

	rep, err = Run(context.Background(), Options{URL: deadURL, Routes: models(t, "x"), Plan: Plan{Rate: 100, Count: 2}, FailUnder: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if x := rep.Routes[0]; x.Errors != 2 || x.Timeouts != 0 || !strings.Contains(x.LastFailure, "refused") || !rep.Failed() {
		t.Errorf("refused: %+v", x)
	}
}

func TestProbeInterruptAndProgress(t *testing.T) {
	_, srv := newGateway(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var calls, finals int
	var lastSent int64
	time.AfterFunc(300*time.Millisecond, cancel)
	rep, err := Run(ctx, Options{
		URL: srv.URL, Routes: models(t, "a"), Plan: Plan{Rate: 50, Duration: time.Minute},
		ProgressEvery: 50 * time.Millisecond,
		Progress: func(st []*RouteStats, _ time.Duration, final bool) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if final {
				finals++
			}
			lastSent = st[0].Requests
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Total.Requests < 5 || rep.Total.Requests > 30 {
		t.Fatalf("interrupted %v after %d requests", rep.Interrupted, rep.Total.Requests)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 3 || finals != 1 || lastSent != rep.Total.Requests {
		t.Fatalf("progress calls %d finals %d last %d", calls, finals, lastSent)
	}
}

// drain collects every send a schedule plans.
func drain(s *Schedule) []Send {
	var got []Send
	for {
		snd, ok := s.Next()
		if !ok {
			return got
		}
		got = append(got, snd)
	}
}
