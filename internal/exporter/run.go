package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures an Exporter.
type Options struct {
	Config Config
	// File is the log to follow; "" or "-" reads Stdin.
	File  string
	Stdin io.Reader
	// FromStart reads an existing file from its beginning (default: its end).
	FromStart bool
	// ExitOnEOF stops reading at the end of the input (stdin or file).
	ExitOnEOF bool
	Poll      time.Duration
	// MaxLineBytes bounds one line; longer lines are counted malformed.
	MaxLineBytes int
	// Stderr receives sampled bad lines and follower notices.
	Stderr io.Writer
	// MalformedEvery and SkippedEvery are the sampling intervals for
	// printing bad lines (<= 0: never).
	MalformedEvery, SkippedEvery time.Duration
}

// Exporter is one running log-to-metrics pipeline.
type Exporter struct {
	o    Options
	proc *Processor
	reg  *prometheus.Registry

	follow *prometheus.CounterVec

	mu         sync.Mutex
	malSampler Sampler
	skpSampler Sampler

	state     atomic.Value // string
	readErr   atomic.Pointer[error]
	startedAt time.Time
}

// New builds an exporter; nothing runs until Consume or Run.
func New(o Options) (*Exporter, error) {
	p, err := NewProcessor(o.Config)
	if err != nil {
		return nil, err
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	e := &Exporter{o: o, proc: p, reg: prometheus.NewRegistry(), startedAt: time.Now()}
	e.malSampler.Every = o.MalformedEvery
	e.skpSampler.Every = o.SkippedEvery
	e.follow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_exporter_file_events_total",
		Help: "Things the file follower noticed: opened, rotated, truncated, waiting (the path did not exist).",
	}, []string{"event"})
	for _, ev := range []FollowEvent{EventOpened, EventRotated, EventTruncated, EventWaiting} {
		e.follow.WithLabelValues(string(ev))
	}
	e.reg.MustRegister(p, e.follow,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e.state.Store("starting")
	return e, nil
}

// Processor exposes the line counts.
func (e *Exporter) Processor() *Processor { return e.proc }

// Registry is the exporter's Prometheus registry.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler serves /metrics and /healthz.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("/healthz", e.healthz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "sluice exporter: %s\n/metrics  /healthz\n", e.proc.cfg.Describe())
	})
	return mux
}

func (e *Exporter) healthz(w http.ResponseWriter, _ *http.Request) {
	st := e.proc.Stats()
	body := map[string]any{
		"state":     e.state.Load(),
		"input":     e.input(),
		"parsed":    st.Parsed,
		"skipped":   st.Skipped,
		"malformed": st.Malformed,
		"series":    st.Series,
		"uptime":    time.Since(e.startedAt).Round(time.Second).String(),
	}
	code := http.StatusOK
	if p := e.readErr.Load(); p != nil {
		body["state"] = "failed"
		body["error"] = (*p).Error()
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (e *Exporter) input() string {
	if e.o.File == "" || e.o.File == "-" {
		return "stdin"
	}
	return e.o.File
}

// handle processes one line and samples the bad ones to stderr.
func (e *Exporter) handle(line []byte) {
	r, why := e.proc.Process(line)
	if r == Parsed {
		return
	}
	s := &e.skpSampler
	if r == Malformed {
		s = &e.malSampler
	}
	if s.Every <= 0 {
		return
	}
	e.mu.Lock()
	ok, suppressed := s.Allow(time.Now())
	e.mu.Unlock()
	if !ok {
		return
	}
	more := ""
	if suppressed > 0 {
		more = fmt.Sprintf(" (%d more %s lines since the last sample)", suppressed, r)
	}
	fmt.Fprintf(e.o.Stderr, "exporter: %s line: %s: %s%s\n", r, why, Snippet(line, 200), more)
}

func (e *Exporter) tooLong() {
	e.proc.CountTooLong()
	if e.malSampler.Every <= 0 {
		return
	}
	e.mu.Lock()
	ok, suppressed := e.malSampler.Allow(time.Now())
	e.mu.Unlock()
	if ok {
		fmt.Fprintf(e.o.Stderr, "exporter: malformed line: %s (%d bytes max; %d suppressed since the last sample)\n",
			ReasonLineTooLong, e.o.MaxLineBytes, suppressed)
	}
}

// Consume reads the input until it ends (stdin EOF, or file EOF with
// ExitOnEOF), ctx is done, or a read error.
func (e *Exporter) Consume(ctx context.Context) error {
	e.state.Store("reading")
	var err error
	if e.o.File == "" || e.o.File == "-" {
		err = ReadLines(ctx, e.o.Stdin, e.o.MaxLineBytes, e.handle, e.tooLong)
	} else {
		err = Follow(ctx, FollowOptions{
			Path: e.o.File, FromStart: e.o.FromStart, Poll: e.o.Poll, ExitOnEOF: e.o.ExitOnEOF,
			MaxLine: e.o.MaxLineBytes,
			OnEvent: func(ev FollowEvent, path string) {
				e.follow.WithLabelValues(string(ev)).Inc()
				switch ev {
				case EventWaiting:
					e.state.Store("waiting for " + path)
					fmt.Fprintf(e.o.Stderr, "exporter: waiting for %s to exist\n", path)
				case EventOpened:
					e.state.Store("following " + path)
				case EventRotated, EventTruncated:
					fmt.Fprintf(e.o.Stderr, "exporter: %s was %s; reading it from the start\n", path, ev)
				}
			},
		}, e.handle, e.tooLong)
	}
	if err != nil {
		e.readErr.Store(&err)
		return err
	}
	e.state.Store("input ended")
	return nil
}

// Run serves /metrics and /healthz on listen ("" serves nothing) while
// consuming the input. With ExitOnEOF it returns when the input ends;
// otherwise it keeps serving (so the final counts stay scrapeable) until ctx
// is done. ready, if set, is called with the bound address.
func (e *Exporter) Run(ctx context.Context, listen string, ready func(addr string)) error {
	var srv *http.Server
	srvErr := make(chan error, 1)
	if listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		srv = &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { srvErr <- srv.Serve(ln) }()
		if ready != nil {
			ready(ln.Addr().String())
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	} else if ready != nil {
		ready("")
	}
	done := make(chan error, 1)
	go func() { done <- e.Consume(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("reading %s: %w", e.input(), err)
		}
		if e.o.ExitOnEOF || ctx.Err() != nil {
			return nil
		}
		// The input ended (stdin closed): keep serving the final counts.
		select {
		case <-ctx.Done():
			return nil
		case err := <-srvErr:
			return err
		}
	case err := <-srvErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
