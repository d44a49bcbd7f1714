// Package traefik carries a canary's traffic split in a weighted
// TraefikService, configured as upstream's trafficRouting.traefik is:
//
//	trafficRouting:
//	  traefik:
//	    weightedTraefikServiceName: shop   # a TraefikService in the Rollout's namespace
//
// The TraefikService's spec.weighted.services must list the stableService
// and the canaryService; Sluice sets their weights (canary w, stable max-w,
// max being maxTrafficWeight, default 100) and leaves everything else in it
// alone. Traffic reaches the split only through Traefik: an IngressRoute
// (or a parent TraefikService) whose service is this TraefikService.
package traefik

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/internal/router"
)

// Field is where the config lives in a Rollout, for messages.
const Field = "spec.strategy.canary.trafficRouting.traefik"

// GroupVersions are where the TraefikService kind is served, preferred
// first: traefik.io (Traefik v2.10 and later, the only one in v3; upstream's
// default) and traefik.containo.us (Traefik v2, upstream's
// --traefik-api-group alternative).
var GroupVersions = []schema.GroupVersion{{Group: "traefik.io", Version: "v1alpha1"}, {Group: "traefik.containo.us", Version: "v1alpha1"}}

// Config is trafficRouting.traefik, with upstream's field name.
type Config struct {
	// WeightedTraefikServiceName names the TraefikService whose
	// spec.weighted.services carry the split.
	WeightedTraefikServiceName string `json:"weightedTraefikServiceName"`
}

// ParseConfig decodes trafficRouting.traefik. Unknown fields are errors.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := router.DecodeStrict(raw, &c); err != nil {
		return nil, err
	}
	if c.WeightedTraefikServiceName == "" {
		return nil, fmt.Errorf("name the weighted TraefikService that carries the split: weightedTraefikServiceName: NAME")
	}
	if errs := validation.IsDNS1123Subdomain(c.WeightedTraefikServiceName); len(errs) > 0 {
		return nil, fmt.Errorf("weightedTraefikServiceName %q is not an object name: %s", c.WeightedTraefikServiceName, strings.Join(errs, "; "))
	}
	return &c, nil
}

// Router is the Traefik implementation of router.Router.
type Router struct {
	Reader         client.Reader
	Writer         client.Writer
	Namespace      string
	Name           string // the TraefikService
	Stable, Canary string
	Max            int32
}

// New builds the router of a Rollout whose canary names
// trafficRouting.traefik. It does no I/O.
func New(rc router.Config) (*Router, error) {
	ro := rc.Rollout
	raw := ro.Spec.Strategy.Canary.TrafficRouting.Traefik
	if raw == nil {
		return nil, fmt.Errorf("is not set")
	}
	cfg, err := ParseConfig(raw.Raw)
	if err != nil {
		return nil, err
	}
	return &Router{Reader: rc.Reader, Writer: rc.Writer, Namespace: ro.Namespace, Name: cfg.WeightedTraefikServiceName,
		Stable: rc.Stable, Canary: rc.Canary, Max: rc.MaxWeight}, nil
}

// Describe names the TraefikService (and its namespace, when known: lint
// reads files without one).
func (r *Router) Describe() string { return router.Describe("TraefikService", r.Name, r.Namespace) }

// served finds the group that serves TraefikService.
var served = func() *router.Served {
	s := &router.Served{}
	for _, gv := range GroupVersions {
		s.Kinds = append(s.Kinds, gv.WithKind("TraefikService"))
	}
	return s
}()

// get reads the TraefikService from whichever API group serves it.
func (r *Router) get(ctx context.Context) (*unstructured.Unstructured, error) {
	u, gvk, ok, err := served.Get(ctx, r.Reader, r.Namespace, r.Name)
	switch {
	case !ok:
		return nil, &router.Error{Reason: router.ReasonRouterNotInstall, Message: fmt.Sprintf(
			"Traefik's TraefikService (traefik.io/v1alpha1, or traefik.containo.us/v1alpha1 before Traefik v3) is not installed "+
				"in this cluster, but %s names one; install Traefik's CRDs, or remove spec.strategy.canary.trafficRouting "+
				"for a replica-count canary", Field)}
	case err != nil:
		return nil, err
	case u == nil:
		return nil, &router.Error{Reason: router.ReasonRouteNotFound, Message: fmt.Sprintf(
			"TraefikService %q (%s) named by %s.weightedTraefikServiceName was not found in namespace %q; create it "+
				"with spec.weighted.services listing the stable Service %q and the canary Service %q, or fix the name",
			r.Name, gvk.GroupVersion(), Field, r.Namespace, r.Stable, r.Canary)}
	}
	return u, nil
}

// services reads spec.weighted.services, or says why the TraefikService
// cannot carry the split.
func (r *Router) services(u *unstructured.Unstructured) ([]any, error) {
	services, found, err := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
	if err != nil || !found {
		return nil, router.Unusable("%s has no spec.weighted.services, so it cannot split traffic (a mirroring or "+
			"highestRandomWeight TraefikService cannot); make it a weighted TraefikService listing the stable Service %q "+
			"and the canary Service %q, and point the IngressRoute at it", r.Describe(), r.Stable, r.Canary)
	}
	if _, err := servicesWeight(services, r.Namespace, r.Stable, r.Canary, r.Max); err != nil {
		return nil, router.Unusable("%s named by %s.weightedTraefikServiceName cannot carry the split: %v; its "+
			"spec.weighted.services must list both the stable Service %q and the canary Service %q (with their port)",
			r.Describe(), Field, err, r.Stable, r.Canary)
	}
	return services, nil
}

// Weight is the canary's share the TraefikService carries.
func (r *Router) Weight(ctx context.Context) (int32, error) {
	u, err := r.get(ctx)
	if err != nil {
		return 0, err
	}
	services, err := r.services(u)
	if err != nil {
		return 0, err
	}
	return servicesWeight(services, r.Namespace, r.Stable, r.Canary, r.Max)
}

// SetWeight writes canary weight w and stable max-w when they differ.
func (r *Router) SetWeight(ctx context.Context, w int32) (bool, error) {
	u, err := r.get(ctx)
	if err != nil {
		return false, err
	}
	services, err := r.services(u)
	if err != nil {
		return false, err
	}
	if !setServicesWeight(services, r.Namespace, r.Stable, r.Canary, w, r.Max) {
		return false, nil
	}
	if err := unstructured.SetNestedSlice(u.Object, services, "spec", "weighted", "services"); err != nil {
		return false, err
	}
	if err := r.Writer.Update(ctx, u); err != nil {
		return false, fmt.Errorf("set canary weight %d in %s: %w", w, r.Describe(), err)
	}
	return true, nil
}
