// What the exporter reports about itself and its series: Stats, the
// Prometheus Collector, and the rate-limited sampling of bad lines.

package exporter

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of the processor's counts.
type Stats struct {
	Parsed, Skipped, Malformed uint64
	Series, OverflowSeries     int
	OverflowEvents             uint64
	DurationUnusable           uint64
}

// Lines is the total number of lines seen.
func (s Stats) Lines() uint64 { return s.Parsed + s.Skipped + s.Malformed }

func (s Stats) String() string {
	return fmt.Sprintf("%d lines: %d parsed, %d skipped, %d malformed; %d series (%d overflow, %d events overflowed)",
		s.Lines(), s.Parsed, s.Skipped, s.Malformed, s.Series, s.OverflowSeries, s.OverflowEvents)
}

// Stats returns the current counts.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Parsed: p.lines[Parsed], Skipped: p.lines[Skipped], Malformed: p.lines[Malformed],
		Series: len(p.ordered), OverflowSeries: p.overflow,
		OverflowEvents: p.overflowEvents, DurationUnusable: p.durationMissing,
	}
}

// Count returns the counter value of one label set (values in label order),
// and whether that series exists.
func (p *Processor) Count(labelValues ...string) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var key []byte
	for i, v := range labelValues {
		if i > 0 {
			key = append(key, keySep)
		}
		key = append(key, v...)
	}
	s := p.series[string(key)]
	if s == nil {
		return 0, false
	}
	return s.count, true
}

// Describe implements prometheus.Collector. It sends nothing: the
// processor is an unchecked collector, because its series are dynamic.
func (p *Processor) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (p *Processor) Collect(ch chan<- prometheus.Metric) {
	type snap struct {
		labels  []string
		count   uint64
		buckets []uint64
		sum     float64
		hcount  uint64
	}
	p.mu.Lock()
	ss := make([]snap, len(p.ordered))
	for i, s := range p.ordered {
		ss[i] = snap{labels: s.labels, count: s.count, sum: s.sum, hcount: s.hcount}
		if s.buckets != nil {
			ss[i].buckets = append([]uint64(nil), s.buckets...)
		}
	}
	lines := p.lines
	ovEvents, durMissing := p.overflowEvents, p.durationMissing
	p.mu.Unlock()

	for _, s := range ss {
		ch <- prometheus.MustNewConstMetric(p.counterDesc, prometheus.CounterValue, float64(s.count), s.labels...)
		if p.histDesc != nil {
			cum := make(map[float64]uint64, len(p.bounds))
			var acc uint64
			for i, b := range p.bounds {
				acc += s.buckets[i]
				cum[b] = acc
			}
			ch <- prometheus.MustNewConstHistogram(p.histDesc, s.hcount, s.sum, cum, s.labels...)
		}
	}
	for r := Result(0); r < numResults; r++ {
		ch <- prometheus.MustNewConstMetric(p.linesDesc, prometheus.CounterValue, float64(lines[r]), r.String())
	}
	ch <- prometheus.MustNewConstMetric(p.overflowDesc, prometheus.CounterValue, float64(ovEvents), p.cfg.Metric)
	ch <- prometheus.MustNewConstMetric(p.seriesDsc, prometheus.GaugeValue, float64(len(ss)), p.cfg.Metric)
	if p.durMissingDesc != nil {
		ch <- prometheus.MustNewConstMetric(p.durMissingDesc, prometheus.CounterValue, float64(durMissing), p.cfg.Metric)
	}
}

// Sampler lets one sample through per interval and counts the rest, so a
// flood of bad lines shows on stderr without drowning it.
type Sampler struct {
	Every      time.Duration // <= 0 disables sampling
	last       time.Time
	started    bool
	suppressed uint64
}

// Allow reports whether a sample may be printed at now, and how many were
// suppressed since the last one printed.
func (s *Sampler) Allow(now time.Time) (bool, uint64) {
	if s.Every <= 0 {
		return false, 0
	}
	if s.started && now.Sub(s.last) < s.Every {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.started, s.last, s.suppressed = true, now, 0
	return true, n
}

// Snippet shortens a line for a log message. Clean text is shown as is;
// text with control characters or invalid UTF-8 is quoted.
func Snippet(line []byte, max int) string {
	line = trimSpace(line)
	more := ""
	if len(line) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		more = fmt.Sprintf("... (%d bytes)", len(line))
		line = line[:cut]
	}
	clean := utf8.Valid(line)
	for _, c := range line {
		if c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if len(line) == 0 || !clean {
		return strconv.Quote(string(line)) + more
	}
	return string(line) + more
}
