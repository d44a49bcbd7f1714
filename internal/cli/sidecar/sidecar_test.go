package sidecar

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-dev/sluice/internal/cli/exit"
	"github.com/sluice-dev/sluice/internal/probe"
)

// fakeGateway answers model "good" with 200 and "bad" with 404.
func fakeGateway(t *testing.T, calls *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var body struct{ Model string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.URL.Path != probe.ChatPath || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if body.Model == "bad" {
			http.Error(w, `{"error":"no endpoints"}`, http.StatusNotFound)
			return
		}
		io.WriteString(w, `{"choices":[]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func runProbe(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewProbeCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true // as under the root command
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestProbeCmdFailUnderExitCode(t *testing.T) {
	var calls atomic.Int64
	srv := fakeGateway(t, &calls)
	out, stderr, err := runProbe(t, srv.URL, "--model", "good,bad", "--rate", "100", "--count", "10",
		"-H", "Authorization: Bearer k", "--fail-under", "0.95", "--progress", "plain", "--progress-interval", "10ms")
	if err == nil || exit.Code(err) != probeFailExit {
		t.Fatalf("err %v (exit %d), want exit %d", err, exit.Code(err), probeFailExit)
	}
	if calls.Load() != 10 {
		t.Fatalf("server saw %d requests, want 10", calls.Load())
	}
	norm := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"good 5 5 0 0 0 0 100.0%", "bad 5 0 0 5 0 0 0.0%", "FAIL: success rate below 95.0% on: bad", "bad: last failure: HTTP 404: {\"error\":\"no endpoints\"}"} {
		if !strings.Contains(norm, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "sluice probe: "+srv.URL+", 2 routes, 100 req/s in total, at most 10 requests") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// Healthy routes only: exit 0, JSON on stdout.
	out, _, err = runProbe(t, srv.URL, "--model", "good", "--per-route-rate", "50", "--count", "4",
		"--api-key", "k", "--fail-under", "0.95", "-o", "json", "--progress", "none")
	if err != nil {
		t.Fatalf("healthy run failed: %v", err)
	}
	var rep probe.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Total.Requests != 4 || rep.Failed() || rep.Mode != "per-route" {
		t.Fatalf("json report: %v %s", err, out)
	}
}

func TestProbeCmdUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},           // no URL
		{"http://x"}, // no routes
		{"http://x", "--model", "a", "--rate", "0"},
		{"http://x", "--model", "a", "--rate", "2", "--per-route-rate", "1"},
		{"http://x", "--model", "a", "--fail-under", "95"},
		{"http://x", "--model", "a", "-o", "yaml"},
		{"http://x", "--route", "GET"},
		{"ftp://x", "--model", "a", "--count", "1"},
	} {
		if _, _, err := runProbe(t, args...); err == nil || exit.Code(err) == probeFailExit {
			t.Errorf("%q: err %v", args, err)
		}
	}
}

func TestExporterCmdFlags(t *testing.T) {
	cmd := NewExporterCmd()
	var errb bytes.Buffer
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(`{"kind":"access","code":200,"path":"/a"}` + "\n" + `{"kind":"access","code":500}` + "\n" + `{"kind":"audit"}` + "\nnope\n"))
	cmd.SetArgs([]string{"--preset", "none", "--metric", "http_requests_total", "--match", "kind=access",
		"--label", "code=code", "--label", "path=path:unknown", "--exit-on-eof", "--listen", ""})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if s := errb.String(); !strings.Contains(s, "http_requests_total{code=code, path=path:unknown} where kind=access") ||
		!strings.Contains(s, "4 lines: 2 parsed, 1 skipped, 1 malformed") {
		t.Fatalf("stderr:\n%s", s)
	}
	cmd = NewExporterCmd()
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--metric", "bad-name", "--exit-on-eof"})
	if err := cmd.Execute(); err == nil {
		t.Fatal("invalid metric name accepted")
	}
}
