package exporter

import (
	"bytes"
	"math"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// Result classifies one input line.
type Result uint8

// Every line is exactly one of these.
const (
	// Parsed: an event that matched the selector and was counted.
	Parsed Result = iota
	// Skipped: a valid JSON object (or a blank line) that is not a selected event.
	Skipped
	// Malformed: not a JSON object, or a selected event missing a required field.
	Malformed
	numResults
)

func (r Result) String() string {
	switch r {
	case Parsed:
		return "parsed"
	case Skipped:
		return "skipped"
	case Malformed:
		return "malformed"
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// Reasons for Skipped and Malformed lines (constants, so Process never allocates).
const (
	ReasonBlank       = "blank line"
	ReasonNoMatch     = "not a selected event"
	ReasonMissing     = "selected event lacks a required label field"
	ReasonNotScalar   = "label field is an object or array"
	ReasonLineTooLong = "line longer than the maximum line length"
)

// keySep separates label values in a series key. It never occurs in valid
// UTF-8, and label values are made valid UTF-8 before keying.
const keySep = 0xff

type series struct {
	labels   []string
	count    uint64
	overflow bool
	buckets  []uint64 // per bucket, not cumulative; last is +Inf
	sum      float64
	hcount   uint64
}

// Processor classifies lines and keeps the counts. It is safe for one
// writer (Process) and concurrent readers (Collect, Stats).
type Processor struct {
	mu  sync.Mutex
	cfg Config
	x   *Extractor

	vals        []Value
	matchSlots  []int
	labelSlots  []int
	durSlot     int
	scale       float64
	bounds      []float64
	keep        []bool
	overflowCap int

	series   map[string]*series
	ordered  []*series
	regular  int
	overflow int

	key     []byte
	scratch []byte
	vbuf    []byte

	lines           [numResults]uint64
	overflowEvents  uint64
	durationMissing uint64

	counterDesc, histDesc              *prometheus.Desc
	linesDesc, overflowDesc, seriesDsc *prometheus.Desc
	durMissingDesc                     *prometheus.Desc
}

// NewProcessor validates cfg and compiles it.
func NewProcessor(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	p := &Processor{cfg: cfg, series: map[string]*series{}, durSlot: -1}
	var paths []string
	slot := map[string]int{}
	add := func(f string) int {
		if i, ok := slot[f]; ok {
			return i
		}
		slot[f] = len(paths)
		paths = append(paths, f)
		return len(paths) - 1
	}
	for _, m := range cfg.Match {
		p.matchSlots = append(p.matchSlots, add(m.Field))
	}
	var names []string
	keepSet := map[string]bool{}
	for _, k := range cfg.OverflowKeep {
		keepSet[k] = true
	}
	for _, l := range cfg.Labels {
		p.labelSlots = append(p.labelSlots, add(l.Field))
		names = append(names, l.Name)
		p.keep = append(p.keep, keepSet[l.Name])
	}
	if d := cfg.Duration; d != nil {
		p.durSlot = add(d.Field)
		p.scale, _ = UnitScale(d.Unit)
		p.bounds = d.Buckets
		if len(p.bounds) == 0 {
			p.bounds = DefaultBuckets
		}
		p.histDesc = prometheus.NewDesc(cfg.HistogramName(),
			"Duration of the events counted in "+cfg.Metric+", from the "+d.Field+" field (sluice exporter).", names, nil)
	}
	x, err := NewExtractor(paths)
	if err != nil {
		return nil, err
	}
	p.x = x
	p.vals = make([]Value, len(paths))
	if cfg.MaxSeries > 0 {
		p.overflowCap = min(64, cfg.MaxSeries)
	}
	help := cfg.Help
	if help == "" {
		help = "Events selected from the JSON log (sluice exporter)."
	}
	p.counterDesc = prometheus.NewDesc(cfg.Metric, help, names, nil)
	p.linesDesc = prometheus.NewDesc("sluice_exporter_lines_total",
		"Input lines by result: parsed (a counted event), skipped (valid JSON, not a selected event, or blank), malformed (not a JSON object, or an event lacking a required field).",
		[]string{"result"}, nil)
	p.overflowDesc = prometheus.NewDesc("sluice_exporter_overflow_events_total",
		"Events counted under "+OverflowValue+" label values because the metric reached its series bound (--max-series).",
		[]string{"metric"}, nil)
	p.seriesDsc = prometheus.NewDesc("sluice_exporter_series",
		"Label sets currently exported for the metric, overflow series included.", []string{"metric"}, nil)
	if cfg.Duration != nil {
		p.durMissingDesc = prometheus.NewDesc("sluice_exporter_duration_unusable_total",
			"Counted events whose duration field was missing, null or not a non-negative number (not observed in the histogram).",
			[]string{"metric"}, nil)
	}
	return p, nil
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg.clone() }

// Process classifies one line (without its newline) and counts it. The
// reason is empty for Parsed lines.
func (p *Processor) Process(line []byte) (Result, string) {
	p.mu.Lock()
	r, why := p.process(line)
	p.lines[r]++
	p.mu.Unlock()
	return r, why
}

// CountTooLong records a line that was discarded for its length.
func (p *Processor) CountTooLong() {
	p.mu.Lock()
	p.lines[Malformed]++
	p.mu.Unlock()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case ' ', '\t', '\r', '\n':
			b = b[:len(b)-1]
			continue
		}
		break
	}
	for len(b) > 0 {
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			b = b[1:]
			continue
		}
		break
	}
	return b
}

