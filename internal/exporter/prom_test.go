package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/testprom"
)

// seedsQuery is the error-rate query of the seeds' AnalysisTemplate after
// their PR #216 (4xx and 5xx both count as failures).
const seedsQuery = `sum(rate(litellm_request_total{status!~"2..|3.."}[1m])) / sum(rate(litellm_request_total[1m]))`

// fiveXXOnly is the query before that fix, which a 4xx-only breakage passes.
const fiveXXOnly = `sum(rate(litellm_request_total{status=~"5.."}[1m])) / sum(rate(litellm_request_total[1m]))`

func promScalar(t *testing.T, s *testprom.Server, q string) (float64, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	data, err := s.Query(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var d struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v: %s", q, err, data)
	}
	if len(d.Result) != 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(d.Result[0].Value[1].(string), 64)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v, true
}

// TestRealPrometheusSeedsQuery runs the exporter as a sidecar would: an
// "app" appends LiteLLM JSON lines to a file, the exporter follows it and
// serves /metrics, and Debian's real Prometheus scrapes it. The seeds'
// error-rate query must return the error fraction that was written (3 of
// every 10 requests: a 404, a 429 and a 500), and the counters must add up
// to exactly the events written.
func TestRealPrometheusSeedsQuery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := Preset("litellm")
	e, err := New(Options{Config: c, File: path, Poll: 10 * time.Millisecond, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	go func() { _ = e.Run(ctx, "127.0.0.1:0", func(a string) { addrc <- a }) }()
	addr := <-addrc

	prom := testprom.Start(t, []string{addr}, 200*time.Millisecond)
	prom.WaitScraped(t, `sluice_exporter_lines_total{result="parsed"}`, 30*time.Second)

	// Each batch: 10 requests over 3 models (5x200, 201, 302, 404, 429,
	// 500), one request_started line and one truncated line.
	statuses := []int{200, 200, 200, 200, 200, 201, 302, 404, 429, 500}
	models := []string{"qwen3.5", "mistral-small", "gpt-4o-mini"}
	const batches = 60
	var events, errors int
	for b := range batches {
		var sb strings.Builder
		for i, st := range statuses {
			fmt.Fprintf(&sb, `{"timestamp":"2026-05-04T17:24:%02d.%03dZ","event":"request_completed","model":%q,"status_code":%d,"api_user":"team-%d","response_time":0.42}`+"\n",
				b%60, i, models[(b+i)%len(models)], st, i%2)
			events++
			if st >= 400 {
				errors++
			}
		}
		sb.WriteString(`{"event":"request_started","model":"qwen3.5"}` + "\n")
		sb.WriteString(`{"event":"request_completed","model":"qwen3.5","stat` + "\n")
		appendFile(t, path, sb.String())
		time.Sleep(50 * time.Millisecond)
	}
	want := float64(errors) / float64(events) // 0.3

	// Prometheus has the exact totals once it scrapes after the last batch.
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, ok1 := promScalar(t, prom, `sum(litellm_request_total)`)
		mal, ok2 := promScalar(t, prom, `sluice_exporter_lines_total{result="malformed"}`)
		skp, ok3 := promScalar(t, prom, `sluice_exporter_lines_total{result="skipped"}`)
		if ok1 && ok2 && ok3 && total == float64(events) && mal == batches && skp == batches {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never saw the totals: sum=%v malformed=%v skipped=%v, want %d, %d, %d", total, mal, skp, events, batches, batches)
		}
		time.Sleep(100 * time.Millisecond)
	}

	got, ok := promScalar(t, prom, seedsQuery)
	if !ok || math.Abs(got-want) > 0.03 {
		t.Fatalf("seeds' query = %v (ok %v), want %.3f ± 0.03", got, ok, want)
	}
	old, ok := promScalar(t, prom, fiveXXOnly)
	if !ok || math.Abs(old-0.1) > 0.02 {
		t.Fatalf("5xx-only query = %v, want 0.1: it sees only the 500s", old)
	}
	t.Logf("error rate via real Prometheus: %.4f (fed %.4f); the pre-fix 5xx-only query says %.4f", got, want, old)
}
