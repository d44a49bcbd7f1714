package canary

import (
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Route is what Plan knows about a traffic router that carries the split
// (spec.strategy.canary.trafficRouting): the canary's share of traffic the
// router applies now. With a router, pod counts no longer carry the split:
// the canary gets enough pods for its share and the stable keeps all of its
// pods until the update is complete, as upstream does.
type Route struct {
	// Weight is the canary weight the router carries now, 0..Max, or -1
	// when it cannot be told (routes disagree).
	Weight int32
	// Max is the full weight, trafficRouting.maxTrafficWeight (default 100):
	// setWeight steps and Weight are on the scale 0..Max.
	Max int32
	// Canary is the pod-template hash whose pods the router's canary weight
	// reaches now (status.canary.weights.canary.podTemplateHash); "" when
	// not known. When it is not the new hash, the canary destination has yet
	// to move to the new pods, and the weight is another canary's.
	Canary string
}

// elsewhere reports that the router's canary weight reaches the pods of
// another ReplicaSet than the new one: it must come off before the canary
// destination moves, and counts for nothing here.
func (r *Route) elsewhere(newHash string) bool {
	return r.Canary != "" && r.Canary != newHash
}

// max is the full weight of a routed canary.
func (r *Route) max() int32 {
	if r == nil || r.Max <= 0 {
		return 100
	}
	return r.Max
}

// Default delays before a routed canary scales pods down, as upstream.
const (
	DefaultScaleDownDelay      = 30 * time.Second
	DefaultAbortScaleDownDelay = 30 * time.Second
)

// routedCanaryReplicas is how many pods the canary needs to serve weight
// (of maxWeight), or the count a setCanaryScale step in effect asks for
// (its weight is a percentage of the pods).
// A count from the weight is at least minPods (spec.strategy.canary.
// minPodsPerReplicaSet, capped at total) unless it is zero, as upstream.
func routedCanaryReplicas(total, weight, maxWeight int32, scale *v1alpha1.SetCanaryScale, minPods *int32) int32 {
	if scale != nil && !scale.MatchTrafficWeight {
		switch {
		case scale.Replicas != nil:
			return *scale.Replicas
		case scale.Weight != nil:
			return atLeast(ceilShare(total, *scale.Weight, 100), minPods, total)
		}
	}
	return atLeast(ceilShare(total, weight, maxWeight), minPods, total)
}

func atLeast(n int32, minPods *int32, total int32) int32 {
	if n == 0 || minPods == nil {
		return n
	}
	return max(n, min(*minPods, total))
}

// ceilShare is total*part/whole, rounded up.
func ceilShare(total, part, whole int32) int32 {
	return int32((int64(total)*int64(part) + int64(whole) - 1) / int64(whole))
}

// canaryScaleAt is the setCanaryScale step in effect at step idx: the last
// one at or before it.
func canaryScaleAt(steps []v1alpha1.CanaryStep, idx int32) *v1alpha1.SetCanaryScale {
	for i := min(int(idx), len(steps)-1); i >= 0; i-- {
		if steps[i].SetCanaryScale != nil {
			return steps[i].SetCanaryScale
		}
	}
	return nil
}

// routedSettled reports whether a routed step at weight is done: the
// canary has the pods it needs available and the router carries weight.
func routedSettled(in Input, weight int32, scale *v1alpha1.SetCanaryScale) bool {
	want := routedCanaryReplicas(in.Replicas, weight, in.Route.max(), scale, in.Strategy.MinPodsPerReplicaSet)
	return in.New != nil && in.New.Available >= want && in.Route.Weight == weight &&
		(weight == 0 || !in.Route.elsewhere(in.NewHash))
}

// planRouted fills in the pod counts, the router weight and the scale-down
// deadlines of a routed canary. weight is the step's desired canary weight.
func planRouted(in Input, d *Decision, idx int32, weight int32, noStable bool) {
	st := &d.Status
	steps := in.Strategy.Steps
	var scale *v1alpha1.SetCanaryScale
	if !st.Abort && !st.PromoteFull && idx < int32(len(steps)) {
		scale = canaryScaleAt(steps, idx)
	}
	canaryN := routedCanaryReplicas(in.Replicas, weight, in.Route.max(), scale, in.Strategy.MinPodsPerReplicaSet)
	if noStable {
		canaryN = in.Replicas
	}
	route := weight
	switch {
	case noStable:
		route = 0 // stable and canary Services both select the new pods
	case st.Abort:
		route = 0
		canaryN = d.AbortedReplicas(in.Now, in.New, in.Strategy.AbortScaleDownDelaySeconds)
	case in.New == nil || in.New.Available == 0:
		route = 0 // never send traffic to a canary with no pod to serve it
	case in.Route.elsewhere(in.NewHash):
		route = 0 // off the old canary's pods before the destination moves
	case in.New.Available < canaryN:
		// Traffic moves up only once the pods for it are available.
		route = min(route, max(in.Route.Weight, 0))
	}
	d.RouteWeight = ptr(route)
	d.Scale[in.NewHash] = canaryN
	if !noStable {
		d.Scale[in.Stable.Hash] = in.Replicas
	}
	kept := int32(0)
	for _, o := range in.Older { // newest first
		if lim := in.Strategy.ScaleDownDelayRevisionLimit; o.Replicas > 0 && lim != nil && kept >= *lim {
			d.Scale[o.Hash] = 0 // beyond scaleDownDelayRevisionLimit: no delay
			continue
		}
		if o.Replicas > 0 {
			kept++
		}
		d.Scale[o.Hash] = d.delayedScaleDown(in, o, in.Strategy.ScaleDownDelaySeconds, DefaultScaleDownDelay)
	}
}

// AbortedReplicas is an aborted new version's pod count: unchanged for
// abortScaleDownDelaySeconds (delaySeconds, default 30s) after the abort,
// while traffic has already left it, then zero; 0 keeps the pods until the
// next update or retry, as upstream. Blue-green uses it too.
func (d *Decision) AbortedReplicas(now time.Time, newRS *ReplicaSet, delaySeconds *int32) int32 {
	if newRS == nil || d.Status.AbortedAt == nil {
		return 0
	}
	if delaySeconds != nil && *delaySeconds == 0 {
		return newRS.Replicas
	}
	if left := d.Status.AbortedAt.Add(Seconds(delaySeconds, DefaultAbortScaleDownDelay)).Sub(now); left > 0 {
		d.Requeue(left)
		d.Waiting = "waiting for the aborted pods' scale-down delay"
		return newRS.Replicas
	}
	return 0
}

// delayedScaleDown keeps an old ReplicaSet's pods until its scale-down
// deadline (set now when it has none), then scales it to zero.
func (d *Decision) delayedScaleDown(in Input, o ReplicaSet, delaySeconds *int32, def time.Duration) int32 {
	if o.Replicas == 0 {
		return 0
	}
	at, ok := in.ScaleDownAt[o.Hash]
	if !ok {
		at = in.Now.Add(Seconds(delaySeconds, def))
		if d.ScaleDownAt == nil {
			d.ScaleDownAt = map[string]time.Time{}
		}
		d.ScaleDownAt[o.Hash] = at
	}
	if left := at.Sub(in.Now); left > 0 {
		d.Requeue(left)
		d.Waiting = "waiting for old pods' scale-down delay"
		return o.Replicas
	}
	return 0
}

// Requeue asks to be looked at again after at most after.
func (d *Decision) Requeue(after time.Duration) {
	if d.RequeueAfter == 0 || after < d.RequeueAfter {
		d.RequeueAfter = after
	}
}

// Seconds is a strategy's optional seconds field as a duration, def when unset.
func Seconds(s *int32, def time.Duration) time.Duration {
	if s == nil {
		return def
	}
	return time.Duration(*s) * time.Second
}
