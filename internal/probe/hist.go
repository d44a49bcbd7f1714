package probe

import (
	"math"
	"math/bits"
	"time"
)

// Hist is a log-linear latency histogram with microsecond resolution and
// under 1% relative error: memory stays a few KiB however long a probe runs.
type Hist struct {
	counts []uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

const (
	subBits = 7
	subN    = 1 << subBits // exact below 128µs
	halfN   = subN / 2
)

func bucketOf(us uint64) int {
	if us < subN {
		return int(us)
	}
	e := bits.Len64(us) - subBits
	return subN + (e-1)*halfN + int(us>>e) - halfN
}

// bucketMid returns a representative value (µs) of bucket i.
func bucketMid(i int) float64 {
	if i < subN {
		return float64(i)
	}
	j := i - subN
	e := j/halfN + 1
	m := uint64(j%halfN + halfN)
	lo := m << e
	hi := (m+1)<<e - 1
	return (float64(lo) + float64(hi)) / 2
}

// Add records one latency (negative values count as zero).
func (h *Hist) Add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(uint64(d / time.Microsecond))
	if i >= len(h.counts) {
		n := make([]uint64, i+1+halfN)
		copy(n, h.counts)
		h.counts = n
	}
	h.counts[i]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
	if h.n == 1 || d < h.min {
		h.min = d
	}
}

// Count is the number of recorded values.
func (h *Hist) Count() uint64 { return h.n }

// Max is the largest recorded value.
func (h *Hist) Max() time.Duration { return h.max }

// Mean is the average recorded value.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 < q <= 1): the smallest recorded value
// (to bucket precision) with at least q of the values at or below it. It is
// 0 for an empty histogram, and always within [min, max] of the values.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var acc uint64
	for i, c := range h.counts {
		acc += c
		if acc >= rank {
			d := time.Duration(bucketMid(i) * float64(time.Microsecond))
			return min(max(d, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds o's values to h.
func (h *Hist) Merge(o *Hist) {
	if len(o.counts) > len(h.counts) {
		n := make([]uint64, len(o.counts))
		copy(n, h.counts)
		h.counts = n
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if o.n > 0 && (h.n == 0 || o.min < h.min) {
		h.min = o.min
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}
