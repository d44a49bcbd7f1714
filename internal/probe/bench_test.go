package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRateAccuracy drives a local server at 1, 100 and 2000 req/s and
// reports the achieved rate against the requested one, send lag, and the
// latency measured from each request's scheduled send time (so any stall of
// the sender shows up in latency: no coordinated omission). Run it once:
//
//	go test -run '^$' -bench RateAccuracy -benchtime 1x ./internal/probe
//
// PROBE_BENCH_SECONDS sets each rate's duration (default 10).
func BenchmarkRateAccuracy(b *testing.B) {
	secs := 10.0
	if s, err := strconv.ParseFloat(os.Getenv("PROBE_BENCH_SECONDS"), 64); err == nil && s > 0 {
		secs = s
	}
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"ok"}}]}`)
	}))
	defer srv.Close()
	routes, _ := NormalizeAll([]Route{{Model: "qwen3.5"}, {Model: "mistral-small"}, {Model: "llama-3.3-70b"}, {Model: "deepseek-r1"}}, "", 0)
	for _, rate := range []float64{1, 100, 2000} {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			for b.Loop() {
				served.Store(0)
				plan := Plan{Rate: rate, Duration: time.Duration(secs * float64(time.Second))}
				rep, err := Run(context.Background(), Options{URL: srv.URL, Routes: routes, Plan: plan, Concurrency: 256, Timeout: 5 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				want := plan.Expected(len(routes))
				if rep.Total.Requests != want || served.Load() != want || rep.Total.Status2xx != want {
					b.Fatalf("sent %d, served %d, 2xx %d; the plan has %d", rep.Total.Requests, served.Load(), rep.Total.Status2xx, want)
				}
				achieved := 0.0
				if rep.AchievedRate != nil {
					achieved = *rep.AchievedRate
				}
				b.ReportMetric(rate, "req/s_requested")
				b.ReportMetric(achieved, "req/s_achieved")
				b.ReportMetric(100*(achieved-rate)/rate, "rate_err_%")
				b.ReportMetric(float64(rep.Total.Requests), "requests")
				b.ReportMetric(rep.Total.SendLagP99ms, "sendlag_p99_ms")
				b.ReportMetric(rep.Total.P50ms, "lat_p50_ms")
				b.ReportMetric(rep.Total.P99ms, "lat_p99_ms")
				b.ReportMetric(rep.Total.MaxMs, "lat_max_ms")
			}
		})
	}
}
