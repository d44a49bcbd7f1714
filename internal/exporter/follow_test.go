package exporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitStats polls until cond holds, failing after a generous deadline
// (a correctness wait, not a speed assertion).
func waitStats(t *testing.T, p *Processor, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(p.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats: %+v", what, p.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const (
	evQwenA    = `{"event":"request_completed","model":"qwen3.5","status_code":200,"api_user":"team-a"}` + "\n"
	evQwenAnon = `{"event":"request_completed","model":"qwen3.5","status_code":200}` + "\n"
	evMistral  = `{"event":"request_completed","model":"mistral-small","status_code":404,"api_user":"team-a"}` + "\n"
	evStarted  = `{"event":"request_started","model":"qwen3.5"}` + "\n"
	evDeepseek = `{"event":"request_completed","model":"deepseek-r1","status_code":500}` // no newline: the rotated file's last line
)

// TestFollowFixtureRotationTruncationOverflow follows the fixture log like
// a sidecar, through a logrotate-style rename, a copytruncate, and a series
// bound that overflows, and checks every count exactly.
func TestFollowFixtureRotationTruncationOverflow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	// The fixture is already there: read it from its start (--from-start).
	copyFile(t, "testdata/access.log", path)

	c, _ := Preset("litellm")
	c.MaxSeries = 4
	stderr := &syncWriter{w: &strings.Builder{}}
	e, err := New(Options{Config: c, File: path, FromStart: true, Poll: 5 * time.Millisecond, Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Consume(ctx) }()
	p := e.Processor()

	waitStats(t, p, "the fixture", func(s Stats) bool { return s.Lines() == 16 })

	// The app appends, then logrotate renames the file and the app opens a
	// new one. The old file's last line has no newline yet.
	appendFile(t, path, evQwenA+"{{{ garbage\n"+evDeepseek)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, evQwenAnon+evQwenAnon+evStarted+evQwenAnon+evQwenAnon)
	waitStats(t, p, "the rotated file", func(s Stats) bool { return s.Lines() == 16+3+5 })

	// copytruncate: the file is emptied in place and the app keeps
	// appending (fewer bytes than were read, so the shrink is visible).
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, evMistral+evMistral)
	waitStats(t, p, "the truncated file", func(s Stats) bool { return s.Lines() == 16+3+5+2 })

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	st := p.Stats()
	if st.Parsed != 6+2+4+2 || st.Skipped != 4+1 || st.Malformed != 6+1 {
		t.Errorf("stats = %+v, want 14 parsed, 5 skipped, 7 malformed", st)
	}
	if st.Series != 6 || st.OverflowSeries != 2 || st.OverflowEvents != 2 {
		t.Errorf("series: %+v, want 6 series of which 2 overflow, 2 overflowed events", st)
	}
	wantCount(t, p, 2, "qwen3.5", "200", "team-a")
	wantCount(t, p, 6, "qwen3.5", "200", "anon")
	wantCount(t, p, 3, "mistral-small", "404", "team-a")
	wantCount(t, p, 1, "mistral-small", "429", "anon")
	wantCount(t, p, 1, OverflowValue, "503", OverflowValue) // gpt-4o-mini: 5th label set
	wantCount(t, p, 1, OverflowValue, "500", OverflowValue) // deepseek-r1, from the unterminated last line

	out := scrape(t, e.Handler())
	for _, want := range []string{
		`sluice_exporter_file_events_total{event="rotated"} 1`,
		`sluice_exporter_file_events_total{event="truncated"} 1`,
		`sluice_exporter_file_events_total{event="opened"} 2`,
		`sluice_exporter_overflow_events_total{metric="litellm_request_total"} 2`,
		`litellm_request_total{api_user="__overflow__",model="__overflow__",status="503"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if s := stderr.String(); !strings.Contains(s, "was rotated") || !strings.Contains(s, "was truncated") {
		t.Errorf("stderr lacks the rotation/truncation notices:\n%s", s)
	}
}

// TestFollowFromEndAndWaiting: without --from-start, lines already in the
// file are not counted; a file that appears later is read from its start.
func TestFollowFromEndAndWaiting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	copyFile(t, "testdata/access.log", path)
	c, _ := Preset("litellm")
	e, err := New(Options{Config: c, File: path, Poll: 5 * time.Millisecond, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.Consume(ctx) }()
	waitFor(t, "the file to be opened", func() bool { return strings.HasPrefix(e.state.Load().(string), "following") })
	appendFile(t, path, evQwenA)
	waitStats(t, e.Processor(), "the appended line", func(s Stats) bool { return s.Lines() == 1 })
	wantCount(t, e.Processor(), 1, "qwen3.5", "200", "team-a")

	late := filepath.Join(dir, "late.log")
	e2, err := New(Options{Config: c, File: late, Poll: 5 * time.Millisecond, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e2.Consume(ctx) }()
	waitFor(t, "the waiting state", func() bool { return strings.HasPrefix(e2.state.Load().(string), "waiting") })
	appendFile(t, late, evQwenA+evMistral)
	waitStats(t, e2.Processor(), "the late file", func(s Stats) bool { return s.Parsed == 2 })
}

func TestExitOnEOFAndHealthz(t *testing.T) {
	c, _ := Preset("litellm")
	f, err := os.Open("testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := New(Options{Config: c, Stdin: f, ExitOnEOF: true, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background(), "127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	if st := e.Processor().Stats(); st.Lines() != 16 || st.Parsed != 6 {
		t.Fatalf("%+v", st)
	}
	rec := httptest.NewRecorder()
	e.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"parsed":6`) {
		t.Fatalf("healthz %d %s", rec.Code, rec.Body)
	}

	// A follower that cannot read its file reports unhealthy.
	dir := t.TempDir()
	e2, _ := New(Options{Config: c, File: dir, FromStart: true, Stderr: io.Discard}) // a directory: read fails
	if err := e2.Consume(context.Background()); err == nil {
		t.Fatal("reading a directory succeeded")
	}
	rec = httptest.NewRecorder()
	e2.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"failed"`) {
		t.Fatalf("healthz after failure: %d %s", rec.Code, rec.Body)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(fmt.Stringer).String()
}
