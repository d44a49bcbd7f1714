// Package exporter turns JSON-lines access logs into Prometheus metrics: it
// selects events by field match, maps fields to labels, counts them (and
// optionally observes a duration field into a histogram), bounds label
// cardinality, and counts every line it could not use. The line logic
// (Processor) is pure; following a file and serving HTTP live in follow.go
// and run.go.
package exporter

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// OverflowValue replaces label values once a metric reaches its series bound.
const OverflowValue = "__overflow__"

// Config describes one metric family built from the log.
type Config struct {
	// Metric is the counter's name, e.g. litellm_request_total.
	Metric string `json:"metric"`
	// Help is the counter's HELP text.
	Help string `json:"help,omitempty"`
	// Match selects the events to count: every condition must hold. Empty
	// means every JSON object line is an event.
	Match []Match `json:"match,omitempty"`
	// Labels maps fields to label names, in exposition order.
	Labels []Label `json:"labels,omitempty"`
	// Duration, when set, also observes a numeric field into a histogram.
	Duration *Duration `json:"duration,omitempty"`
	// MaxSeries bounds the number of distinct label sets (0: unbounded).
	MaxSeries int `json:"maxSeries,omitempty"`
	// OverflowKeep lists labels that keep their value in overflow series
	// (so a status label still separates errors once the bound is hit).
	OverflowKeep []string `json:"overflowKeep,omitempty"`
}

// Match is one event-selection condition on a field's text.
type Match struct {
	Field string `json:"field"`
	// Value is compared with the field's text (a string's contents, or a
	// number's or literal's JSON text).
	Value string `json:"value"`
	// Not inverts the condition; a missing field then matches.
	Not bool `json:"not,omitempty"`
}

func (m Match) String() string {
	op := "="
	if m.Not {
		op = "!="
	}
	return m.Field + op + m.Value
}

// Label maps one field to one label.
type Label struct {
	Name  string `json:"name"`
	Field string `json:"field"`
	// Default is used when the field is missing or null. Without a default
	// (nil) such a line is counted as malformed.
	Default *string `json:"default,omitempty"`
}

func (l Label) String() string {
	s := l.Name + "=" + l.Field
	if l.Default != nil {
		s += ":" + *l.Default
	}
	return s
}

// Duration observes a numeric field into a histogram with the counter's labels.
type Duration struct {
	Field string `json:"field"`
	// Unit of the field: s, ms, us or ns. The histogram is in seconds.
	Unit string `json:"unit,omitempty"`
	// Metric is the histogram name (default: the counter's name with
	// _total replaced by _duration_seconds).
	Metric  string    `json:"metric,omitempty"`
	Buckets []float64 `json:"buckets,omitempty"`
}

// DefaultBuckets suit LLM gateway latencies: 50 ms up to 5 minutes.
var DefaultBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}

// DefaultMatch is the seeds' event selector.
var DefaultMatch = []Match{{Field: "event", Value: "request_completed"}}

// DefaultMaxSeries bounds label sets when a config does not say.
const DefaultMaxSeries = 1000

func strp(s string) *string { return &s }

// Presets are ready-made configs selectable with --preset.
var Presets = map[string]Config{
	// litellm is the seeds' "Path B" sidecar: the metric name their
	// AnalysisTemplate already queries.
	"litellm": {
		Metric: "litellm_request_total",
		Help:   "LiteLLM requests completed, from the JSON access log (sluice exporter).",
		Match:  DefaultMatch,
		Labels: []Label{
			{Name: "model", Field: "model"},
			{Name: "status", Field: "status_code"},
			{Name: "api_user", Field: "api_user", Default: strp("anon")},
		},
		MaxSeries:    DefaultMaxSeries,
		OverflowKeep: []string{"status"},
	},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	var n []string
	for k := range Presets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Preset returns a deep copy of a preset.
func Preset(name string) (Config, error) {
	c, ok := Presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q (known: %s)", name, strings.Join(PresetNames(), ", "))
	}
	return c.clone(), nil
}

func (c Config) clone() Config {
	c.Match = append([]Match(nil), c.Match...)
	c.Labels = append([]Label(nil), c.Labels...)
	c.OverflowKeep = append([]string(nil), c.OverflowKeep...)
	if c.Duration != nil {
		d := *c.Duration
		d.Buckets = append([]float64(nil), d.Buckets...)
		c.Duration = &d
	}
	return c
}

// LoadConfigFile reads a YAML (or JSON) config. Fields it does not set keep
// the values of base, so a file can refine a preset.
func LoadConfigFile(path string, base Config) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(data, base)
}

// ParseConfig parses YAML config text over base. Unknown keys are errors.
func ParseConfig(data []byte, base Config) (Config, error) {
	c := base.clone()
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("exporter config: %w", err)
	}
	return c, nil
}

