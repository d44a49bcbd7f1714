package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Outcome is what one request produced.
type Outcome struct {
	Route int
	// Status is the HTTP status, 0 for a transport error.
	Status int
	// Err is the transport error (connection refused, timeout, ...).
	Err     error
	Timeout bool
	// Scheduled is when the request was due; Sent when it actually left;
	// Done when its response was fully read (or it failed).
	Scheduled, Sent, Done time.Time
	// Detail is a short sample of a failing response body.
	Detail string
}

// RouteStats accumulates the outcomes of one route.
type RouteStats struct {
	Name     string
	Requests int64
	Class    [6]int64 // index: status/100 (0 unused, 1 = 1xx)
	Errors   int64
	Timeouts int64
	Codes    map[int]int64
	Latency  Hist // scheduled -> done, for requests that got a response
	SendLag  Hist // scheduled -> sent
	// LastFailure describes the latest non-success (status + body sample,
	// or transport error).
	LastFailure           string
	firstSent, lastSent   time.Time
	firstSched, lastSched time.Time
}

// Record adds one outcome.
func (s *RouteStats) Record(o Outcome) {
	s.Requests++
	if s.firstSent.IsZero() || o.Sent.Before(s.firstSent) {
		s.firstSent = o.Sent
	}
	if o.Sent.After(s.lastSent) {
		s.lastSent = o.Sent
	}
	if s.firstSched.IsZero() || o.Scheduled.Before(s.firstSched) {
		s.firstSched = o.Scheduled
	}
	if o.Scheduled.After(s.lastSched) {
		s.lastSched = o.Scheduled
	}
	s.SendLag.Add(o.Sent.Sub(o.Scheduled))
	if o.Err != nil || o.Status == 0 {
		s.Errors++
		if o.Timeout {
			s.Timeouts++
		}
		if o.Err != nil {
			s.LastFailure = o.Err.Error()
		}
		return
	}
	if s.Codes == nil {
		s.Codes = map[int]int64{}
	}
	s.Codes[o.Status]++
	if c := o.Status / 100; c >= 1 && c <= 5 {
		s.Class[c]++
	}
	s.Latency.Add(o.Done.Sub(o.Scheduled))
	if !Success(o.Status) {
		s.LastFailure = "HTTP " + strconv.Itoa(o.Status)
		if o.Detail != "" {
			s.LastFailure += ": " + o.Detail
		}
	}
}

// Success says whether a status counts as success: 2xx and 3xx, the same
// split as the seeds' error-rate query (status !~ "2..|3.." is an error).
func Success(status int) bool { return status >= 200 && status < 400 }

// Successes is the number of 2xx and 3xx responses.
func (s *RouteStats) Successes() int64 { return s.Class[2] + s.Class[3] }

// SuccessRate is successes over requests, NaN with no requests.
func (s *RouteStats) SuccessRate() float64 {
	if s.Requests == 0 {
		return math.NaN()
	}
	return float64(s.Successes()) / float64(s.Requests)
}

// AchievedRate is the actual send rate: (n-1) sends over the time between
// the first and the last, NaN with fewer than two.
func (s *RouteStats) AchievedRate() float64 {
	if s.Requests < 2 || !s.lastSent.After(s.firstSent) {
		return math.NaN()
	}
	return float64(s.Requests-1) / s.lastSent.Sub(s.firstSent).Seconds()
}

// Merge adds o into s (for the TOTAL row).
func (s *RouteStats) Merge(o *RouteStats) {
	s.Requests += o.Requests
	for i := range s.Class {
		s.Class[i] += o.Class[i]
	}
	s.Errors += o.Errors
	s.Timeouts += o.Timeouts
	for c, n := range o.Codes {
		if s.Codes == nil {
			s.Codes = map[int]int64{}
		}
		s.Codes[c] += n
	}
	s.Latency.Merge(&o.Latency)
	s.SendLag.Merge(&o.SendLag)
	if o.Requests > 0 {
		if s.firstSent.IsZero() || o.firstSent.Before(s.firstSent) {
			s.firstSent = o.firstSent
		}
		if o.lastSent.After(s.lastSent) {
			s.lastSent = o.lastSent
		}
	}
}

