package canary

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func routedWorld(t *testing.T, s *v1alpha1.CanaryStrategy) *world {
	w := newWorld(t, s)
	w.route = &Route{}
	return w
}

// promoteTo promotes the paused update and expects the next pause at step
// with canary/stable pods and the router at route.
func (w *world) promoteTo(canary, stable, step, route int32) {
	w.t.Helper()
	w.status.PauseConditions = nil
	w.settle("v2")
	w.expect("v2", "v1", canary, stable, v1alpha1.RolloutPhasePaused, step)
	w.expectRoute(route)
}

// routedInput is a routed update from v1 to v2 (5 replicas, seed steps) at
// step idx, with the canary's pods and the router's weight as given.
func routedInput(idx int32, canary ReplicaSet, route int32) Input {
	s := seedStrategy()
	st := v1alpha1.RolloutStatus{StableRS: "v1", CurrentPodHash: "v2", CurrentStepHash: StepsHash(s.Steps), CurrentStepIndex: ptr32(idx)}
	canary.Hash = "v2"
	return Input{Now: time.Unix(1_000_000, 0), Replicas: 5, Strategy: s, Status: st, NewHash: "v2", Revision: 2,
		New: &canary, Stable: &ReplicaSet{Hash: "v1", Replicas: 5, Current: 5, Available: 5}, Route: &Route{Weight: route}}
}

func (w *world) expectRoute(weight int32) {
	w.t.Helper()
	if w.route.Weight != weight {
		w.t.Fatalf("router carries canary weight %d, want %d (%s: %q)", w.route.Weight, weight, w.last.Phase, w.last.Message)
	}
}

