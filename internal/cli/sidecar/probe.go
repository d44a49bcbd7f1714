package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sluice-dev/sluice/internal/cli/exit"
	"github.com/sluice-dev/sluice/internal/probe"
)

// probeFailExit is the exit code when a route is below --fail-under.
const probeFailExit = 2

func NewProbeCmd() *cobra.Command {
	var (
		modelsF, routesF, headersF            []string
		routesFile, prompt, apiKey, out, prog string
		maxTokens, concurrency                int
		rate, perRouteRate, failUnder         float64
		duration, timeout, progEvery          time.Duration
		count                                 int64
	)
	cmd := &cobra.Command{
		Use:   "probe [URL]",
		Short: "Send open-loop synthetic traffic over several routes and report each one's success rate and latency",
		Long: `Sends synthetic requests to URL on a fixed schedule (open loop: a slow or
failing server does not slow the sender down), rotating through routes, and
reports per route: requests, 2xx/3xx/4xx/5xx, transport errors (refused,
reset, timeout), success rate and p50/p95/p99 latency.

Routes:
  --model a,b,c      an OpenAI-compatible gateway (LiteLLM, vLLM, ...): each
                     model is a POST /v1/chat/completions with a tiny prompt
                     (--prompt, --max-tokens). Probe several model classes:
                     one broken model hides behind a healthy one in totals.
  --route SPEC       generic: [NAME=]METHOD PATH [BODY], repeatable
  --routes-file F    YAML: url, headers, prompt, maxTokens, routes (name,
                     model | method/path/body, headers, rate)

Rate: --rate is the aggregate rate, requests rotating over the routes in
order. --per-route-rate (or a rate: on routes in the file) sends every route
at its own rate instead. Sends are due at exact times (k/rate), so a late
send never shifts the ones after it.

Bounds: --duration and/or --count (total requests); the first reached ends
the run. Without either, it runs for 1m. Ctrl-C stops early and still
reports.

Latency is measured from each request's scheduled send time to the end of
its response body, so queueing behind --concurrency or a stalled sender is
counted (no coordinated omission). Redirects are not followed (a 3xx is
reported as such). Success means 2xx or 3xx, the split used by the error-rate
query status!~"2..|3..".

Progress goes to stderr: one updating line per route on a terminal, plain
lines every --progress-interval otherwise. The final table (or -o json) goes
to stdout. Exit code 2 when --fail-under is set and any route's success
rate is below it (a route with no completed request also fails).`,
		Example: `  # The seeds' rehearsal, done right: rotate model classes through LiteLLM
  # at 5 req/s in total for 2 minutes, fail if any model is under 95%
  sluice probe http://litellm.litellm.svc:4000 \
    --model qwen3.5,mistral-small,llava-1.6,qwen2.5-coder,deepseek-r1 \
    --rate 5 --duration 2m --fail-under 0.95 -H "Authorization: Bearer $LITELLM_KEY"

  # Each model at 1 req/s, stop after 300 requests, JSON for scripts
  sluice probe http://localhost:4000 --model a,b,c --per-route-rate 1 --count 300 -o json

  # Generic HTTP routes
  sluice probe https://shop.example --rate 20 --duration 30s \
    --route 'home=GET /' --route 'search=GET /search?q=socks' \
    --route 'cart=POST /api/cart {"sku":"socks-1","qty":1}'

  # Routes from a file
  sluice probe --routes-file probe.yaml --duration 5m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			var file probe.File
			if routesFile != "" {
				var err error
				if file, err = probe.LoadFile(routesFile); err != nil {
					return err
				}
			}
			url := file.URL
			if len(args) == 1 {
				url = args[0]
			}
			if url == "" {
				return errors.New("no URL: give it as the argument or as url: in --routes-file")
			}
			routes := file.Routes
			for _, m := range modelsF {
				if m = strings.TrimSpace(m); m != "" {
					routes = append(routes, probe.Route{Model: m})
				}
			}
			for _, r := range routesF {
				rr, err := probe.ParseRoute(r)
				if err != nil {
					return err
				}
				routes = append(routes, rr)
			}
			if len(routes) == 0 {
				return errors.New("no routes: use --model, --route or --routes-file")
			}
			if !f.Changed("prompt") && file.Prompt != "" {
				prompt = file.Prompt
			}
			if !f.Changed("max-tokens") && file.MaxTokens > 0 {
				maxTokens = file.MaxTokens
			}
			routes, err := probe.NormalizeAll(routes, prompt, maxTokens)
			if err != nil {
				return err
			}

			hdr := http.Header{}
			for k, v := range file.Headers {
				hdr.Set(k, v)
			}
			for _, h := range headersF {
				k, v, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return fmt.Errorf("header %q: want 'Name: value'", h)
				}
				hdr.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if apiKey == "" {
				apiKey = os.Getenv("SLUICE_PROBE_API_KEY")
			}
			if apiKey != "" && hdr.Get("Authorization") == "" {
				hdr.Set("Authorization", "Bearer "+apiKey)
			}

			plan := probe.Plan{Rate: rate, Duration: duration, Count: count}
			perRoute := f.Changed("per-route-rate")
			for _, r := range routes {
				if r.Rate > 0 {
					perRoute = true
				}
			}
			if perRoute {
				if f.Changed("rate") {
					return errors.New("--rate (aggregate) and per-route rates (--per-route-rate, rate: in the file) exclude each other")
				}
				plan.PerRoute = true
				for _, r := range routes {
					rr := r.Rate
					if rr == 0 {
						rr = perRouteRate
					}
					if rr <= 0 {
						return fmt.Errorf("route %q has no rate: set --per-route-rate or rate: in the file", r.Name)
					}
					plan.Rates = append(plan.Rates, rr)
				}
			}
			if plan.Duration <= 0 && plan.Count <= 0 {
				plan.Duration = time.Minute
			}
			if failUnder < 0 || failUnder > 1 {
				return errors.New("--fail-under is a fraction between 0 and 1 (e.g. 0.95)")
			}
			if out != "table" && out != "json" {
				return fmt.Errorf("-o %q: want table or json", out)
			}
			if _, err := probe.NewSchedule(len(routes), plan); err != nil {
				return err
			}

			stderr := cmd.ErrOrStderr()
			mode, err := progressMode(prog, stderr)
			if err != nil {
				return err
			}
			if !f.Changed("progress-interval") && mode == "tty" {
				progEvery = 250 * time.Millisecond
			}
			expected := plan.Expected(len(routes))
			fmt.Fprintf(stderr, "sluice probe: %s, %d routes, %s, up to %d requests\n", url, len(routes), describePlan(plan), expected)
			pr := &progressPrinter{w: stderr, mode: mode, expected: expected, bound: plan.Duration}

			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			go func() { <-ctx.Done(); stop() }() // a second Ctrl-C kills
			defer stop()
			o := probe.Options{
				URL: url, Routes: routes, Headers: hdr, Plan: plan,
				Concurrency: concurrency, Timeout: timeout, FailUnder: failUnder,
			}
			if mode != "none" {
				o.Progress, o.ProgressEvery = pr.print, progEvery
			}
			rep, err := probe.Run(ctx, o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				err = rep.WriteJSON(w)
			} else {
				err = rep.WriteTable(w)
			}
			if err != nil {
				return err
			}
			if rep.Failed() {
				return &exit.Error{Code: probeFailExit, Err: fmt.Errorf("probe: success rate below %.3g on %s", failUnder, strings.Join(rep.Failing, ", "))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&modelsF, "model", nil, "model names for an OpenAI-compatible gateway (POST /v1/chat/completions), comma-separated or repeated")
	f.StringArrayVar(&routesF, "route", nil, "generic route: [NAME=]METHOD PATH [BODY], repeatable")
	f.StringVar(&routesFile, "routes-file", "", "YAML file with url, headers, prompt, maxTokens and routes")
	f.StringVar(&prompt, "prompt", probe.DefaultPrompt, "user message sent to --model routes")
	f.IntVar(&maxTokens, "max-tokens", 5, "max_tokens sent to --model routes (keep it small: probes cost tokens)")
	f.StringArrayVarP(&headersF, "header", "H", nil, "request header 'Name: value', repeatable")
	f.StringVar(&apiKey, "api-key", "", "sent as 'Authorization: Bearer KEY' (default $SLUICE_PROBE_API_KEY)")
	f.Float64Var(&rate, "rate", 1, "aggregate requests per second, rotated over the routes")
	f.Float64Var(&perRouteRate, "per-route-rate", 0, "requests per second for every route (instead of --rate)")
	f.DurationVar(&duration, "duration", 0, "stop scheduling after this long (default 1m when --count is not set)")
	f.Int64Var(&count, "count", 0, "stop after this many requests in total")
	f.IntVar(&concurrency, "concurrency", probe.DefaultConcurrency, "maximum requests in flight (due requests wait for a slot; the wait counts as latency)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "per-request timeout (counted as a transport error)")
	f.StringVarP(&out, "output", "o", "table", "final report format: table or json")
	f.Float64Var(&failUnder, "fail-under", 0, "exit 2 if any route's success rate is below this fraction (e.g. 0.95)")
	f.StringVar(&prog, "progress", "auto", "live progress on stderr: auto, tty (updating lines), plain (periodic lines) or none")
	f.DurationVar(&progEvery, "progress-interval", 10*time.Second, "how often plain progress lines are printed (tty: 250ms)")
	return cmd
}

func describePlan(p probe.Plan) string {
	var s string
	if p.PerRoute {
		s = fmt.Sprintf("per-route rates totalling %.3g req/s", p.TotalRate())
	} else {
		s = fmt.Sprintf("%.3g req/s in total", p.Rate)
	}
	if p.Duration > 0 {
		s += " for " + p.Duration.String()
	}
	if p.Count > 0 {
		s += fmt.Sprintf(", at most %d requests", p.Count)
	}
	return s
}

func progressMode(m string, w io.Writer) (string, error) {
	switch m {
	case "tty", "plain", "none":
		return m, nil
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return "tty", nil
		}
		return "plain", nil
	}
	return "", fmt.Errorf("--progress %q: want auto, tty, plain or none", m)
}

// progressPrinter draws live progress: on a terminal it redraws one line
// per route in place; otherwise it prints a block of plain lines.
type progressPrinter struct {
	mu       sync.Mutex
	w        io.Writer
	mode     string
	expected int64
	bound    time.Duration
	drawn    int
}

func (p *progressPrinter) print(stats []*probe.RouteStats, elapsed time.Duration, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sent int64
	for _, s := range stats {
		sent += s.Requests
	}
	head := fmt.Sprintf("%s elapsed, %d/%d requests done", elapsed.Round(100*time.Millisecond), sent, p.expected)
	nw := probe.NameWidth(stats)
	switch p.mode {
	case "tty":
		var b strings.Builder
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
		}
		b.WriteString("\r\x1b[2K" + head + "\n")
		for _, s := range stats {
			b.WriteString("\r\x1b[2K" + probe.ProgressLine(s, nw) + "\n")
		}
		p.drawn = len(stats) + 1
		io.WriteString(p.w, b.String())
	case "plain":
		if final {
			return // the final table follows
		}
		var b strings.Builder
		b.WriteString("[" + head + "]\n")
		for _, s := range stats {
			b.WriteString("  " + probe.ProgressLine(s, nw) + "\n")
		}
		io.WriteString(p.w, b.String())
	}
}