// RouteReport is one route's final numbers (the -o json shape).
type RouteReport struct {
	Name           string           `json:"name"`
	Method         string           `json:"method,omitempty"`
	Path           string           `json:"path,omitempty"`
	Requests       int64            `json:"requests"`
	Status2xx      int64            `json:"status2xx"`
	Status3xx      int64            `json:"status3xx"`
	Status4xx      int64            `json:"status4xx"`
	Status5xx      int64            `json:"status5xx"`
	StatusOther    int64            `json:"statusOther,omitempty"`
	Errors         int64            `json:"transportErrors"`
	Timeouts       int64            `json:"timeouts"`
	SuccessRate    *float64         `json:"successRate"` // null without requests
	P50ms          float64          `json:"p50Ms"`
	P95ms          float64          `json:"p95Ms"`
	P99ms          float64          `json:"p99Ms"`
	MaxMs          float64          `json:"maxMs"`
	RequestedRate  float64          `json:"requestedRate"`
	AchievedRate   *float64         `json:"achievedRate"`
	SendLagP99ms   float64          `json:"sendLagP99Ms"`
	StatusCodes    map[string]int64 `json:"statusCodes,omitempty"`
	LastFailure    string           `json:"lastFailure,omitempty"`
	BelowFailUnder bool             `json:"belowFailUnder,omitempty"`
}

