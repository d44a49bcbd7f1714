package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configures a probe run.
type Options struct {
	// URL is the base URL; route paths are appended to it.
	URL     string
	Routes  []Route // normalized
	Headers http.Header
	Plan    Plan
	// Concurrency caps requests in flight. When the cap is reached, due
	// sends wait for a slot and their latency includes the wait.
	Concurrency int
	// Timeout bounds each request, from its actual send.
	Timeout time.Duration
	// FailUnder fails routes whose success rate is below it (0: off).
	FailUnder float64
	// Client overrides the HTTP client (tests).
	Client *http.Client
	// Progress, if set, is called every ProgressEvery with a snapshot of
	// every route's stats, and once more at the end (final = true).
	Progress      func(stats []*RouteStats, elapsed time.Duration, final bool)
	ProgressEvery time.Duration
}

// DefaultConcurrency is the default cap on requests in flight.
const DefaultConcurrency = 100

type recorder struct {
	mu    sync.Mutex
	stats []*RouteStats
}

func (r *recorder) record(o Outcome) {
	r.mu.Lock()
	r.stats[o.Route].Record(o)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []*RouteStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*RouteStats, len(r.stats))
	for i, s := range r.stats {
		c := *s
		c.Latency = Hist{}
		c.Latency.Merge(&s.Latency)
		c.SendLag = Hist{}
		c.SendLag.Merge(&s.SendLag)
		out[i] = &c
	}
	return out
}

// NewClient is the probe's HTTP client: it does not follow redirects (a 3xx
// is reported as such) and keeps up to concurrency idle connections.
func NewClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency
	tr.MaxIdleConnsPerHost = concurrency
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run sends the plan's requests and returns the report. Cancelling ctx
// stops scheduling new requests; those in flight finish (within Timeout)
// and the report is marked interrupted.
func Run(ctx context.Context, o Options) (Report, error) {
	sched, err := NewSchedule(len(o.Routes), o.Plan)
	if err != nil {
		return Report{}, err
	}
	base := strings.TrimRight(o.URL, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return Report{}, fmt.Errorf("url %q: want http:// or https://", o.URL)
	}
	conc := o.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	client := o.Client
	if client == nil {
		client = NewClient(conc)
	}
	rec := &recorder{}
	for _, r := range o.Routes {
		rec.stats = append(rec.stats, &RouteStats{Name: r.Name})
	}

	start := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	if o.Progress != nil && o.ProgressEvery > 0 {
		go func() {
			defer close(progressDone)
			t := time.NewTicker(o.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					o.Progress(rec.snapshot(), time.Since(start), false)
				}
			}
		}()
	} else {
		close(progressDone)
	}

	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	interrupted := false
dispatch:
	for {
		snd, ok := sched.Next()
		if !ok {
			break
		}
		due := start.Add(snd.At)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				timer.Stop()
				interrupted = true
				break dispatch
			case <-timer.C:
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			interrupted = true
			break dispatch
		}
		wg.Add(1)
		go func(snd Send, due time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			rec.record(do(client, base, o.Routes[snd.Route], o.Headers, timeout, snd.Route, due))
		}(snd, due)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopProgress)
	<-progressDone
	if o.Progress != nil {
		o.Progress(rec.snapshot(), elapsed, true)
	}
	rep := BuildReport(o.URL, o.Routes, rec.stats, o.Plan, elapsed, o.FailUnder)
	rep.Interrupted = interrupted
	return rep, nil
}

const detailMax = 200

func do(client *http.Client, base string, r Route, hdr http.Header, timeout time.Duration, idx int, due time.Time) Outcome {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	o := Outcome{Route: idx, Scheduled: due}
	req, err := http.NewRequestWithContext(ctx, r.Method, base+r.Path, body)
	if err != nil {
		o.Sent, o.Done, o.Err = time.Now(), time.Now(), err
		return o
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if r.Body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "sluice-probe")
	o.Sent = time.Now()
	resp, err := client.Do(req)
	if err != nil {
		o.Done, o.Err = time.Now(), shortErr(err)
		o.Timeout = errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
		return o
	}
	o.Status = resp.StatusCode
	if !Success(resp.StatusCode) {
		var b bytes.Buffer
		_, _ = io.Copy(&b, io.LimitReader(resp.Body, detailMax))
		o.Detail = snippet(b.Bytes())
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	o.Done = time.Now()
	if err != nil {
		// The status arrived but the body broke off: a transport error.
		o.Status, o.Err = 0, fmt.Errorf("HTTP %d, then reading the body: %w", resp.StatusCode, shortErr(err))
		o.Timeout = errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
	}
	return o
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// shortErr drops the method and URL that net/http wraps around errors.
func shortErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(b) >= detailMax {
		s += "..."
	}
	return s
}
