// Package istio carries a canary's traffic split in Istio VirtualServices,
// configured as upstream's trafficRouting.istio:
//
//	trafficRouting:
//	  istio:
//	    virtualService:            # or virtualServices: [...]
//	      name: web                # "web.other-namespace" for another namespace
//	      routes: [primary]        # spec.http routes; tlsRoutes / tcpRoutes by port
//	    destinationRule:           # optional: subset-level routing
//	      name: web
//	      canarySubsetName: canary
//	      stableSubsetName: stable
//
// Host-level: in every route that carries the split, the destination whose
// host is the stableService gets max-w and the canaryService's w.
// Subset-level: the destinations are one host's canary and stable subsets,
// and the DestinationRule's subsets are labelled with the canary's and the
// stable's pod-template hash (router.HashPinner). Header and mirror routes
// (router.RouteManager) are HTTP routes named after their managedRoutes
// entry. Objects are read and written as JSON (networking.istio.io/v1beta1,
// served by every Istio since 1.5), and only the weights, the managed
// routes and the subset hash labels are ever changed.
package istio

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/internal/router"
)

// The kinds Sluice reads and writes.
var (
	VirtualServiceGVK  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "VirtualService"}
	DestinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "DestinationRule"}
)

// Field is where the config lives in a Rollout, for messages.
const Field = "spec.strategy.canary.trafficRouting.istio"

const install = "install Istio (its networking.istio.io CRDs)"

// target is one VirtualService and the routes of it that carry the split.
type target struct {
	namespace, name string
	field           string // the Rollout field that names it
	ref             VirtualServiceRef
}

// Router is the Istio implementation of router.Router, router.HashPinner
// and router.RouteManager.
type Router struct {
	Reader    client.Reader
	Writer    client.Writer
	Namespace string // the Rollout's; the DestinationRule lives there
	targets   []target
	dr        *DestinationRuleRef
	stable    string
	canary    string
	max       int32
	managed   []string
}

// New builds the router of a Rollout whose canary names it; no I/O.
func New(rc router.Config) (*Router, error) {
	ro := rc.Rollout
	raw := ro.Spec.Strategy.Canary.TrafficRouting.Istio
	if raw == nil {
		return nil, fmt.Errorf("is not set")
	}
	cfg, err := ParseConfig(raw.Raw)
	if err != nil {
		return nil, err
	}
	if rc.MaxWeight != 100 {
		return nil, fmt.Errorf("cannot be used with maxTrafficWeight %d: Istio route weights are percentages "+
			"(upstream refuses maxTrafficWeight with Istio too); remove spec.strategy.canary.trafficRouting.maxTrafficWeight", rc.MaxWeight)
	}
	if cfg.DestinationRule == nil && (rc.Stable == "" || rc.Canary == "") {
		return nil, fmt.Errorf("host-level routing needs spec.strategy.canary.stableService and canaryService " +
			"(the VirtualService's destinations are those Services); set both, or set destinationRule for subset-level routing")
	}
	r := &Router{Reader: rc.Reader, Writer: rc.Writer, Namespace: ro.Namespace, dr: cfg.DestinationRule,
		stable: rc.Stable, canary: rc.Canary, max: rc.MaxWeight, managed: rc.Managed}
	for i, vs := range cfg.virtualServices() {
		f := Field + ".virtualService"
		if cfg.VirtualService == nil {
			f = fmt.Sprintf("%s.virtualServices[%d]", Field, i)
		}
		for _, name := range vs.Routes {
			if slices.Contains(rc.Managed, name) {
				return nil, fmt.Errorf("route %q is both in %s.routes and in managedRoutes; managed routes are "+
					"added and removed by Sluice, so give the header or mirror route another name", name, strings.TrimPrefix(f, Field+"."))
			}
		}
		ns, name := splitName(vs.Name)
		if ns == "" {
			ns = ro.Namespace
		}
		r.targets = append(r.targets, target{namespace: ns, name: name, field: f, ref: vs})
	}
	return r, nil
}

// Describe names the VirtualServices (and the DestinationRule).
func (r *Router) Describe() string {
	var names []string
	for _, t := range r.targets {
		n := fmt.Sprintf("%q", t.name)
		if t.namespace != r.Namespace {
			n += fmt.Sprintf(" (namespace %q)", t.namespace)
		}
		names = append(names, n)
	}
	s := "Istio VirtualService " + strings.Join(names, ", ")
	if r.dr != nil {
		s += fmt.Sprintf(" with DestinationRule %q", r.dr.Name)
	}
	return s
}

func (r *Router) split(t target) *split {
	return &split{vs: t.name, field: t.field, namespace: r.Namespace, stable: r.stable, canary: r.canary, dr: r.dr, max: r.max}
}

