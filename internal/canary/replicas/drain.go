package replicas

// DrainOlder returns the spec.replicas to set now on each older ReplicaSet
// (an earlier canary replaced mid-update, or the canary a rollback leaves),
// in the order given. Pods that are not available go at once: they serve
// nothing. Available pods go only as far as keeps spec.replicas −
// maxUnavailable pods available across the Rollout, counting the canary's
// and the stable's available pods as they are now. So a hot-fix or a
// rollback mid-canary never takes an older version that still serves to
// zero in one step while the pods replacing it are not yet available; each
// reconcile takes off what the newly available pods allow.
//
// Older ReplicaSets are drained first to last: pass them oldest first.
func DrainOlder(in Input, older []RSState) []int32 {
	replicas := max(int64(in.Replicas), 0)
	lim := limitsFor(in.MaxSurge, in.MaxUnavailable, replicas)
	floor := replicas - lim.unavailable

	c := observe(in.Canary)
	available := min(c.spec, c.avail)
	if !in.NoStable {
		s := observe(in.Stable)
		available += min(s.spec, s.avail)
	}
	out := make([]int32, len(older))
	keep := make([]int64, len(older))
	for i, o := range older {
		ob := observe(o)
		keep[i] = min(ob.spec, ob.avail) // unavailable pods go now
		available += keep[i]
	}
	spare := max(available-floor, 0)
	for i := range older {
		off := min(spare, keep[i])
		keep[i] -= off
		spare -= off
		out[i] = clamp32(keep[i])
	}
	return out
}
