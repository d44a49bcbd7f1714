package replicas

import "testing"

// FuzzCompute feeds Compute arbitrary observations. Raw values must never
// panic or produce negative counts. Values folded into a realistic range
// (available ≤ existing pods, no older ReplicaSets) must also satisfy:
//
//   - one reconcile never raises the pod count above max(current, ceiling),
//     and never lowers availability below min(current, floor);
//   - from there, the rollout walks to the target (see walk).
func FuzzCompute(f *testing.F) {
	f.Add(int32(5), int32(50), int32(25), true, int32(25), true, int32(0), int32(0), int32(5), int32(5), int32(0), false)
	f.Add(int32(10), int32(0), int32(1), false, int32(0), false, int32(4), int32(4), int32(0), int32(0), int32(0), false)
	f.Add(int32(2), int32(75), int32(0), false, int32(1), false, int32(1), int32(0), int32(2), int32(1), int32(3), false)
	f.Add(int32(3), int32(99), int32(0), false, int32(2), false, int32(0), int32(0), int32(3), int32(3), int32(0), true)
	f.Fuzz(func(t *testing.T, replicas, weight, surge int32, surgePct bool, unav int32, unavPct bool,
		cSpec, cAvail, sSpec, sAvail, older int32, noStable bool) {
		raw := Input{
			Replicas: replicas, Weight: weight,
			MaxSurge:       &IntOrPercent{Value: surge, IsPercent: surgePct},
			MaxUnavailable: &IntOrPercent{Value: unav, IsPercent: unavPct},
			Canary:         RSState{Replicas: cSpec, Current: cSpec, Available: cAvail},
			Stable:         RSState{Replicas: sSpec, Current: sSpec, Available: sAvail},
			Older:          RSState{Replicas: older, Current: older, Available: older},
			NoStable:       noStable,
		}
		if p := Compute(raw); p.Canary < 0 || p.Stable < 0 || (noStable && p.Stable != 0) {
			t.Fatalf("Compute(%+v) = %+v", raw, p)
		}
		_, _ = Target(raw), Settled(raw)

		// Fold into a realistic range.
		fold := func(v, n int32) int32 { return int32(uint32(v) % uint32(n)) }
		in := raw
		in.Replicas = fold(replicas, 40)
		in.Weight = fold(weight, 101)
		in.MaxSurge.Value = fold(surge, 8)
		in.MaxUnavailable.Value = fold(unav, 8)
		if surgePct {
			in.MaxSurge.Value = fold(surge, 101)
		}
		if unavPct {
			in.MaxUnavailable.Value = fold(unav, 101)
		}
		in.Canary = folded(cSpec, cAvail)
		in.Stable = folded(sSpec, sAvail)
		in.Older = RSState{}

		ceiling, floor := bounds(in)
		total, avail := pods(in)
		p := Compute(in)
		c := &cluster{in: in, bothAtOnce: true}
		c.reconcile()
		total2, avail2 := pods(c.in)
		if total2 > max(total, ceiling) {
			t.Fatalf("%+v → %+v: %d pods, ceiling %d, before %d", in, p, total2, ceiling, total)
		}
		if avail2 < min(avail, floor) {
			t.Fatalf("%+v → %+v: %d available, floor %d, before %d", in, p, avail2, floor, avail)
		}
		for mode := 0; mode < 4; mode++ {
			walk(t, &cluster{in: in, bothAtOnce: mode&1 == 1, canaryFirst: mode&2 == 2})
		}
	})
}

// folded is a ReplicaSet with up to 60 pods, some of them available.
func folded(spec, avail int32) RSState {
	n := int32(uint32(spec) % 61)
	return RSState{Replicas: n, Current: n, Available: int32(uint32(avail) % uint32(n+1))}
}