// load reads a VirtualService and picks the routes that carry the split.
func (r *Router) load(ctx context.Context, t target) (*unstructured.Unstructured, *split, []routeRef, error) {
	vs, err := router.GetUnstructured(ctx, r.Reader, VirtualServiceGVK, t.namespace, t.name, t.field+".name", install)
	if err != nil {
		return nil, nil, nil, err
	}
	s := r.split(t)
	refs, err := s.selectRoutes(vs, t.ref, r.managed)
	if err != nil {
		return nil, nil, nil, err
	}
	return vs, s, refs, nil
}

func (r *Router) destinationRule(ctx context.Context) (*unstructured.Unstructured, error) {
	return router.GetUnstructured(ctx, r.Reader, DestinationRuleGVK, r.Namespace, r.dr.Name, Field+".destinationRule.name", install)
}

// Weight reads every VirtualService; they must all carry the same weight.
// With subset-level routing the DestinationRule must have both subsets.
func (r *Router) Weight(ctx context.Context) (int32, error) {
	if r.dr != nil {
		dr, err := r.destinationRule(ctx)
		if err != nil {
			return 0, err
		}
		if err := checkSubsets(dr, r.dr); err != nil {
			return 0, err
		}
	}
	return router.Agree(len(r.targets), func(i int) (int32, error) {
		vs, s, refs, err := r.load(ctx, r.targets[i])
		if err != nil {
			return 0, err
		}
		return s.weight(vs, refs)
	})
}

// SetWeight writes weight into every VirtualService that does not carry it
// yet, with an update that carries the resourceVersion it read.
func (r *Router) SetWeight(ctx context.Context, weight int32) (bool, error) {
	wrote := false
	for _, t := range r.targets {
		vs, s, refs, err := r.load(ctx, t)
		if err != nil {
			return wrote, err
		}
		changed, err := s.setWeight(vs, refs, weight, r.managed)
		if err != nil {
			return wrote, err
		}
		if !changed {
			continue
		}
		if err := r.Writer.Update(ctx, vs); err != nil {
			return wrote, fmt.Errorf("set canary weight %d%% in VirtualService %q: %w", weight, t.name, err)
		}
		wrote = true
	}
	return wrote, nil
}

// PinHashes labels the DestinationRule's canary and stable subsets with
// the hashes (subset-level routing only).
func (r *Router) PinHashes(ctx context.Context, canaryHash, stableHash string) (bool, error) {
	if r.dr == nil {
		return false, nil
	}
	dr, err := r.destinationRule(ctx)
	if err != nil {
		return false, err
	}
	changed, err := pinSubsets(dr, r.dr, canaryHash, stableHash)
	if err != nil || !changed {
		return false, err
	}
	if err := r.Writer.Update(ctx, dr); err != nil {
		return false, fmt.Errorf("label the subsets of DestinationRule %q: %w", r.dr.Name, err)
	}
	return true, nil
}

// CanCarry: every header and mirror route can be carried as an HTTP route
// of the VirtualService (whether it has one is known only once it is read).
func (r *Router) CanCarry(route router.ManagedRoute) error {
	if route.Header == nil && route.Mirror == nil {
		return fmt.Errorf("route %q is neither a header nor a mirror route", route.Name)
	}
	return nil
}

// SetManagedRoutes makes every VirtualService carry exactly routes among
// the managed ones, before its other HTTP routes.
func (r *Router) SetManagedRoutes(ctx context.Context, routes []router.ManagedRoute) (bool, error) {
	wrote := false
	for _, t := range r.targets {
		var vs *unstructured.Unstructured
		var s *split
		var primary *routeRef
		if len(routes) == 0 {
			// Removing needs no route that carries the split: a broken
			// VirtualService still loses what Sluice added to it.
			var err error
			vs, err = router.GetUnstructured(ctx, r.Reader, VirtualServiceGVK, t.namespace, t.name, t.field+".name", install)
			if err != nil {
				return wrote, err
			}
			s = r.split(t)
		} else {
			var refs []routeRef
			var err error
			if vs, s, refs, err = r.load(ctx, t); err != nil {
				return wrote, err
			}
			if i := slices.IndexFunc(refs, func(x routeRef) bool { return x.kind == "http" }); i >= 0 {
				primary = &refs[i]
			}
		}
		changed, err := s.setManagedRoutes(vs, primary, routes, r.managed)
		if err != nil {
			return wrote, err
		}
		if !changed {
			continue
		}
		if err := r.Writer.Update(ctx, vs); err != nil {
			return wrote, fmt.Errorf("set the managed routes of VirtualService %q: %w", t.name, err)
		}
		wrote = true
	}
	return wrote, nil
}