// ParseMatch parses FIELD=VALUE or FIELD!=VALUE.
func ParseMatch(s string) (Match, error) {
	if i := strings.Index(s, "!="); i > 0 {
		return Match{Field: s[:i], Value: s[i+2:], Not: true}, nil
	}
	if i := strings.IndexByte(s, '='); i > 0 {
		return Match{Field: s[:i], Value: s[i+1:]}, nil
	}
	return Match{}, fmt.Errorf("match %q: want FIELD=VALUE or FIELD!=VALUE", s)
}

// ParseLabel parses NAME=FIELD or NAME=FIELD:DEFAULT (NAME alone means
// NAME=NAME).
func ParseLabel(s string) (Label, error) {
	name, field, ok := strings.Cut(s, "=")
	if !ok {
		field = name
	}
	l := Label{Name: name, Field: field}
	if f, def, ok := strings.Cut(field, ":"); ok {
		l.Field = f
		l.Default = strp(def)
	}
	if l.Name == "" || l.Field == "" {
		return Label{}, fmt.Errorf("label %q: want NAME=FIELD or NAME=FIELD:DEFAULT", s)
	}
	return l, nil
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// UnitScale converts a duration unit to its factor to seconds.
func UnitScale(unit string) (float64, error) {
	switch unit {
	case "", "s":
		return 1, nil
	case "ms":
		return 1e-3, nil
	case "us", "µs":
		return 1e-6, nil
	case "ns":
		return 1e-9, nil
	}
	return 0, fmt.Errorf("duration unit %q: want s, ms, us or ns", unit)
}

// HistogramName is the duration histogram's metric name.
func (c Config) HistogramName() string {
	if c.Duration == nil {
		return ""
	}
	if c.Duration.Metric != "" {
		return c.Duration.Metric
	}
	return strings.TrimSuffix(c.Metric, "_total") + "_duration_seconds"
}

// Validate checks names and references.
func (c Config) Validate() error {
	var errs []error
	if !metricNameRE.MatchString(c.Metric) {
		errs = append(errs, fmt.Errorf("metric name %q is not a valid Prometheus name", c.Metric))
	}
	if strings.HasPrefix(c.Metric, "sluice_exporter_") {
		errs = append(errs, fmt.Errorf("metric name %q collides with the exporter's own sluice_exporter_* metrics", c.Metric))
	}
	seen := map[string]bool{}
	for _, l := range c.Labels {
		switch {
		case !labelNameRE.MatchString(l.Name) || strings.HasPrefix(l.Name, "__"):
			errs = append(errs, fmt.Errorf("label name %q is not valid", l.Name))
		case l.Name == "le" && c.Duration != nil:
			errs = append(errs, errors.New(`label name "le" is reserved for the histogram`))
		case seen[l.Name]:
			errs = append(errs, fmt.Errorf("label %q mapped twice", l.Name))
		}
		seen[l.Name] = true
		if l.Field == "" {
			errs = append(errs, fmt.Errorf("label %q has no field", l.Name))
		}
	}
	for _, k := range c.OverflowKeep {
		if !seen[k] {
			errs = append(errs, fmt.Errorf("overflowKeep %q is not one of the labels", k))
		}
	}
	for _, m := range c.Match {
		if m.Field == "" {
			errs = append(errs, errors.New("match condition without a field"))
		}
	}
	if c.MaxSeries < 0 {
		errs = append(errs, errors.New("maxSeries must be >= 0"))
	}
	if d := c.Duration; d != nil {
		if d.Field == "" {
			errs = append(errs, errors.New("duration has no field"))
		}
		if _, err := UnitScale(d.Unit); err != nil {
			errs = append(errs, err)
		}
		if h := c.HistogramName(); !metricNameRE.MatchString(h) || h == c.Metric {
			errs = append(errs, fmt.Errorf("histogram name %q is not valid", h))
		}
		for i, b := range d.Buckets {
			if math.IsNaN(b) || (i > 0 && b <= d.Buckets[i-1]) {
				errs = append(errs, errors.New("duration buckets must be increasing numbers"))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Describe renders the config in the flag syntax, for logs and --help.
func (c Config) Describe() string {
	var b strings.Builder
	b.WriteString(c.Metric + "{")
	for i, l := range c.Labels {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.String())
	}
	b.WriteString("}")
	if len(c.Match) == 0 {
		b.WriteString(" for every JSON object line")
	} else {
		var m []string
		for _, x := range c.Match {
			m = append(m, x.String())
		}
		b.WriteString(" where " + strings.Join(m, " and "))
	}
	if c.Duration != nil {
		b.WriteString("; " + c.HistogramName() + " from " + c.Duration.Field)
		if c.Duration.Unit != "" {
			b.WriteString(" (" + c.Duration.Unit + ")")
		}
	}
	if c.MaxSeries > 0 {
		b.WriteString("; at most " + strconv.Itoa(c.MaxSeries) + " series")
	}
	return b.String()
}
