package replicas

// RSState is what the API reports for one ReplicaSet, or for several summed.
type RSState struct {
	Replicas  int32 // spec.replicas: pods asked for
	Current   int32 // status.replicas: pods that exist now, ready or not (only Settled reads it)
	Available int32 // status.availableReplicas: pods ready for at least minReadySeconds
}

// Input is one observation of a basic-canary rollout.
type Input struct {
	Replicas int32 // the Rollout's spec.replicas

	// Weight is the canary weight of the current step, 0..100. Use
	// DesiredWeight to get it from the step position, abort and promote-full.
	Weight int32

	// MaxSurge and MaxUnavailable come from spec.strategy.canary. nil means
	// unset: Argo's default of 25% applies.
	MaxSurge, MaxUnavailable *IntOrPercent

	Canary RSState // the ReplicaSet of the current pod template
	Stable RSState // the ReplicaSet recorded as stable

	// Older is the sum over any other ReplicaSets of the rollout, for example an
	// earlier canary replaced mid-rollout. While they still have pods, they
	// count toward the surge ceiling, and Compute only scales up. Pods come off
	// the canary and the stable only after the caller has scaled the older ones
	// to zero.
	Older RSState

	// NoStable is true when there is no separate stable ReplicaSet: none is
	// recorded or found, or the recorded one is the canary itself (first
	// deployment, or fully promoted). Then the canary gets every replica and
	// the caller leaves the stable alone.
	NoStable bool
}

// Compute returns the spec.replicas to set now on the canary and the stable,
// given what is available. It is level-triggered. Call it on every reconcile
// with fresh observations; the results walk to [Target]. Counting the older
// ReplicaSets, each result follows these rules:
//
//   - Scale up first, within the surge ceiling spec.replicas+maxSurge (total
//     pods in all ReplicaSets). If a lower weight has taken pods away from the
//     stable, the stable gets them back before the canary grows.
//   - Then scale down, but only as far as keeps spec.replicas−maxUnavailable
//     pods available. While the canary grows, only its available pods count,
//     and the stable counts at its spec.replicas even if some of its pods are
//     not ready. This is Argo's choice: a crash-looping stable must not block
//     a rollout that replaces it. While the canary shrinks (lower weight,
//     abort), it is the other way round.
//   - If that leaves more pods than the ceiling allows (for example after
//     spec.replicas was lowered), the growing side gives some back. Available
//     pods are kept if the floor needs them.
//
// Scaling down removes pods that are not ready first. So if the last result
// left at least the floor available, the next one will too. A rollout whose
// availability is already below the floor (pods crashing) is not made worse.
//
// Compute follows Argo. Argo writes the stable first and, if it changed the
// stable, stops until the next reconcile before writing the canary. Writing
// both numbers at once is also safe: it keeps the same ceiling and floor, and
// it reaches the same target. The tests check both orders.
//
// The canary's Replicas may be 0 when the ReplicaSet has just been created.
// Negative numbers count as 0. Results are never negative.
func Compute(in Input) Plan {
	replicas := max(int64(in.Replicas), 0)
	lim := limitsFor(in.MaxSurge, in.MaxUnavailable, replicas)
	wantCanary, wantStable := target(in, replicas, lim)

	c, s, old := observe(in.Canary), observe(in.Stable), observe(in.Older)
	hasStable := !in.NoStable
	if !hasStable {
		s = observed{}
	}
	canary, stable := c.spec, s.spec
	ceiling := replicas + lim.surge
	floor := replicas - lim.unavailable
	done := func() Plan {
		if !hasStable {
			stable = 0
		}
		return Plan{Canary: clamp32(max(canary, 0)), Stable: clamp32(max(stable, 0))}
	}

	// 1. Scale up within the surge ceiling: first the stable, then the canary.
	room := ceiling - (old.spec + c.spec + s.spec)
	if hasStable && stable < wantStable && room > 0 {
		grow := min(room, wantStable-stable)
		stable += grow
		room -= grow
	}
	if canary < wantCanary && room > 0 {
		canary += min(room, wantCanary-canary)
	}

	// 2. Older ReplicaSets are scaled down before anything else is.
	if old.spec > 0 {
		return done()
	}

	// 3. Scale down, keeping the floor. The side being grown counts its
	// available pods. The side being drained counts its spec.replicas.
	growing := wantCanary >= c.spec
	var counted int64
	if growing {
		counted = min(c.spec, c.avail) + s.spec
	} else {
		counted = c.spec + min(s.spec, s.avail)
	}
	if counted <= floor {
		return done()
	}
	spare := counted - floor
	switch {
	case growing && hasStable:
		if s.spec > wantStable {
			stable = max(wantStable, s.spec-spare)
		}
		stable, canary = rebalance(s, c, stable, canary, ceiling, floor)
	case !growing:
		if c.spec > wantCanary {
			canary = max(wantCanary, c.spec-spare)
		}
		if hasStable {
			canary, stable = rebalance(c, s, canary, stable, ceiling, floor)
		}
	}
	return done()
}

// rebalance brings drainN+keepN back under the surge ceiling. drain is the
// ReplicaSet being scaled down and keep the one being grown. The excess comes
// off keep first. If that would remove available pods the floor still needs,
// keep retains them and drain gives up the difference.
func rebalance(drain, keep observed, drainN, keepN, ceiling, floor int64) (int64, int64) {
	keepN -= max(0, drainN+keepN-ceiling)
	available := min(drain.avail, drainN) + min(keep.avail, keepN)
	lost := max(0, keep.avail-keepN)
	short := max(0, floor-available)
	keepN += min(lost, short)
	drainN -= max(0, drainN+keepN-ceiling)
	return drainN, keepN
}

// Settled reports whether the current step's pods are in place. Argo uses this
// condition before it moves past a setWeight step of a basic canary:
//
//   - Compute has nothing left to change;
//   - every canary pod is available;
//   - the stable has exactly the pods it should (they need not be available);
//   - no older ReplicaSet has available pods.
//
// It is false when there is no separate stable ReplicaSet.
func Settled(in Input) bool {
	if in.NoStable {
		return false
	}
	next := Compute(in)
	return next.Canary == in.Canary.Replicas && next.Canary == in.Canary.Available &&
		next.Stable == in.Stable.Replicas && next.Stable == in.Stable.Current &&
		in.Older.Available <= 0
}

// observed is an RSState in int64, with negative numbers counted as 0.
type observed struct{ spec, avail int64 }

func observe(s RSState) observed {
	return observed{spec: max(int64(s.Replicas), 0), avail: max(int64(s.Available), 0)}
}
