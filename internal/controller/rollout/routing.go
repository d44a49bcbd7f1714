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
	"github.com/sluice-dev/sluice/internal/router/gatewayapi"
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
}

// observeRouting reads the router of a canary with trafficRouting; nil for
// a replica-count canary. The Services must exist before anything is touched.
func (r *Reconciler) observeRouting(ctx context.Context, ro *v1alpha1.Rollout) (*routing, error) {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil, nil
	}
	rt, err := gatewayapi.New(r.apiReader(), r.Client, ro)
	if err != nil {
		return nil, &Failure{Reason: ReasonInvalidSpec, Invalid: true, Message: gatewayapi.Field + ": " + err.Error()}
	}
	if err := r.requireServices(ctx, ro, map[string]string{
		"spec.strategy.canary.stableService": c.StableService, "spec.strategy.canary.canaryService": c.CanaryService}); err != nil {
		return nil, err
	}
	w, err := rt.Weight(ctx)
	if err != nil {
		return nil, routerFailure("read the canary weight from "+rt.Describe(), err)
	}
	return &routing{rt: rt, weight: w}, nil
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

// applyRouting points the Services at their ReplicaSets and makes the router
// carry the planned weight. Traffic comes off the canary before a Service
// switch and goes onto it only after the canary Service already selected
// the new pods in an earlier reconcile. It reports when to look again.
func (r *Reconciler) applyRouting(ctx context.Context, ro *v1alpha1.Rollout, hash string, rd *routing, d canary.Decision) (time.Duration, error) {
	c := ro.Spec.Strategy.Canary
	target, now := *d.RouteWeight, rd.weight
	var recheck time.Duration
	setWeight := func(w int32) error {
		wrote, err := rd.rt.SetWeight(ctx, w)
		if err != nil {
			return routerFailure(fmt.Sprintf("set canary weight %d%% in %s", w, rd.rt.Describe()), err)
		}
		if wrote {
			r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "TrafficWeightUpdated", "SetWeight",
				"%s now sends %d%% of traffic to canary Service %q (%s) and %d%% to stable Service %q",
				rd.rt.Describe(), w, c.CanaryService, hash, 100-w, c.StableService)
			now, recheck = w, routeRecheck
		}
		return nil
	}
	if target < now || now < 0 {
		if err := setWeight(target); err != nil {
			return 0, err
		}
	}
	if _, err := r.pointService(ctx, ro, c.StableService, ro.Status.StableRS); err != nil {
		return 0, err
	}
	switched, err := r.pointService(ctx, ro, c.CanaryService, hash)
	if err != nil {
		return 0, err
	}
	if target > now {
		if switched {
			recheck = routeRecheck // the canary Service selects the new pods from now on
		} else if err := setWeight(target); err != nil {
			return 0, err
		}
	}
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: now, ServiceName: c.CanaryService, PodTemplateHash: hash},
		Stable: v1alpha1.WeightDestination{Weight: 100 - now, ServiceName: c.StableService, PodTemplateHash: ro.Status.StableRS},
	}
	return recheck, nil
}
