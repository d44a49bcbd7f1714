package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/router"
	"github.com/sluice-dev/sluice/internal/router/routers"
)

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;update

// routeRecheck is how soon a Rollout is looked at again after its router
// was changed, to see the router carry the new weight (routes are read, not
// watched: the Gateway API may not be installed).
const routeRecheck = time.Second

// routing is a routed canary's router and what it carries now.
type routing struct {
	rt     router.Router
	weight int32
	max    int32    // maxTrafficWeight
	routes []string // managedRoutes
}

// observeRouting reads the router of a canary with trafficRouting; nil for
// a replica-count canary. The Services must exist before anything is touched.
func (r *Reconciler) observeRouting(ctx context.Context, ro *v1alpha1.Rollout) (*routing, error) {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil, nil
	}
	cfg := routers.ConfigFor(ro)
	cfg.Reader, cfg.Writer = r.apiReader(), r.Client
	rt, err := routers.New(cfg)
	if err != nil {
		return nil, &Failure{Reason: ReasonInvalidSpec, Invalid: true, Message: err.Error()}
	}
	if err := r.requireServices(ctx, ro, map[string]string{
		"spec.strategy.canary.stableService": c.StableService, "spec.strategy.canary.canaryService": c.CanaryService}); err != nil {
		return nil, err
	}
	w, err := rt.Weight(ctx)
	if err != nil {
		return nil, routerFailure("read the canary weight from "+rt.Describe(), err)
	}
	return &routing{rt: rt, weight: w, max: cfg.MaxWeight, routes: cfg.Managed}, nil
}

// Router objects are read, not watched: their kinds may not be installed,
// and a watch needs list/watch permission and a cluster-wide cache for what
// a few Rollouts use (without the permission the controller would not
// start at all). So a routed Rollout is looked at again on its own to put
// right a weight or a managed route someone reset behind its back (a
// GitOps sync): often while an update runs, seldom at rest, where the
// router carries no canary.
const (
	routeResyncUpdating = 10 * time.Second
	routeResyncAtRest   = 5 * time.Minute
)

// routeResync is when a routed Rollout is read again to check its router.
func routeResync(d canary.Decision, hash string) time.Duration {
	if d.Status.StableRS != hash {
		return routeResyncUpdating
	}
	return routeResyncAtRest
}

// routerRecheck is how often a Rollout stopped by its router is looked at
// again: routes are not watched, and an operator who creates the missing
// route should not wait long.
const routerRecheck = 5 * time.Second

// routerFailure turns a router problem into a loud Failure.
func routerFailure(action string, err error) error {
	var re *router.Error
	if errors.As(err, &re) {
		f := fail(re.Reason, "%s. The Rollout stays where it is until this is fixed", re.Message)
		f.Recheck = routerRecheck
		return f
	}
	return apiFailure(action, err)
}

// applyRouting points the Services (and a router that selects pods itself)
// at their ReplicaSets and makes the router carry the planned weight and
// the header and mirror routes in effect. Traffic comes off the canary
// before a switch and goes onto it only after the canary Service already
// selected the new pods in an earlier reconcile. serving says the canary
// has a pod available to take a header or mirror route. It reports when to
// look again.
func (r *Reconciler) applyRouting(ctx context.Context, ro *v1alpha1.Rollout, hash string, rd *routing, d canary.Decision, serving bool) (time.Duration, error) {
	c := ro.Spec.Strategy.Canary
	target, now := *d.RouteWeight, rd.weight
	if canaryMoves(ro, hash) {
		target = 0 // also when the plan was deferred: never carried over onto other pods
	}
	var recheck time.Duration
	setWeight := func(w int32) error {
		wrote, err := rd.rt.SetWeight(ctx, w)
		if err != nil {
			return routerFailure(fmt.Sprintf("set canary weight %s in %s", rd.share(w), rd.rt.Describe()), err)
		}
		if wrote {
			r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "TrafficWeightUpdated", "SetWeight",
				"%s now sends %s of traffic to the canary (%s) and %s to the stable (%s)",
				rd.rt.Describe(), rd.share(w), destination(c.CanaryService, hash), rd.share(rd.max-w), destination(c.StableService, ro.Status.StableRS))
			now, recheck = w, routeRecheck
		}
		return nil
	}
	routes := managedRoutesInEffect(ro, d, hash, serving, rd.routes)
	if target < now || now < 0 {
		if err := setWeight(target); err != nil {
			return 0, err
		}
	}
	if len(routes) == 0 { // routes leave the canary before it changes
		if err := r.setManagedRoutes(ctx, ro, rd, nil, hash); err != nil {
			return 0, err
		}
	}
	canaryAt := hash // the pods the canary Service selects after this
	if !serving && !d.Status.Abort && hash != ro.Status.StableRS {
		canaryAt = "" // not before the new pods can serve: see pointDestinations
	}
	switched, err := r.pointDestinations(ctx, ro, rd, hash, canaryAt, d.Status.Abort)
	if err != nil {
		return 0, err
	}
	if canaryAt == "" {
		canaryAt = routedCanary(ro) // still where it was
	}
	if switched {
		recheck = routeRecheck // the canary destination selects the new pods from now on
	} else {
		if target > now {
			if err := setWeight(target); err != nil {
				return 0, err
			}
		}
		if len(routes) > 0 {
			if err := r.setManagedRoutes(ctx, ro, rd, routes, hash); err != nil {
				return 0, err
			}
		}
	}
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: now, ServiceName: c.CanaryService, PodTemplateHash: canaryAt},
		Stable: v1alpha1.WeightDestination{Weight: rd.max - now, ServiceName: c.StableService, PodTemplateHash: ro.Status.StableRS},
	}
	return recheck, nil
}