// With a router, the canary gets ceil(weight x replicas) pods, the stable
// keeps all of its pods, and the router carries the step's weight.
func TestRoutedSeedSequence(t *testing.T) {
	w := routedWorld(t, seedStrategy())
	w.settle("v1")
	w.expect("v1", "", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	w.expectRoute(0)

	w.settle("v2")
	w.expect("v2", "v1", 1, 5, v1alpha1.RolloutPhasePaused, 1)
	w.expectRoute(20)
	w.promoteTo(3, 5, 3, 50)

	// Last promote: the canary goes to 100%, becomes the stable, and the
	// router goes back to 0% canary (both Services select the new pods).
	// The old stable keeps its pods for scaleDownDelaySeconds.
	w.status.PauseConditions = nil
	w.settle("v2")
	if w.status.StableRS != "v2" {
		t.Fatalf("stable %q, want v2", w.status.StableRS)
	}
	w.expectRoute(0)
	if w.rs["v2"].Replicas != 5 || w.rs["v1"].Replicas != 5 || w.last.Completed {
		t.Fatalf("right after the switch: v2 %d v1 %d completed %v; want 5, 5 (kept for the delay), not completed",
			w.rs["v2"].Replicas, w.rs["v1"].Replicas, w.last.Completed)
	}
	if at := w.scaleDownAt["v1"]; !at.Equal(w.now.Add(DefaultScaleDownDelay)) || w.last.RequeueAfter != DefaultScaleDownDelay {
		t.Fatalf("old stable deadline %v (requeue %v), want now+30s", at, w.last.RequeueAfter)
	}
	w.now = w.now.Add(DefaultScaleDownDelay)
	w.settle("v2")
	w.expect("v2", "v1", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if !w.last.Completed {
		t.Fatal("not completed after the old stable scaled down")
	}
}

// A step is not done, and traffic does not move, until the canary's pods
// are available; a canary with no available pod gets no traffic at all.
func TestRoutedHoldsTrafficUntilCanaryAvailable(t *testing.T) {
	in := routedInput(0, ReplicaSet{Replicas: 1, Current: 1, Available: 0}, 0)
	d := Plan(in)
	if *d.RouteWeight != 0 || *d.Status.CurrentStepIndex != 0 || d.Scale["v2"] != 1 || d.Scale["v1"] != 5 {
		t.Fatalf("unavailable canary: route %d step %d scale %v; want 0, step 0, v2=1 v1=5", *d.RouteWeight, *d.Status.CurrentStepIndex, d.Scale)
	}
	in.New.Available = 1
	d = Plan(in)
	if *d.RouteWeight != 20 || *d.Status.CurrentStepIndex != 0 {
		t.Fatalf("available canary: route %d step %d; want 20 and still step 0 until the router carries it", *d.RouteWeight, *d.Status.CurrentStepIndex)
	}
	if !strings.Contains(d.Message, "traffic router") {
		t.Fatalf("message %q does not say it waits for the router", d.Message)
	}
	in.Route.Weight = 20
	if d = Plan(in); *d.Status.CurrentStepIndex != 1 {
		t.Fatalf("router at 20%%: step %d, want 1", *d.Status.CurrentStepIndex)
	}

	// Half-ready at a higher weight: the router keeps what it carries.
	in.Status.CurrentStepIndex = ptr32(2)
	in.New = &ReplicaSet{Hash: "v2", Replicas: 3, Current: 3, Available: 2}
	if d = Plan(in); *d.RouteWeight != 20 || d.Scale["v2"] != 3 {
		t.Fatalf("2 of 3 pods ready for 50%%: route %d scale %d; want the router held at 20 and 3 pods", *d.RouteWeight, d.Scale["v2"])
	}
	// A new template mid-update: its pods are not ready, so no traffic.
	in.NewHash, in.Status.CurrentPodHash, in.New = "v3", "v3", nil
	in.Older = []ReplicaSet{{Hash: "v2", Replicas: 3, Current: 3, Available: 3}}
	in.Route.Weight = 50
	if d = Plan(in); *d.RouteWeight != 0 || d.Scale["v2"] != 3 || d.ScaleDownAt["v2"].IsZero() {
		t.Fatalf("replaced canary: route %d, old canary %d, deadline %v; want 0, kept for the delay, a deadline", *d.RouteWeight, d.Scale["v2"], d.ScaleDownAt)
	}
}

// An abort sends all traffic to the stable at once and keeps the canary's
// pods for abortScaleDownDelaySeconds.
func TestRoutedAbort(t *testing.T) {
	s := seedStrategy()
	s.AbortScaleDownDelaySeconds = ptr32(10)
	w := routedWorld(t, s)
	w.settle("v1")
	w.settle("v2")
	w.expectRoute(20)
	w.status.Abort = true
	w.settle("v2")
	w.expectRoute(0)
	w.expect("v2", "v1", 1, 5, v1alpha1.RolloutPhaseDegraded, 0)
	if w.last.RequeueAfter != 10*time.Second {
		t.Fatalf("requeue %v, want 10s", w.last.RequeueAfter)
	}
	w.now = w.now.Add(10 * time.Second)
	w.settle("v2")
	w.expect("v2", "v1", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
	w.expectRoute(0)
}

// abortScaleDownDelaySeconds: 0 keeps the aborted canary's pods (for a
// look at what went wrong), as upstream: it does not mean "at once", which
// would kill them while the router's 0 may not yet have reached every proxy.
func TestRoutedAbortScaleDownDelayZeroKeepsTheCanary(t *testing.T) {
	in := routedInput(2, ReplicaSet{Replicas: 3, Current: 3, Available: 3}, 50)
	in.Status.Abort = true
	in.Strategy.AbortScaleDownDelaySeconds = ptr32(0)
	d := Plan(in)
	if *d.RouteWeight != 0 || d.Scale["v2"] != 3 || d.RequeueAfter != 0 {
		t.Fatalf("abort with abortScaleDownDelaySeconds 0: route %d canary %d requeue %v; want 0, the 3 pods kept, no timer",
			*d.RouteWeight, d.Scale["v2"], d.RequeueAfter)
	}
	in.Status = d.Status
	in.Now = in.Now.Add(time.Hour)
	if d = Plan(in); d.Scale["v2"] != 3 {
		t.Fatalf("an hour later: canary %d, want the 3 pods still kept", d.Scale["v2"])
	}
}

func TestRoutedSetCanaryScale(t *testing.T) {
	s := &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr32(2)}}, {SetWeight: ptr32(10)}, {Pause: &v1alpha1.RolloutPause{}},
		{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: ptr32(100)}}, {Pause: &v1alpha1.RolloutPause{}},
		{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}, {SetWeight: ptr32(40)}, {Pause: &v1alpha1.RolloutPause{}},
	}}
	w := routedWorld(t, s)
	w.settle("v1")
	w.settle("v2")
	w.expect("v2", "v1", 2, 5, v1alpha1.RolloutPhasePaused, 2)
	w.expectRoute(10)
	w.promoteTo(5, 5, 4, 10)
	w.promoteTo(2, 5, 7, 40)
}

