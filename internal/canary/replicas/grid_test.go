package replicas

import (
	"fmt"
	"testing"
)

var (
	gridReplicas = []int32{0, 1, 2, 3, 4, 5, 10, 11}
	gridWeights  = []int32{0, 1, 10, 20, 25, 33, 50, 67, 75, 99, 100}
	gridLimits   = []struct {
		name        string
		surge, unav IntOrPercent
	}{
		{"25%/25%", Percent(25), Percent(25)},
		{"1/0", Pods(1), Pods(0)},
		{"0/1", Pods(0), Pods(1)},
		{"0%/25%", Percent(0), Percent(25)},
		{"50%/0", Percent(50), Pods(0)},
		{"3/2", Pods(3), Pods(2)},
		{"100%/0%", Percent(100), Percent(0)},
	}
)

// TestGridTargets pins the target for cells worked out by hand from the
// closest-weight rule (see Split). Only "surge allowed?" matters for the
// target, so "surge" is any maxSurge that resolves to at least 1 pod (25%,
// 1, 50%, 3, 100%), and "no surge" is 0 or 0%.
//
// Three derivations:
//
//	5 replicas, 33%, surge: exact share 1.65, so 2 or 1 canary pods.
//	  2/5 = 40% (off by 7), 1/5 = 20% (13), 2/6 = 33.3% (0.33), 1/6 = 16.7% (16.3)
//	  → 2 canary + 4 stable.
//	10 replicas, 25%, surge: 2.5 is half a pod, so only rounding up counts on 10
//	  pods: 3/10 = 30% (5). On 11 pods 2.75 is not a half: 3/11 = 27.3% (2.3),
//	  2/11 = 18.2% (6.8) → 3 canary + 8 stable.
//	2 replicas, 75%, no surge: 1.5 is half a pod, so 1 is out; 2 would leave no
//	  stable, so 2 is out too. No split qualifies, and Argo keeps all pods
//	  stable: 0 canary + 2 stable, even though the step says 75%.
func TestGridTargets(t *testing.T) {
	const surge, noSurge = true, false
	tests := []struct {
		replicas, weight int32
		surge            bool
		want             Plan
	}{
		{5, 0, surge, Plan{0, 5}},
		{5, 1, surge, Plan{1, 5}}, // 1/6 = 16.7% beats 1/5 = 20%
		{5, 10, surge, Plan{1, 5}},
		{5, 20, surge, Plan{1, 4}}, // exact; 1/5 comes first of equals
		{5, 25, surge, Plan{1, 4}}, // 1/5 = 20% (5) beats 2/6 = 33% (8.3); 1.5 of 6 is a half
		{5, 33, surge, Plan{2, 4}},
		{5, 50, surge, Plan{3, 3}}, // the measured 6 pods
		{5, 67, surge, Plan{4, 2}}, // 4/6 = 66.7%
		{5, 75, surge, Plan{4, 1}}, // 4/5 = 80% (5) beats 4/6 = 66.7% (8.3)
		{5, 99, surge, Plan{5, 1}}, // 5/5 is not allowed below 100%
		{5, 100, surge, Plan{5, 0}},

		{5, 1, noSurge, Plan{1, 4}}, // at least one canary pod
		{5, 25, noSurge, Plan{1, 4}},
		{5, 33, noSurge, Plan{2, 3}},
		{5, 50, noSurge, Plan{3, 2}}, // 2.5 is a half: round up
		{5, 67, noSurge, Plan{3, 2}}, // 3/5 = 60% (7) beats 4/5 = 80% (13)
		{5, 75, noSurge, Plan{4, 1}},
		{5, 99, noSurge, Plan{4, 1}}, // at least one stable pod

		{10, 1, surge, Plan{1, 10}}, // 1/11 = 9.1%
		{10, 10, surge, Plan{1, 9}},
		{10, 20, surge, Plan{2, 8}},
		{10, 25, surge, Plan{3, 8}},
		{10, 33, surge, Plan{3, 7}}, // 3/10 = 30% (3) beats 4/11 = 36.4% (3.4)
		{10, 50, surge, Plan{5, 5}},
		{10, 67, surge, Plan{7, 3}},
		{10, 75, surge, Plan{8, 3}}, // 8/11 = 72.7%
		{10, 99, surge, Plan{10, 1}},
		{10, 1, noSurge, Plan{1, 9}},
		{10, 25, noSurge, Plan{3, 7}},
		{10, 75, noSurge, Plan{8, 2}},
		{10, 99, noSurge, Plan{9, 1}},

		{11, 1, surge, Plan{1, 11}},
		{11, 10, surge, Plan{1, 10}},
		{11, 20, surge, Plan{2, 9}},
		{11, 33, surge, Plan{4, 8}}, // 4/12 = 33.3%
		{11, 50, surge, Plan{6, 6}}, // 5.5 is a half; 6/12 is exact
		{11, 99, surge, Plan{11, 1}},
		{11, 50, noSurge, Plan{6, 5}},
		{11, 75, noSurge, Plan{8, 3}},

		{1, 0, surge, Plan{0, 1}},
		{1, 1, surge, Plan{1, 1}}, // 2 pods for one replica at any weight 1..99
		{1, 50, surge, Plan{1, 1}},
		{1, 99, surge, Plan{1, 1}},
		{1, 100, surge, Plan{1, 0}},
		{1, 1, noSurge, Plan{0, 1}}, // one pod, no surge: all or nothing
		{1, 33, noSurge, Plan{0, 1}},
		{1, 50, noSurge, Plan{1, 0}},
		{1, 67, noSurge, Plan{1, 0}},

		{2, 1, noSurge, Plan{1, 1}},
		{2, 25, noSurge, Plan{1, 1}},
		{2, 75, noSurge, Plan{0, 2}}, // no split qualifies
		{2, 99, noSurge, Plan{1, 1}},
		{2, 25, surge, Plan{1, 2}},
		{2, 75, surge, Plan{2, 1}},

		{3, 25, surge, Plan{1, 3}},
		{3, 33, surge, Plan{1, 2}},
		{3, 50, surge, Plan{2, 2}},
		{3, 67, surge, Plan{2, 1}},
		{3, 75, surge, Plan{3, 1}},
		{3, 25, noSurge, Plan{1, 2}},
		{3, 50, noSurge, Plan{2, 1}},
		{3, 75, noSurge, Plan{2, 1}},

		{4, 10, surge, Plan{1, 4}},
		{4, 33, surge, Plan{2, 3}},
		{4, 50, surge, Plan{2, 2}},
		{4, 67, surge, Plan{3, 2}},
		{4, 75, surge, Plan{3, 1}},

		{0, 50, surge, Plan{0, 0}},
		{0, 50, noSurge, Plan{0, 0}},
	}
	cells := 0
	for _, tt := range tests {
		for _, l := range gridLimits {
			in := Input{Replicas: tt.replicas, Weight: tt.weight, MaxSurge: ptr(l.surge), MaxUnavailable: ptr(l.unav)}
			s, _ := Limits(in.MaxSurge, in.MaxUnavailable, in.Replicas)
			if (s > 0) != tt.surge {
				continue
			}
			cells++
			if got := Target(in); got != tt.want {
				t.Errorf("replicas %d, weight %d, %s: target %+v, want %+v", tt.replicas, tt.weight, l.name, got, tt.want)
			}
		}
	}
	if cells < 200 {
		t.Errorf("only %d grid cells pinned", cells)
	}
}