// routedCanary is the pod-template hash the canary destination (the canary
// Service, an Istio canary subset) selected when the weights were last
// recorded: the pods the router's canary weight reaches; "" if not known.
func routedCanary(ro *v1alpha1.Rollout) string {
	if w := ro.Status.Canary.Weights; w != nil {
		return w.Canary.PodTemplateHash
	}
	return ""
}

// canaryMoves reports that the canary destination is about to move from
// another ReplicaSet's pods to hash's (back to an earlier canary whose pods
// are still up, say): what the router sends to the canary now reaches the
// old pods, so weight and routes come off before the move.
func canaryMoves(ro *v1alpha1.Rollout, hash string) bool {
	h := routedCanary(ro)
	return h != "" && h != hash
}

// destination names where canary or stable traffic goes: the Service and
// the pods it selects, or the pods alone for a router that selects them
// itself (Istio subsets).
func destination(service, hash string) string {
	if service == "" {
		return PodTemplateHashLabel + "=" + hash
	}
	return fmt.Sprintf("Service %q, %s", service, hash)
}

// share prints a weight as a percentage, or as w/max with maxTrafficWeight.
func (rd *routing) share(w int32) string {
	if rd.max == 100 {
		return fmt.Sprintf("%d%%", w)
	}
	return fmt.Sprintf("%d/%d", w, rd.max)
}

// pointDestinations points the stable and canary Services, and a router
// that selects pods by hash, at their ReplicaSets; it reports whether the
// canary's destination changed. Aborted, the canary Service selects the
// stable pods, as upstream: what reaches it outside the router's weight (an
// NGINX canary-by-header annotation, a client calling it) is served, not
// sent to pods on their way out. A router's own canary subset stays on the
// aborted pods at weight 0 (upstream's too). canaryTo is where the canary
// Service goes, "" to leave it: a new revision's pods are selected only once
// one of them is available, as upstream, so what reaches the canary Service
// outside the weight (canary-by-header, a direct client) is not sent to
// pods that cannot answer yet.
func (r *Reconciler) pointDestinations(ctx context.Context, ro *v1alpha1.Rollout, rd *routing, hash, canaryTo string, aborted bool) (bool, error) {
	c := ro.Spec.Strategy.Canary
	if c.StableService != "" {
		if _, err := r.pointService(ctx, ro, c.StableService, ro.Status.StableRS); err != nil {
			return false, err
		}
	}
	switched := false
	if c.CanaryService != "" && canaryTo != "" {
		var err error
		if aborted {
			canaryTo = ro.Status.StableRS
		}
		if switched, err = r.pointService(ctx, ro, c.CanaryService, canaryTo); err != nil {
			return false, err
		}
	}
	if p, ok := rd.rt.(router.HashPinner); ok {
		wrote, err := p.PinHashes(ctx, hash, ro.Status.StableRS)
		if err != nil {
			return false, routerFailure("point "+rd.rt.Describe()+" at the canary and stable pods", err)
		}
		if wrote {
			r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "TrafficRouterPinned", "Switch",
				"%s now sends canary traffic to pods %s=%s and stable traffic to %s=%s",
				rd.rt.Describe(), PodTemplateHashLabel, hash, PodTemplateHashLabel, ro.Status.StableRS)
		}
		switched = switched || wrote
	}
	return switched, nil
}

// managedRoutesInEffect are the header and mirror routes the router must
// carry: those the steps so far set, while an update is under way and its
// canary has a pod to serve them; none once it completes, aborts or is
// fully promoted, as upstream.
func managedRoutesInEffect(ro *v1alpha1.Rollout, d canary.Decision, hash string, serving bool, managed []string) []router.ManagedRoute {
	st := &d.Status
	steps := ro.Spec.Strategy.Canary.Steps
	if len(managed) == 0 || !serving || canaryMoves(ro, hash) || st.Abort || st.PromoteFull || st.StableRS == hash || st.CurrentStepIndex == nil ||
		int(*st.CurrentStepIndex) >= len(steps) {
		return nil
	}
	return router.InEffect(steps, *st.CurrentStepIndex, managed)
}

// setManagedRoutes makes the router carry routes, loudly when it wrote.
func (r *Reconciler) setManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout, rd *routing, routes []router.ManagedRoute, hash string) error {
	rm, ok := rd.rt.(router.RouteManager)
	if !ok || len(rd.routes) == 0 {
		return nil
	}
	wrote, err := rm.SetManagedRoutes(ctx, routes)
	if err != nil {
		return routerFailure("set the header and mirror routes in "+rd.rt.Describe(), err)
	}
	if wrote {
		names := make([]string, len(routes))
		for i, m := range routes {
			names[i] = m.Name
		}
		msg := fmt.Sprintf("%s now carries no managed route", rd.rt.Describe())
		if len(names) > 0 {
			msg = fmt.Sprintf("%s now carries managed routes %v to the canary (%s)", rd.rt.Describe(), names,
				destination(ro.Spec.Strategy.Canary.CanaryService, hash))
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "ManagedRoutesUpdated", "SetRoutes", "%s", msg)
	}
	return nil
}
