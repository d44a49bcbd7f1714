package replicas

import "testing"

// cluster is a small model of a rollout's ReplicaSets, used to replay what
// happens when a controller calls Compute on every reconcile.
//
//   - Numbers from Compute are written to spec.replicas.
//   - Scaling up creates pods that are not available yet.
//   - Scaling down deletes pods that are not available first, as the ReplicaSet
//     controller does.
//   - Between reconciles, readyOne makes one pending pod available.
type cluster struct {
	in Input
	// bothAtOnce writes both numbers in one reconcile. Otherwise Argo's order
	// is used: if the stable changes, the canary waits for the next reconcile.
	bothAtOnce bool
	// canaryFirst picks which ReplicaSet's pending pod becomes available first.
	canaryFirst bool
}

func scaleTo(rs *RSState, n int32) bool {
	if rs.Replicas == n {
		return false
	}
	rs.Replicas, rs.Current, rs.Available = n, n, min(rs.Available, n)
	return true
}

func (c *cluster) reconcile() bool {
	p := Compute(c.in)
	stableChanged := false
	if !c.in.NoStable {
		stableChanged = scaleTo(&c.in.Stable, p.Stable)
		if stableChanged && !c.bothAtOnce {
			return true
		}
	}
	return scaleTo(&c.in.Canary, p.Canary) || stableChanged
}

func (c *cluster) readyOne() bool {
	order := []*RSState{&c.in.Stable, &c.in.Canary}
	if c.canaryFirst {
		order[0], order[1] = order[1], order[0]
	}
	for _, rs := range order {
		if rs.Available < rs.Current {
			rs.Available++
			return true
		}
	}
	return false
}

// pods returns the pods that exist (every ReplicaSet's spec.replicas) and the
// available ones.
func pods(in Input) (total, available int64) {
	total = int64(in.Canary.Replicas) + int64(in.Older.Replicas)
	available = int64(in.Canary.Available) + int64(in.Older.Available)
	if !in.NoStable {
		total += int64(in.Stable.Replicas)
		available += int64(in.Stable.Available)
	}
	return total, available
}

// bounds returns the surge ceiling and the availability floor of in.
func bounds(in Input) (ceiling, floor int64) {
	r := max(int64(in.Replicas), 0)
	l := limitsFor(in.MaxSurge, in.MaxUnavailable, r)
	return r + l.surge, r - l.unavailable
}

// walkStats summarises a walk.
type walkStats struct {
	reconciles int
	maxTotal   int64
	minAvail   int64
}

// walk runs reconciles and readiness events until nothing changes. On the
// way, no reconcile may push the pod count above max(before, ceiling), or
// availability below min(before, floor). At the end the ReplicaSets must
// match Target, every pod must be available, and Settled must hold.
func walk(t *testing.T, c *cluster) walkStats {
	t.Helper()
	ceiling, floor := bounds(c.in)
	st := walkStats{}
	st.maxTotal, st.minAvail = pods(c.in)
	for st.reconciles < 10000 {
		beforeTotal, beforeAvail := pods(c.in)
		changed := c.reconcile()
		st.reconciles++
		total, avail := pods(c.in)
		if total > max(beforeTotal, ceiling) {
			t.Fatalf("reconcile %d: %d pods, above ceiling %d (was %d): %+v", st.reconciles, total, ceiling, beforeTotal, c.in)
		}
		if avail < min(beforeAvail, floor) {
			t.Fatalf("reconcile %d: %d available, below floor %d (was %d): %+v", st.reconciles, avail, floor, beforeAvail, c.in)
		}
		st.maxTotal, st.minAvail = max(st.maxTotal, total), min(st.minAvail, avail)
		if a := ActualWeight(c.in.Canary.Available, int32(avail)); a < 0 || a > 100 {
			t.Fatalf("actual weight %d out of range", a)
		}
		if !changed && !c.readyOne() {
			break
		}
	}
	want := Target(c.in)
	got := Plan{Canary: c.in.Canary.Replicas, Stable: c.in.Stable.Replicas}
	if c.in.NoStable {
		got.Stable = 0
	}
	if got != want {
		t.Fatalf("walk stopped after %d reconciles at %+v, target %+v: %+v", st.reconciles, got, want, c.in)
	}
	if c.in.Canary.Available != want.Canary || (!c.in.NoStable && c.in.Stable.Available != want.Stable) {
		t.Fatalf("walk ended with unavailable pods: %+v", c.in)
	}
	if !c.in.NoStable && !Settled(c.in) {
		t.Fatalf("walk ended at target but Settled is false: %+v", c.in)
	}
	return st
}

// steady is a settled rollout at plan p with every pod available.
func steady(in Input, p Plan) Input {
	in.Canary = RSState{Replicas: p.Canary, Current: p.Canary, Available: p.Canary}
	in.Stable = RSState{Replicas: p.Stable, Current: p.Stable, Available: p.Stable}
	return in
}
