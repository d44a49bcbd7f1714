// Package sidecar holds the commands that run next to an app rather than
// against the Kubernetes API: the log exporter and the synthetic-traffic
// prober. They build into both binaries: sluice (as subcommands) and the lean
// sluice-exporter sidecar, which links none of the controller.
package sidecar

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/internal/exporter"
)

func NewExporterCmd() *cobra.Command {
	var (
		file, preset, configPath, metric, metricHelp, listen string
		matches, labels, overflowKeep                        []string
		durField, durUnit, durMetric                         string
		buckets                                              []float64
		maxSeries, maxLine                                   int
		fromStart, exitOnEOF                                 bool
		poll, malEvery, skipEvery                            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Turn a JSON-lines access log into Prometheus metrics (a sidecar for apps without request metrics)",
		Long: `Reads JSON lines from stdin or follows a log file (like tail -F: it survives
rotation and truncation), selects events by field match, maps fields to
labels, and serves the counts on /metrics (plus /healthz).

With zero config (--preset litellm, the default) it exports exactly what a
LiteLLM AnalysisTemplate queries:

  litellm_request_total{model, status, api_user}
    for every line with "event": "request_completed";
    model <- "model", status <- "status_code", api_user <- "api_user" (default "anon")

Nothing is dropped silently. Every line is counted in
sluice_exporter_lines_total{result}:
  parsed     a selected event, counted
  skipped    valid JSON that is not a selected event, or a blank line
  malformed  not a JSON object (truncated, garbage), an event lacking a
             required label field, or a line over --max-line-bytes
and bad lines are sampled to stderr at a low rate (--log-malformed-every,
--log-skipped-every).

Label cardinality is bounded: after --max-series distinct label sets, new
ones are counted under the value "__overflow__" (keeping the labels named by
--overflow-keep, so the status split survives), in
sluice_exporter_overflow_events_total. One runaway field cannot flood
Prometheus.

Mapping, in increasing precedence: the preset, then --config (YAML), then
flags. --label and --match replace the preset's lists (give all of them);
--match '' selects every JSON object line. Fields are addressed by dotted
paths into nested objects ("metadata.user_api_key_alias"); numbers and
booleans become their JSON text ("status_code": 200 -> status="200").

Config file (YAML), every key optional:

  metric: litellm_request_total
  help: LiteLLM requests, from the access log
  match:                       # all must hold; not: true negates one
    - {field: event, value: request_completed}
  labels:                      # no default: a missing field is malformed
    - {name: model, field: model}
    - {name: status, field: status_code}
    - {name: api_user, field: metadata.user_api_key_alias, default: anon}
  duration:                    # optional histogram, same labels
    field: response_time
    unit: s                    # s, ms, us or ns
    metric: litellm_request_duration_seconds
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60]
  maxSeries: 1000
  overflowKeep: [status]

Following a file: the file present at start is read from its end unless
--from-start; a file that appears later (after a rotation, or when it did not
exist yet) is read from its beginning. Rotation (rename + new file) is
noticed within --poll-interval and the old file is drained first;
truncation (copytruncate) restarts at the beginning. Both are counted in
sluice_exporter_file_events_total.`,
		Example: `  # The seeds' "Path B" sidecar: follow LiteLLM's JSON access log
  sluice exporter --file /var/log/litellm/access.log

  # Pipe mode: count what an app prints as JSON lines, serve on :9090
  ./my-app 2>&1 | sluice exporter

  # Also export a latency histogram from a field in milliseconds
  sluice exporter -f access.log --duration-field response_time_ms --duration-unit ms

  # A generic app: nginx-style JSON access log
  sluice exporter --preset none -f /var/log/nginx/access.json --match '' \
    --metric http_requests_total --label code=status --label method=request_method \
    --duration-field request_time --overflow-keep code

  # One-shot over an existing log (counts on stderr at the end)
  sluice exporter -f old.log --from-start --exit-on-eof --listen ''`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var cfg exporter.Config
			if preset != "none" {
				c, err := exporter.Preset(preset)
				if err != nil {
					return err
				}
				cfg = c
			} else {
				cfg = exporter.Config{Match: exporter.DefaultMatch, MaxSeries: exporter.DefaultMaxSeries}
			}
			if configPath != "" {
				c, err := exporter.LoadConfigFile(configPath, cfg)
				if err != nil {
					return err
				}
				cfg = c
			}
			if f.Changed("metric") {
				cfg.Metric = metric
			}
			if f.Changed("metric-help") {
				cfg.Help = metricHelp
			}
			if f.Changed("match") {
				cfg.Match = nil
				for _, m := range matches {
					if m == "" {
						continue
					}
					mm, err := exporter.ParseMatch(m)
					if err != nil {
						return err
					}
					cfg.Match = append(cfg.Match, mm)
				}
			}
			if f.Changed("label") {
				cfg.Labels = nil
				for _, l := range labels {
					ll, err := exporter.ParseLabel(l)
					if err != nil {
						return err
					}
					cfg.Labels = append(cfg.Labels, ll)
				}
				if !f.Changed("overflow-keep") {
					// Keep only the preset's overflow labels that still exist.
					var keep []string
					for _, k := range cfg.OverflowKeep {
						for _, l := range cfg.Labels {
							if l.Name == k {
								keep = append(keep, k)
							}
						}
					}
					cfg.OverflowKeep = keep
				}
			}
			if f.Changed("overflow-keep") {
				cfg.OverflowKeep = overflowKeep
			}
			if f.Changed("max-series") {
				cfg.MaxSeries = maxSeries
			}
			if durField != "" {
				if cfg.Duration == nil {
					cfg.Duration = &exporter.Duration{}
				}
				cfg.Duration.Field = durField
			}
			if cfg.Duration != nil {
				if f.Changed("duration-unit") {
					cfg.Duration.Unit = durUnit
				}
				if f.Changed("duration-metric") {
					cfg.Duration.Metric = durMetric
				}
				if f.Changed("buckets") {
					cfg.Duration.Buckets = buckets
				}
			}
			if cfg.Metric == "" {
				return fmt.Errorf("no metric name: use --preset litellm, --config FILE or --metric NAME")
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			e, err := exporter.New(exporter.Options{
				Config: cfg, File: file, Stdin: cmd.InOrStdin(), FromStart: fromStart, ExitOnEOF: exitOnEOF,
				Poll: poll, MaxLineBytes: maxLine, Stderr: stderr,
				MalformedEvery: malEvery, SkippedEvery: skipEvery,
			})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			input := "stdin"
			if file != "" && file != "-" {
				input = file
				if fromStart {
					input += " (from the start)"
				}
				if exitOnEOF {
					input += " (until EOF)"
				} else {
					input += " (following)"
				}
			}
			start := time.Now()
			err = e.Run(ctx, listen, func(addr string) {
				serving := "no HTTP endpoint"
				if addr != "" {
					serving = "serving http://" + addr + "/metrics and /healthz"
				}
				fmt.Fprintf(stderr, "sluice exporter: %s\nsluice exporter: reading %s; %s\n", cfg.Describe(), input, serving)
			})
			st := e.Processor().Stats()
			el := time.Since(start)
			rate := ""
			if s := el.Seconds(); s > 0 {
				rate = fmt.Sprintf(" (%.0f lines/s)", float64(st.Lines())/s)
			}
			fmt.Fprintf(stderr, "sluice exporter: %s in %s%s\n", st, el.Round(time.Millisecond), rate)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "-", `log file to follow ("-": read stdin)`)
	f.BoolVar(&fromStart, "from-start", false, "read the file present at start from its beginning (default: only new lines)")
	f.BoolVar(&exitOnEOF, "exit-on-eof", false, "stop at the end of the input instead of following (stdin: exit instead of serving the final counts)")
	f.DurationVar(&poll, "poll-interval", 250*time.Millisecond, "how often to check a file for growth, rotation and truncation")
	f.IntVar(&maxLine, "max-line-bytes", 1<<20, "longest accepted line; longer ones are counted malformed (memory stays flat)")
	f.StringVar(&preset, "preset", "litellm", `starting mapping: `+strings.Join(exporter.PresetNames(), ", ")+`, or "none"`)
	f.StringVar(&configPath, "config", "", "YAML mapping file (overrides the preset; flags override it)")
	f.StringVar(&metric, "metric", "", "counter name (e.g. http_requests_total)")
	f.StringVar(&metricHelp, "metric-help", "", "counter HELP text")
	f.StringArrayVar(&matches, "match", nil, `select events: FIELD=VALUE or FIELD!=VALUE, repeatable, all must hold (default event=request_completed; '' selects every line)`)
	f.StringArrayVar(&labels, "label", nil, "map a field to a label: NAME=FIELD or NAME=FIELD:DEFAULT, repeatable, replaces the preset's labels")
	f.StringVar(&durField, "duration-field", "", "numeric field to observe into a histogram (with the counter's labels)")
	f.StringVar(&durUnit, "duration-unit", "s", "unit of --duration-field: s, ms, us or ns (the histogram is in seconds)")
	f.StringVar(&durMetric, "duration-metric", "", "histogram name (default: the counter's name with _total -> _duration_seconds)")
	f.Float64SliceVar(&buckets, "buckets", nil, "histogram buckets in seconds (default 0.05,0.1,0.25,0.5,1,2.5,5,10,20,30,60,120,300)")
	f.IntVar(&maxSeries, "max-series", exporter.DefaultMaxSeries, "bound on distinct label sets; beyond it values become __overflow__ (0: unbounded)")
	f.StringSliceVar(&overflowKeep, "overflow-keep", nil, "labels that keep their value in overflow series (litellm preset: status)")
	f.StringVar(&listen, "listen", ":9090", `address for /metrics and /healthz ("" serves nothing)`)
	f.DurationVar(&malEvery, "log-malformed-every", 10*time.Second, "print at most one malformed line per interval to stderr (0: never)")
	f.DurationVar(&skipEvery, "log-skipped-every", 5*time.Minute, "print at most one skipped line per interval to stderr (0: never)")
	return cmd
}