// TestGridWalks starts from every settled step of the grid and moves to every
// other weight: forward steps, steps back, abort (to 0) and promotion (to
// 100). It replays pods becoming available one by one, with both write orders
// and both readiness orders. Each walk must keep to the surge ceiling and the
// availability floor, and must end at the target, checked independently of
// Compute.
func TestGridWalks(t *testing.T) {
	walks := 0
	for _, replicas := range gridReplicas {
		for _, l := range gridLimits {
			for _, from := range gridWeights {
				for _, to := range gridWeights {
					base := Input{Replicas: replicas, Weight: from, MaxSurge: ptr(l.surge), MaxUnavailable: ptr(l.unav)}
					start := steady(base, Target(base))
					start.Weight = to
					for mode := 0; mode < 4; mode++ {
						name := fmt.Sprintf("replicas=%d/%s/%d→%d/mode=%d", replicas, l.name, from, to, mode)
						t.Run(name, func(t *testing.T) {
							c := &cluster{in: start, bothAtOnce: mode&1 == 1, canaryFirst: mode&2 == 2}
							st := walk(t, c)
							ceiling, floor := bounds(start)
							if st.maxTotal > ceiling || st.minAvail < floor {
								t.Fatalf("peak %d pods (ceiling %d), lowest availability %d (floor %d)", st.maxTotal, ceiling, st.minAvail, floor)
							}
						})
						walks++
					}
				}
			}
		}
	}
	t.Logf("%d walks", walks)
}
