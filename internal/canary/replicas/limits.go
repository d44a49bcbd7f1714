package replicas

import "math"

// IntOrPercent is a maxSurge or maxUnavailable setting: either a number of
// pods, or a percentage of spec.replicas.
//
// The caller converts the Kubernetes int-or-string value. Argo reads every
// string as a percentage, with or without a "%" sign, and its validation
// accepts "25" as well as "25%". Its built-in default is the string "25",
// which means 25%. Plain integers are numbers of pods.
type IntOrPercent struct {
	Value     int32
	IsPercent bool
}

// Pods is an absolute setting such as maxSurge: 1.
func Pods(n int32) IntOrPercent { return IntOrPercent{Value: n} }

// Percent is a relative setting such as maxSurge: "25%".
func Percent(p int32) IntOrPercent { return IntOrPercent{Value: p, IsPercent: true} }

// Argo's defaults apply when the Rollout leaves maxSurge or maxUnavailable unset.
var (
	DefaultMaxSurge       = Percent(25)
	DefaultMaxUnavailable = Percent(25)
)

// Resolve converts v into a number of pods for a rollout with the given
// spec.replicas. If roundUp is true, percentages round up, which Argo does for
// maxSurge. Otherwise they round down, which Argo does for maxUnavailable.
// Validation rejects negative values; here they count as 0.
func Resolve(v IntOrPercent, replicas int32, roundUp bool) int32 {
	return clamp32(resolve(v, int64(replicas), roundUp))
}

func resolve(v IntOrPercent, replicas int64, roundUp bool) int64 {
	n := max(int64(v.Value), 0)
	if !v.IsPercent {
		return n
	}
	hundredths := n * max(replicas, 0)
	if roundUp {
		return (hundredths + 99) / 100
	}
	return hundredths / 100
}

// Limits returns how many pods may run above spec.replicas (surge) and how
// many may be unavailable, resolved the way Argo does it:
//
//   - a nil setting means the default, 25%;
//   - maxSurge rounds up and maxUnavailable rounds down;
//   - if both resolve to 0, 1 pod may be unavailable so the rollout can still
//     move, as Kubernetes Deployments do. Validation rejects both set to zero
//     outright, so this only happens through rounding, for example maxSurge 0
//     with maxUnavailable 25% of 3 replicas;
//   - unavailable is capped at spec.replicas, and it is 0 when spec.replicas
//     is 0. Surge has no cap.
func Limits(maxSurge, maxUnavailable *IntOrPercent, replicas int32) (surge, unavailable int32) {
	l := limitsFor(maxSurge, maxUnavailable, max(int64(replicas), 0))
	return clamp32(l.surge), clamp32(l.unavailable)
}

type limits struct{ surge, unavailable int64 }

func limitsFor(maxSurge, maxUnavailable *IntOrPercent, replicas int64) limits {
	ms, mu := DefaultMaxSurge, DefaultMaxUnavailable
	if maxSurge != nil {
		ms = *maxSurge
	}
	if maxUnavailable != nil {
		mu = *maxUnavailable
	}
	l := limits{surge: resolve(ms, replicas, true), unavailable: resolve(mu, replicas, false)}
	if l.surge == 0 && l.unavailable == 0 {
		l.unavailable = 1
	}
	l.unavailable = min(l.unavailable, replicas)
	return l
}

func clamp32(v int64) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}
