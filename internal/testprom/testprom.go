// Package testprom runs a real Prometheus server (Debian's
// /usr/bin/prometheus, `apt-get install prometheus`) for tests: on a free
// loopback port, with a temporary data directory and a generated scrape
// config, stopped by t.Cleanup.
package testprom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is the Prometheus executable used; SLUICE_PROMETHEUS overrides it.
var Binary = "/usr/bin/prometheus"

// Server is a running Prometheus.
type Server struct {
	URL string // http://127.0.0.1:PORT

	cmd      *exec.Cmd
	logPath  string
	stopOnce sync.Once
	exited   chan struct{}
}

func binary() string {
	if b := os.Getenv("SLUICE_PROMETHEUS"); b != "" {
		return b
	}
	if _, err := os.Stat(Binary); err == nil {
		return Binary
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	return Binary
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Config renders the scrape config for targets.
func Config(targets []string, scrapeInterval time.Duration) string {
	iv := model(scrapeInterval)
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, iv)
	b.WriteString("scrape_configs:\n  - job_name: sluice-test\n    static_configs:\n      - targets:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "          - %q\n", t)
	}
	return b.String()
}

// model renders a duration in Prometheus' syntax (whole milliseconds).
func model(d time.Duration) string {
	if d <= 0 {
		d = time.Second
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// Start runs Prometheus scraping targets (host:port, path /metrics) every
// scrapeInterval, waits until it is ready, and stops it at cleanup. It
// fails the test with an install hint when the binary is missing.
func Start(t testing.TB, targets []string, scrapeInterval time.Duration) *Server {
	t.Helper()
	bin := binary()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("testprom: Prometheus binary %s not found (%v): install it with `apt-get install -y prometheus` (Debian), or set SLUICE_PROMETHEUS", bin, err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(Config(targets, scrapeInterval)), 0o644); err != nil {
		t.Fatalf("testprom: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(bin, dir, cfgPath, attempt)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		lastErr = err
	}
	t.Fatalf("testprom: Prometheus did not start: %v", lastErr)
	return nil
}

func start(bin, dir, cfgPath string, attempt int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, fmt.Sprintf("data-%d", attempt))
	logPath := filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=1h",
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("prometheus exited early: %s", s.logTail())
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("prometheus not ready within 30s: %s", s.logTail())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop kills Prometheus now and waits for it to exit. It is idempotent.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
		}
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
		}
	})
}

// apiResponse is Prometheus' HTTP API envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// Query runs an instant query and returns the API's raw data object
// ({"resultType": ..., "result": ...}).
func (s *Server) Query(ctx context.Context, promql string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v1/query",
		strings.NewReader(url.Values{"query": {promql}}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: HTTP %d, undecodable body %q", promql, resp.StatusCode, bytes.TrimSpace(body))
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", promql, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// WaitScraped waits until metric (a metric name or any selector) has at
// least one sample, failing the test after timeout.
func (s *Server) WaitScraped(t testing.TB, metric string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		data, err := s.Query(ctx, metric)
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			var d struct {
				Result []json.RawMessage `json:"result"`
			}
			if json.Unmarshal(data, &d) == nil && len(d.Result) > 0 {
				return
			}
			last = "no samples yet: " + string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testprom: %s not scraped within %s (%s); targets: %s", metric, timeout, last, s.targets())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) targets() string {
	resp, err := http.Get(s.URL + "/api/v1/targets")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	return string(b)
}
