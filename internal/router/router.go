// Package router defines how the canary reconciler talks to a traffic
// router: a small interface with one implementation per router, each in its
// own package beside this one (gatewayapi, nginx, istio, smi, traefik, alb),
// chosen by router/routers from the Rollout's trafficRouting. A router that
// cannot be used says so with an *Error, which the reconciler reports loudly
// (phase Degraded, a condition and an Event), never by falling back to a
// silent default.
package router

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Router carries the canary's share of traffic. Weights are on the scale
// 0..Config.MaxWeight (spec.strategy.canary.trafficRouting.maxTrafficWeight,
// default 100).
type Router interface {
	// Weight is the canary weight the router carries now, 0..MaxWeight;
	// -1 when its objects disagree.
	Weight(ctx context.Context) (int32, error)
	// SetWeight makes the router carry weight, writing only what differs.
	// It reports whether it wrote anything.
	SetWeight(ctx context.Context, weight int32) (bool, error)
	// Describe names what the router changes, for messages and Events.
	Describe() string
}

// HashPinner is a router that selects the canary and stable pods itself, by
// their pod-template hash (Istio's subset-level routing: DestinationRule
// subsets), rather than through the canary and stable Services. The
// reconciler pins it where it points the Services: after traffic has left
// the canary and before traffic goes to new pods.
type HashPinner interface {
	// PinHashes points the canary and stable destinations at the pods of
	// these ReplicaSets, writing only what differs. It reports whether it
	// wrote anything.
	PinHashes(ctx context.Context, canaryHash, stableHash string) (bool, error)
}

// RouteManager is a router that carries header and mirror routes
// (spec.strategy.canary.trafficRouting.managedRoutes, set by the
// setHeaderRoute and setMirrorRoute steps).
type RouteManager interface {
	// CanCarry says why this router cannot carry route (nil when it can),
	// from its config alone, for validation before anything is touched.
	CanCarry(route ManagedRoute) error
	// SetManagedRoutes makes the router carry exactly routes among the
	// managed ones (Config.Managed), in that order, and removes every other
	// managed route it carries; nil removes them all. It writes only what
	// differs and reports whether it wrote anything.
	SetManagedRoutes(ctx context.Context, routes []ManagedRoute) (bool, error)
}

// ManagedRoute is one header or mirror route the canary's steps ask for.
// Exactly one of Header and Mirror is set.
type ManagedRoute struct {
	// Name is its managedRoutes entry.
	Name   string
	Header *v1alpha1.SetHeaderRoute
	Mirror *v1alpha1.SetMirrorRoute
}

// Config is what every router is built from.
type Config struct {
	// Reader reads the router's objects straight from the API server (no
	// cache: no list/watch permission and no informer for a kind that may
	// not be installed).
	Reader client.Reader
	Writer client.Writer
	// Rollout is the canary whose trafficRouting names the router; routers
	// read their own config from it and never change it.
	Rollout *v1alpha1.Rollout
	// Stable and Canary are the stableService and canaryService.
	Stable, Canary string
	// MaxWeight is the total weight (maxTrafficWeight, default 100).
	MaxWeight int32
	// Managed are the managedRoutes names, in their order (highest
	// precedence first).
	Managed []string
}

// Error is a router problem an operator has to fix: a missing route, a route
// that does not name both Services, an API kind that is not installed.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Reason + ": " + e.Message }

// Reasons of router Errors.
const (
	ReasonRouteNotFound    = "TrafficRouteNotFound"
	ReasonRouteUnusable    = "TrafficRouteUnusable"
	ReasonRouterNotInstall = "TrafficRouterNotInstalled"
)

// Agree is the weight n objects all carry (weight(i) reads the i-th), -1
// when they disagree; the first error stops it.
func Agree(n int, weight func(i int) (int32, error)) (int32, error) {
	got := int32(-2)
	for i := 0; i < n; i++ {
		w, err := weight(i)
		if err != nil {
			return 0, err
		}
		if got != -2 && got != w {
			return -1, nil
		}
		got = w
	}
	return got, nil
}
