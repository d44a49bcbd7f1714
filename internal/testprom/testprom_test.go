package testprom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	got := Config([]string{"127.0.0.1:1234", "127.0.0.1:5678"}, 500*time.Millisecond)
	for _, want := range []string{"scrape_interval: 500ms", "scrape_timeout: 500ms", `- "127.0.0.1:1234"`, `- "127.0.0.1:5678"`} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
}

// TestScrapeQueryStop runs the real Prometheus against a target whose
// counter the test controls.
func TestScrapeQueryStop(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		fmt.Fprintf(w, "# TYPE testprom_hits_total counter\ntestprom_hits_total %d\n", n)
	}))
	defer target.Close()
	s := Start(t, []string{strings.TrimPrefix(target.URL, "http://")}, 200*time.Millisecond)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not loopback", s.URL)
	}
	s.WaitScraped(t, "testprom_hits_total", 20*time.Second)

	// Wait for a few more scrapes and read the value back.
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := s.Query(context.Background(), "testprom_hits_total")
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		if d.ResultType != "vector" || len(d.Result) != 1 || d.Result[0].Metric["job"] != "sluice-test" {
			t.Fatalf("unexpected result: %s", data)
		}
		if v, _ := strconv.ParseFloat(d.Result[0].Value[1].(string), 64); v >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counter never reached 3 scrapes: %s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, err := s.Query(context.Background(), "sum(rate(testprom_hits_total[5s]))"); err != nil {
		t.Fatalf("rate query: %v", err)
	}
	if _, err := s.Query(context.Background(), "sum(rate(testprom_hits_total[5s]"); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Fatalf("a malformed query must fail with Prometheus' error, got %v", err)
	}

	s.Stop()
	s.Stop() // idempotent
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.Query(ctx, "up"); err == nil {
		t.Fatal("query succeeded after Stop: Prometheus is still running")
	}
}