// Report is a whole probe run.
type Report struct {
	URL           string        `json:"url"`
	Mode          string        `json:"mode"` // "aggregate" or "per-route"
	RequestedRate float64       `json:"requestedRate"`
	AchievedRate  *float64      `json:"achievedRate"`
	Elapsed       float64       `json:"elapsedSeconds"`
	Interrupted   bool          `json:"interrupted,omitempty"`
	Routes        []RouteReport `json:"routes"`
	Total         RouteReport   `json:"total"`
	FailUnder     float64       `json:"failUnder,omitempty"`
	// Failing lists routes whose success rate is below FailUnder (or that
	// got no requests at all).
	Failing []string `json:"failing,omitempty"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func routeReport(r Route, s *RouteStats, requested float64) RouteReport {
	rr := RouteReport{
		Name: s.Name, Method: r.Method, Path: r.Path,
		Requests: s.Requests, Status2xx: s.Class[2], Status3xx: s.Class[3], Status4xx: s.Class[4],
		Status5xx: s.Class[5], StatusOther: s.Class[1], Errors: s.Errors, Timeouts: s.Timeouts,
		SuccessRate: finite(s.SuccessRate()),
		P50ms:       ms(s.Latency.Quantile(0.50)), P95ms: ms(s.Latency.Quantile(0.95)),
		P99ms: ms(s.Latency.Quantile(0.99)), MaxMs: ms(s.Latency.Max()),
		RequestedRate: requested, AchievedRate: finite(s.AchievedRate()),
		SendLagP99ms: ms(s.SendLag.Quantile(0.99)), LastFailure: s.LastFailure,
	}
	if len(s.Codes) > 0 {
		rr.StatusCodes = map[string]int64{}
		for c, n := range s.Codes {
			rr.StatusCodes[strconv.Itoa(c)] = n
		}
	}
	return rr
}

// BuildReport turns per-route stats into a report and applies failUnder
// (0 disables it). A route with no completed request fails a threshold:
// no evidence is not good evidence.
func BuildReport(url string, routes []Route, stats []*RouteStats, plan Plan, elapsed time.Duration, failUnder float64) Report {
	rep := Report{URL: url, Mode: "aggregate", RequestedRate: plan.TotalRate(), Elapsed: elapsed.Seconds(), FailUnder: failUnder}
	if plan.PerRoute {
		rep.Mode = "per-route"
	}
	total := &RouteStats{Name: "TOTAL"}
	for i, s := range stats {
		rr := routeReport(routes[i], s, plan.RouteRate(i, len(routes)))
		if failUnder > 0 && (rr.SuccessRate == nil || *rr.SuccessRate < failUnder) {
			rr.BelowFailUnder = true
			rep.Failing = append(rep.Failing, s.Name)
		}
		rep.Routes = append(rep.Routes, rr)
		total.Merge(s)
	}
	rep.Total = routeReport(Route{}, total, plan.TotalRate())
	if plan.PerRoute {
		// Independent streams: the total rate is the sum of theirs
		// ((n-1)/span over the merged sends overstates it).
		var sum float64
		n := 0
		for _, rr := range rep.Routes {
			if rr.AchievedRate != nil {
				sum += *rr.AchievedRate
				n++
			}
		}
		rep.Total.AchievedRate = nil
		if n > 0 {
			rep.Total.AchievedRate = &sum
		}
	}
	rep.AchievedRate = rep.Total.AchievedRate
	return rep
}

// Failed says whether the report fails its threshold.
func (r Report) Failed() bool { return len(r.Failing) > 0 }

func pct(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f*100, 'f', 1, 64) + "%"
}

func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "s"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
}

func fmtRate(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'f', 2, 64) + "/s"
}

// WriteTable renders the report as a human table.
func (r Report) WriteTable(w io.Writer) error {
	// Names left-aligned (padded here), numbers right-aligned.
	nw := len("ROUTE")
	for _, rr := range r.Routes {
		nw = max(nw, len(rr.Name))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tREQUESTS\t2XX\t3XX\t4XX\t5XX\tERRORS\tSUCCESS\tP50\tP95\tP99\t\n", nw, "ROUTE")
	row := func(rr RouteReport) {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", nw, rr.Name, rr.Requests,
			rr.Status2xx, rr.Status3xx, rr.Status4xx, rr.Status5xx, rr.Errors, pct(rr.SuccessRate),
			fmtMs(rr.P50ms), fmtMs(rr.P95ms), fmtMs(rr.P99ms))
	}
	for _, rr := range r.Routes {
		row(rr)
	}
	if len(r.Routes) > 1 {
		row(r.Total)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	note := ""
	if r.Interrupted {
		note = " (interrupted)"
	}
	fmt.Fprintf(w, "\n%s: %d requests in %.1fs%s, requested %.2f/s, achieved %s (%s), send lag p99 %s; latency from scheduled send time\n",
		r.URL, r.Total.Requests, r.Elapsed, note, r.RequestedRate, fmtRate(r.AchievedRate), r.Mode, fmtMs(r.Total.SendLagP99ms))
	for _, rr := range r.Routes {
		if rr.LastFailure != "" {
			fmt.Fprintf(w, "%s: last failure: %s\n", rr.Name, rr.LastFailure)
		}
	}
	if r.FailUnder > 0 {
		if r.Failed() {
			fmt.Fprintf(w, "FAIL: success rate below %s on: %s\n", pct(&r.FailUnder), strings.Join(r.Failing, ", "))
		} else {
			fmt.Fprintf(w, "PASS: every route at or above %s success\n", pct(&r.FailUnder))
		}
	}
	return nil
}

// WriteJSON renders the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// ProgressLine is one route's live status line.
func ProgressLine(s *RouteStats, nameWidth int) string {
	return fmt.Sprintf("%-*s  sent %6d  2xx %6d  3xx %4d  4xx %5d  5xx %5d  err %5d  ok %6s  p50 %7s  p99 %7s",
		nameWidth, s.Name, s.Requests, s.Class[2], s.Class[3], s.Class[4], s.Class[5], s.Errors,
		pct(finite(s.SuccessRate())), fmtMs(ms(s.Latency.Quantile(0.5))), fmtMs(ms(s.Latency.Quantile(0.99))))
}

// NameWidth is the width of the widest route name.
func NameWidth(stats []*RouteStats) int {
	w := 5
	for _, s := range stats {
		w = max(w, len(s.Name))
	}
	return w
}
