package replicas

import (
	"fmt"
	"math"
	"testing"
)

// TestSplitArgoExpectations checks the closest-weight rule against the splits
// that Argo Rollouts' own unit tests expect. Comments give the canary share.
func TestSplitArgoExpectations(t *testing.T) {
	tests := []struct{ replicas, weight, surge, canary, stable int32 }{
		{0, 0, 0, 0, 0}, {0, 50, 0, 0, 0}, {0, 100, 0, 0, 0},
		{0, 0, 1, 0, 0}, {0, 50, 1, 0, 0}, {0, 100, 1, 0, 0},

		{1, 0, 0, 0, 1}, {1, 1, 0, 0, 1}, {1, 49, 0, 0, 1}, // 0%
		{1, 50, 0, 1, 0}, {1, 99, 0, 1, 0}, {1, 100, 0, 1, 0}, // 100%

		{1, 0, 1, 0, 1},
		{1, 1, 1, 1, 1}, {1, 49, 1, 1, 1}, {1, 50, 1, 1, 1}, {1, 99, 1, 1, 1}, // 50%
		{1, 100, 1, 1, 0},

		{2, 0, 0, 0, 2}, {2, 1, 0, 1, 1}, {2, 50, 0, 1, 1}, {2, 99, 0, 1, 1}, {2, 100, 0, 2, 0},
		{2, 0, 1, 0, 2}, {2, 1, 1, 1, 2}, {2, 50, 1, 1, 1}, {2, 99, 1, 2, 1}, {2, 100, 1, 2, 0},

		{3, 10, 0, 1, 2}, {3, 25, 0, 1, 2}, {3, 33, 0, 1, 2}, {3, 34, 0, 1, 2}, {3, 49, 0, 1, 2}, // 33.3%
		{3, 50, 0, 2, 1}, // 66.6%

		{3, 10, 1, 1, 3}, {3, 25, 1, 1, 3}, // 25%
		{3, 33, 1, 1, 2}, {3, 34, 1, 1, 2}, // 33.3%
		{3, 49, 1, 2, 2}, {3, 50, 1, 2, 2}, // 50%

		{10, 0, 1, 0, 10},
		{10, 1, 0, 1, 9}, {10, 14, 0, 1, 9}, // 10%
		{10, 15, 0, 2, 8}, {10, 16, 0, 2, 8}, // 20%
		{10, 99, 0, 9, 1}, // 90%
		{10, 100, 1, 10, 0},

		{10, 1, 1, 1, 10},                    // 9.1%
		{10, 18, 1, 2, 9}, {10, 19, 1, 2, 9}, // 18.2%
		{10, 20, 1, 2, 8}, {10, 23, 1, 2, 8}, // 20%
		{10, 24, 1, 3, 8}, {10, 25, 1, 3, 8}, // 27.3%
		{10, 99, 1, 10, 1}, // 90.9%
	}
	for _, tt := range tests {
		got := Split(tt.replicas, tt.weight, tt.surge)
		if want := (Plan{tt.canary, tt.stable}); got != want {
			t.Errorf("Split(replicas=%d, weight=%d, surge=%d) = %+v, want %+v",
				tt.replicas, tt.weight, tt.surge, got, want)
		}
	}
}

// TestSplitMatchesArgoFloatArithmetic shows that exact integer arithmetic
// picks the same split as Argo's float64 arithmetic. The two disagree on some
// intermediate steps: in float64, 14% of 25 replicas is not exactly 3.5, and
// two distances that are equal in exact arithmetic can differ. The answers
// still agree for every weight and for up to 2000 replicas (checked to 200000
// once, offline).
func TestSplitMatchesArgoFloatArithmetic(t *testing.T) {
	for replicas := int64(0); replicas <= 2000; replicas++ {
		for weight := int64(0); weight <= 100; weight++ {
			for _, surge := range []bool{false, true} {
				c, s := split(replicas, weight, surge)
				fc, fs := floatSplit(replicas, weight, surge)
				if c != fc || s != fs {
					t.Fatalf("replicas=%d weight=%d surge=%v: exact %d/%d, float %d/%d",
						replicas, weight, surge, c, s, fc, fs)
				}
			}
		}
	}
}

// floatSplit is the closest-weight rule, with the halfway test and the
// distances computed in float64 as Argo computes them. It is a reference for
// the test above only.
func floatSplit(replicas, weight int64, surge bool) (int64, int64) {
	if replicas == 0 {
		return 0, 0
	}
	up := int64(math.Ceil(float64(replicas*weight) / 100))
	down := int64(math.Floor(float64(replicas*weight) / 100))
	half := func(total int64) bool {
		_, frac := math.Modf(float64(total) * (float64(weight) / 100))
		return frac == 0.5
	}
	dist := func(o option) float64 {
		return math.Abs(float64(o.canary*100)/float64(o.total) - float64(weight))
	}
	zeroOK := weight == 0 || weight == 100 || (replicas == 1 && !surge)
	var opts []option
	if up < replicas || zeroOK {
		opts = append(opts, option{up, replicas})
	}
	if !half(replicas) && (down != 0 || zeroOK) {
		opts = append(opts, option{down, replicas})
	}
	if surge {
		opts = append(opts, option{up, replicas + 1})
		if !half(replicas+1) && (down != 0 || zeroOK) {
			opts = append(opts, option{down, replicas + 1})
		}
	}
	if len(opts) == 0 {
		return 0, replicas
	}
	best := opts[0]
	for _, o := range opts[1:] {
		if dist(o) < dist(best) {
			best = o
		}
	}
	return best.canary, best.total - best.canary
}

func ExampleSplit() {
	// 5 replicas, default maxSurge 25% (2 pods).
	for _, w := range []int32{20, 50, 100} {
		p := Split(5, w, 2)
		fmt.Printf("setWeight %d: %d canary + %d stable\n", w, p.Canary, p.Stable)
	}
	// Output:
	// setWeight 20: 1 canary + 4 stable
	// setWeight 50: 3 canary + 3 stable
	// setWeight 100: 5 canary + 0 stable
}
