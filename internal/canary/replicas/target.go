package replicas

// Plan gives the spec.replicas for the canary and the stable ReplicaSet.
type Plan struct{ Canary, Stable int32 }

// Split returns the canary/stable pod counts for a step of weight percent once
// the step has settled. replicas is spec.replicas, and maxSurge is the
// resolved surge in pods (see [Limits]). Only whether maxSurge is zero matters:
// surging one pod is allowed if maxSurge is at least 1.
//
// The rule, which Argo follows:
//
//   - A split has replicas or, if surging is allowed, replicas+1 pods in total.
//     The canary gets the exact share replicas×weight/100 rounded up or rounded
//     down.
//   - The split whose canary share of the pods is closest to weight wins. 50%
//     of 5 is 3 canary + 3 stable (3 of 6 is exactly 50%), not 2+3 or 3+2.
//   - For weights from 1 to 99, each side keeps at least 1 pod. The exception is a
//     1-replica rollout that may not surge: it is all stable or all canary.
//   - When the exact share ends in exactly half a pod, only the rounded-up
//     canary count is considered (for example 50% of 3 replicas gives 2 canary
//     pods, not 1).
//   - Equally close splits are ranked: rounded up on replicas, rounded down on
//     replicas, rounded up on replicas+1, then rounded down on replicas+1.
//   - In a few cases no split qualifies. One is 75% of 2 replicas with maxSurge
//     0: 2 canary pods would leave no stable pod, and 1 is the half-pod case. Argo
//     then keeps every pod stable (0 canary), and so does this function.
//
// Weights outside 0..100 are clamped. Validation rejects them.
func Split(replicas, weight, maxSurge int32) Plan {
	c, s := split(max(int64(replicas), 0), clampWeight(weight), maxSurge > 0)
	return Plan{Canary: clamp32(c), Stable: clamp32(s)}
}

// Target is the split the current step settles at: [Split] with the resolved
// maxSurge. If there is no separate stable ReplicaSet, it is all replicas on
// the canary and none on the stable.
func Target(in Input) Plan {
	replicas := max(int64(in.Replicas), 0)
	c, s := target(in, replicas, limitsFor(in.MaxSurge, in.MaxUnavailable, replicas))
	return Plan{Canary: clamp32(c), Stable: clamp32(s)}
}

func target(in Input, replicas int64, l limits) (canary, stable int64) {
	if in.NoStable {
		return replicas, 0
	}
	return split(replicas, clampWeight(in.Weight), l.surge > 0)
}

// split implements the closest-weight rule of Split. Argo works in float64.
// Exact integer arithmetic gives the same answer, and a test checks that for
// every weight and for up to 2000 replicas.
func split(replicas, weight int64, canSurge bool) (canary, stable int64) {
	if replicas == 0 {
		return 0, 0
	}
	hundredths := replicas * weight // the exact canary share, in hundredths of a pod
	up, down := (hundredths+99)/100, hundredths/100
	zeroOK := weight == 0 || weight == 100 || (replicas == 1 && !canSurge)

	var cands [4]option
	n := 0
	add := func(canary, total int64) { cands[n] = option{canary, total}; n++ }
	if up < replicas || zeroOK {
		add(up, replicas)
	}
	if !halfPod(replicas, weight) && (down > 0 || zeroOK) {
		add(down, replicas)
	}
	if canSurge {
		add(up, replicas+1)
		if !halfPod(replicas+1, weight) && (down > 0 || zeroOK) {
			add(down, replicas+1)
		}
	}
	if n == 0 {
		return 0, replicas
	}
	best := cands[0]
	for _, c := range cands[1:n] {
		if c.closerThan(best, weight) {
			best = c
		}
	}
	return best.canary, best.total - best.canary
}

// option is a candidate split: canary pods out of total pods.
type option struct{ canary, total int64 }

// closerThan reports whether o's canary share is strictly closer to weight
// than other's: |100c/t − w| compared across both options without dividing.
func (o option) closerThan(other option, weight int64) bool {
	return abs(100*o.canary-weight*o.total)*other.total <
		abs(100*other.canary-weight*other.total)*o.total
}

// halfPod reports whether weight percent of total pods ends in exactly half a pod.
func halfPod(total, weight int64) bool { return total*weight%100 == 50 }

func clampWeight(w int32) int64 { return min(max(int64(w), 0), 100) }

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
