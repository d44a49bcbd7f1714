package probe

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Plan is how many requests to send, when, and to which routes.
type Plan struct {
	// Rate is the aggregate rate (requests/s), rotated over the routes in
	// order, used unless PerRoute is set.
	Rate float64
	// PerRoute sends each route at its own rate, Rates[i] for route i.
	PerRoute bool
	Rates    []float64
	// Duration bounds the schedule in time: no send is scheduled at or
	// after it (0: no time bound).
	Duration time.Duration
	// Count bounds the total number of sends (0: no count bound).
	Count int64
}

// Send is one scheduled request: route index, and offset from the start.
type Send struct {
	Seq   int64
	Route int
	At    time.Duration
}

// Schedule yields the sends of a plan in time order. It is deterministic:
// send k of a stream at rate r is due at exactly k/r seconds, so lateness
// never accumulates and a late dispatcher catches up instead of drifting.
type Schedule struct {
	plan  Plan
	n     int
	seq   int64
	next  []int64 // per route (per-route mode): index of its next send
	rates []float64
}

// NewSchedule checks a plan for n routes.
func NewSchedule(n int, p Plan) (*Schedule, error) {
	if n <= 0 {
		return nil, errors.New("no routes")
	}
	if p.Duration <= 0 && p.Count <= 0 {
		return nil, errors.New("unbounded: set a duration and/or a count")
	}
	s := &Schedule{plan: p, n: n}
	if p.PerRoute {
		if len(p.Rates) != n {
			return nil, fmt.Errorf("per-route plan has %d rates for %d routes", len(p.Rates), n)
		}
		for i, r := range p.Rates {
			if !(r > 0) || math.IsInf(r, 0) {
				return nil, fmt.Errorf("route %d: rate must be > 0 (got %v)", i, r)
			}
		}
		s.rates = p.Rates
		s.next = make([]int64, n)
	} else if !(p.Rate > 0) || math.IsInf(p.Rate, 0) {
		return nil, fmt.Errorf("rate must be > 0 (got %v)", p.Rate)
	}
	return s, nil
}

func at(k int64, rate float64) time.Duration {
	return time.Duration(math.Round(float64(k) * 1e9 / rate))
}

// Next returns the next send, or false when the plan is exhausted.
func (s *Schedule) Next() (Send, bool) {
	if s.plan.Count > 0 && s.seq >= s.plan.Count {
		return Send{}, false
	}
	var snd Send
	if !s.plan.PerRoute {
		snd = Send{Seq: s.seq, Route: int(s.seq % int64(s.n)), At: at(s.seq, s.plan.Rate)}
	} else {
		best := -1
		var bestAt time.Duration
		for i, k := range s.next {
			t := at(k, s.rates[i])
			if best < 0 || t < bestAt {
				best, bestAt = i, t
			}
		}
		snd = Send{Seq: s.seq, Route: best, At: bestAt}
		s.next[best]++
	}
	if s.plan.Duration > 0 && snd.At >= s.plan.Duration {
		return Send{}, false
	}
	s.seq++
	return snd, true
}

// TotalRate is the requested aggregate rate.
func (p Plan) TotalRate() float64 {
	if !p.PerRoute {
		return p.Rate
	}
	var t float64
	for _, r := range p.Rates {
		t += r
	}
	return t
}

// RouteRate is the requested rate of route i out of n.
func (p Plan) RouteRate(i, n int) float64 {
	if p.PerRoute {
		return p.Rates[i]
	}
	return p.Rate / float64(n)
}

// Expected returns how many sends the plan makes in total, by walking it.
func (p Plan) Expected(n int) int64 {
	s, err := NewSchedule(n, p)
	if err != nil {
		return 0
	}
	var c int64
	for {
		if _, ok := s.Next(); !ok {
			return c
		}
		c++
	}
}