// The reconcile that makes the canary stable must not call the Rollout
// Healthy: the old stable still has all its pods for scaleDownDelaySeconds.
func TestRoutedPromotionIsNotHealthyWhileOldPodsRemain(t *testing.T) {
	in := routedInput(4, ReplicaSet{Replicas: 5, Current: 5, Available: 5}, 100)
	d := Plan(in)
	if d.Status.StableRS != "v2" {
		t.Fatalf("stable %s, want the canary promoted", d.Status.StableRS)
	}
	if d.Completed || d.Phase == v1alpha1.RolloutPhaseHealthy {
		t.Fatalf("completed %v phase %s %q while the old stable has 5 pods", d.Completed, d.Phase, d.Message)
	}
}

// minPodsPerReplicaSet: at a non-zero weight the canary gets at least that
// many pods (capped at spec.replicas), as upstream; at weight 0 none.
func TestRoutedMinPodsPerReplicaSet(t *testing.T) {
	in := routedInput(0, ReplicaSet{}, 0)
	in.Strategy.MinPodsPerReplicaSet = ptr32(2)
	if d := Plan(in); d.Scale["v2"] != 2 {
		t.Fatalf("setWeight 20 of 5 is 1 pod; with minPodsPerReplicaSet 2 want 2, have %d", d.Scale["v2"])
	}
	in.Strategy.MinPodsPerReplicaSet = ptr32(9)
	if d := Plan(in); d.Scale["v2"] != 5 {
		t.Fatalf("minPodsPerReplicaSet is capped at spec.replicas: want 5, have %d", d.Scale["v2"])
	}
	in.Status.Abort = true
	aborted := StatusTime(in.Now.Add(-time.Minute))
	in.Status.AbortedAt = &aborted // past the 30s abort delay
	if d := Plan(in); d.Scale["v2"] != 0 {
		t.Fatalf("aborted (weight 0): want 0 canary pods, have %d", d.Scale["v2"])
	}
}

// scaleDownDelayRevisionLimit: only that many old ReplicaSets (newest
// first) wait out the delay; older ones go at once.
func TestRoutedScaleDownDelayRevisionLimit(t *testing.T) {
	in := routedInput(4, ReplicaSet{Replicas: 5, Current: 5, Available: 5}, 100)
	in.Status.StableRS = "v2" // promoted: v1 and the older v0 wait for their delay
	in.Stable = nil
	in.Older = []ReplicaSet{{Hash: "v1", Replicas: 5, Current: 5, Available: 5}, {Hash: "v0", Replicas: 5, Current: 5, Available: 5}}
	in.Strategy.ScaleDownDelayRevisionLimit = ptr32(1)
	d := Plan(in)
	if d.Scale["v1"] != 5 || d.Scale["v0"] != 0 {
		t.Fatalf("limit 1: want the newest old ReplicaSet kept (v1=5) and the next gone (v0=0), have %v", d.Scale)
	}
	in.Strategy.ScaleDownDelayRevisionLimit = nil
	if d := Plan(in); d.Scale["v0"] != 5 {
		t.Fatalf("no limit: every old ReplicaSet waits its delay, have %v", d.Scale)
	}
}