// parseErrReason keeps Process allocation-free: the scanner's reasons are
// constants already.
func parseErrReason(err error) string {
	if pe, ok := err.(*ParseError); ok {
		return pe.Reason
	}
	return err.Error()
}

func (p *Processor) process(line []byte) (Result, string) {
	line = trimSpace(line)
	if len(line) == 0 {
		return Skipped, ReasonBlank
	}
	if err := p.x.Extract(line, p.vals); err != nil {
		return Malformed, parseErrReason(err)
	}
	for i, m := range p.cfg.Match {
		v := p.vals[p.matchSlots[i]]
		eq := false
		if v.Kind != Missing {
			var t []byte
			t, p.scratch = v.Text(p.scratch)
			eq = string(t) == m.Value
		}
		if eq == m.Not {
			return Skipped, ReasonNoMatch
		}
	}
	// Build the series key: sanitized label values joined by keySep.
	key := p.key[:0]
	for i, l := range p.cfg.Labels {
		v := p.vals[p.labelSlots[i]]
		if i > 0 {
			key = append(key, keySep)
		}
		switch v.Kind {
		case Missing, Null:
			if l.Default == nil {
				p.key = key
				return Malformed, ReasonMissing
			}
			key = append(key, *l.Default...)
		case Object, Array:
			p.key = key
			return Malformed, ReasonNotScalar
		default:
			var t []byte
			t, p.scratch = v.Text(p.scratch)
			if v.Kind != String || isASCII(t) || utf8.Valid(t) {
				key = append(key, t...)
			} else {
				key = append(key, bytes.ToValidUTF8(t, []byte("\uFFFD"))...)
			}
		}
	}
	p.key = key
	s := p.series[string(key)]
	if s == nil {
		s = p.newSeries(key)
	}
	s.count++
	if p.durSlot >= 0 {
		p.observe(s, p.vals[p.durSlot])
	}
	return Parsed, ""
}

// isASCII reports whether b is plain ASCII, the usual label value: a
// cheaper test than utf8.Valid for a few bytes, inlined.
func isASCII(b []byte) bool {
	var or byte
	for _, c := range b {
		or |= c
	}
	return or < utf8.RuneSelf
}

func (p *Processor) observe(s *series, v Value) {
	var secs float64
	ok := false
	switch v.Kind {
	case Number:
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v.Raw), len(v.Raw)), 64)
		secs, ok = f*p.scale, err == nil
	case String:
		if !v.Escaped && len(v.Raw) > 0 {
			f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v.Raw), len(v.Raw)), 64)
			secs, ok = f*p.scale, err == nil
		}
	}
	if !ok || math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 {
		p.durationMissing++
		return
	}
	i := sort.SearchFloat64s(p.bounds, secs) // first bound >= secs
	s.buckets[i]++
	s.sum += secs
	s.hcount++
}

func (p *Processor) newSeries(key []byte) *series {
	if p.cfg.MaxSeries <= 0 || p.regular < p.cfg.MaxSeries {
		p.regular++
		return p.insert(key)
	}
	// Over the bound: fold into an overflow series that keeps only the
	// OverflowKeep labels. At most overflowCap such series exist; past
	// that, the series with every label at OverflowValue takes the rest.
	p.overflowEvents++
	vals := bytes.Split(key, []byte{keySep})
	kept := make([]byte, 0, len(key))
	all := make([]byte, 0, len(vals)*(len(OverflowValue)+1))
	for i, v := range vals {
		if i > 0 {
			kept = append(kept, keySep)
			all = append(all, keySep)
		}
		if p.keep[i] {
			kept = append(kept, v...)
		} else {
			kept = append(kept, OverflowValue...)
		}
		all = append(all, OverflowValue...)
	}
	if s := p.series[string(kept)]; s != nil {
		return s
	}
	if p.overflow >= p.overflowCap {
		kept = all
		if s := p.series[string(kept)]; s != nil {
			return s
		}
	}
	s := p.insert(kept)
	s.overflow = true
	p.overflow++
	return s
}

func (p *Processor) insert(key []byte) *series {
	k := string(key)
	s := &series{}
	if len(p.cfg.Labels) > 0 {
		for _, v := range bytes.Split(key, []byte{keySep}) {
			s.labels = append(s.labels, string(v))
		}
	}
	if p.durSlot >= 0 {
		s.buckets = make([]uint64, len(p.bounds)+1)
	}
	p.series[k] = s
	p.ordered = append(p.ordered, s)
	return s
}
