// Package router defines how the canary reconciler talks to a traffic
// router: a small interface with one implementation per router (today the
// Gateway API, in router/gatewayapi). A router that cannot be used says so
// with an *Error, which the reconciler reports loudly (phase Degraded, a
// condition and an Event), never by falling back to a silent default.
package router

import "context"

// Router carries the canary's share of traffic.
type Router interface {
	// Weight is the canary weight, 0..100, the router carries now; -1
	// when its routes disagree.
	Weight(ctx context.Context) (int32, error)
	// SetWeight makes the router carry weight, writing only what differs.
	// It reports whether it wrote anything.
	SetWeight(ctx context.Context, weight int32) (bool, error)
	// Describe names what the router changes, for messages and Events.
	Describe() string
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