// With maxTrafficWeight 1000, setWeight 200 is a fifth of the traffic: the
// canary gets the same pods as setWeight 20 out of 100, the router carries
// 200, and a promote --full carries all 1000.
func TestRoutedMaxTrafficWeight(t *testing.T) {
	s := &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{SetWeight: ptr32(200)}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr32(500)}, {Pause: &v1alpha1.RolloutPause{}},
	}}
	w := routedWorld(t, s)
	w.route.Max = 1000
	w.settle("v1")
	w.settle("v2")
	w.expect("v2", "v1", 1, 5, v1alpha1.RolloutPhasePaused, 1)
	w.expectRoute(200)
	w.promoteTo(3, 5, 3, 500)

	w.status.PromoteFull = true
	w.status.PauseConditions = nil
	w.settle("v2")
	if w.status.StableRS != "v2" || w.rs["v2"].Replicas != 5 {
		t.Fatalf("promote --full: stable %q, canary %d pods; want v2 with 5", w.status.StableRS, w.rs["v2"].Replicas)
	}
}

// Back to an earlier canary mid-update (v2 -> v3 -> v2 again, v2's pods
// still up in their scale-down delay): the router's weight is v3's, carried
// by v3's pods until the canary Service moves to v2. It must come off before
// that move, not ride over onto v2's pods, whatever v2 has available, and no
// setWeight step is done by a weight v2 never carried.
func TestRoutedWeightComesOffBeforeTheCanaryMoves(t *testing.T) {
	s := &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{SetWeight: ptr32(60)}, {Pause: &v1alpha1.RolloutPause{}}}}
	st := v1alpha1.RolloutStatus{StableRS: "v1", CurrentPodHash: "v3", CurrentStepHash: StepsHash(s.Steps), CurrentStepIndex: ptr32(1)}
	in := Input{Now: time.Unix(1_000_000, 0), Replicas: 5, Strategy: s, Status: st, NewHash: "v2", Revision: 4,
		New:    &ReplicaSet{Hash: "v2", Replicas: 1, Current: 1, Available: 1},
		Stable: &ReplicaSet{Hash: "v1", Replicas: 5, Current: 5, Available: 5},
		Older:  []ReplicaSet{{Hash: "v3", Replicas: 3, Current: 3, Available: 3}},
		Route:  &Route{Weight: 60, Canary: "v3"}}
	if d := Plan(in); *d.RouteWeight != 0 {
		t.Fatalf("v2 with 1 of the 3 pods 60%% needs, router at v3's 60: route %d, want 0 before the canary moves to v2", *d.RouteWeight)
	}
	in.New.Replicas, in.New.Current, in.New.Available = 3, 3, 3
	if d := Plan(in); *d.RouteWeight != 0 || *d.Status.CurrentStepIndex != 0 {
		t.Fatalf("v2 with its 3 pods, router at v3's 60: route %d step %d, want 0 and step 0 (v2 has not carried 60 yet)",
			*d.RouteWeight, *d.Status.CurrentStepIndex)
	}
	// Once the canary destination selects v2 (the weights recorded for it),
	// the weight goes up as v2's pods allow and the step completes.
	in.Status.CurrentPodHash, in.Status.CurrentStepIndex = "v2", ptr32(0)
	in.Route = &Route{Weight: 0, Canary: "v2"}
	if d := Plan(in); *d.RouteWeight != 60 {
		t.Fatalf("canary at v2: route %d, want 60", *d.RouteWeight)
	}
	in.Route.Weight = 60
	if d := Plan(in); *d.Status.CurrentStepIndex != 1 {
		t.Fatalf("v2 carries 60: step %d, want 1", *d.Status.CurrentStepIndex)
	}
}
