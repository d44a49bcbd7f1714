// Package routers builds the traffic router(s) a Rollout's
// spec.strategy.canary.trafficRouting names, from the built-in ones each in
// its own package under internal/router. Several routers at once (say NGINX
// and SMI) all carry the same weight, as upstream.
package routers

import (
	"cmp"
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
	"github.com/sluice-dev/sluice/internal/router/alb"
	"github.com/sluice-dev/sluice/internal/router/gatewayapi"
	"github.com/sluice-dev/sluice/internal/router/istio"
	"github.com/sluice-dev/sluice/internal/router/nginx"
	"github.com/sluice-dev/sluice/internal/router/smi"
	"github.com/sluice-dev/sluice/internal/router/traefik"
)

// builtIn is one router Sluice carries: its name under trafficRouting (or
// under trafficRouting.plugins for a plugin), whether a Rollout names it, and
// how it is built.
type builtIn struct {
	name   string
	plugin bool
	set    func(tr *v1alpha1.TrafficRouting) bool
	build  func(cfg router.Config) (router.Router, error)
}

// builtIns are the routers Sluice carries, in the order they are applied.
var builtIns = []builtIn{
	{name: v1alpha1.GatewayAPIPluginName, plugin: true, set: func(tr *v1alpha1.TrafficRouting) bool {
		_, ok := tr.Plugins[v1alpha1.GatewayAPIPluginName]
		return ok
	}, build: func(cfg router.Config) (router.Router, error) { return gatewayapi.New(cfg) }},
	{name: "nginx", set: func(tr *v1alpha1.TrafficRouting) bool { return tr.Nginx != nil },
		build: func(cfg router.Config) (router.Router, error) { return nginx.New(cfg) }},
	{name: "alb", set: func(tr *v1alpha1.TrafficRouting) bool { return tr.ALB != nil },
		build: func(cfg router.Config) (router.Router, error) { return alb.New(cfg) }},
	{name: "istio", set: func(tr *v1alpha1.TrafficRouting) bool { return tr.Istio != nil },
		build: func(cfg router.Config) (router.Router, error) { return istio.New(cfg) }},
	{name: "smi", set: func(tr *v1alpha1.TrafficRouting) bool { return tr.SMI != nil },
		build: func(cfg router.Config) (router.Router, error) { return smi.New(cfg) }},
	{name: "traefik", set: func(tr *v1alpha1.TrafficRouting) bool { return tr.Traefik != nil },
		build: func(cfg router.Config) (router.Router, error) { return traefik.New(cfg) }},
}

// upstream are the routers upstream's CRD has as fields of trafficRouting.
func upstream(tr *v1alpha1.TrafficRouting) map[string]*runtime.RawExtension {
	return map[string]*runtime.RawExtension{"istio": tr.Istio, "nginx": tr.Nginx, "alb": tr.ALB, "smi": tr.SMI,
		"ambassador": tr.Ambassador, "appMesh": tr.AppMesh, "traefik": tr.Traefik, "apisix": tr.Apisix}
}

// Path is where a router's config lives in a Rollout; its String() is
// the field for messages.
func Path(name string, plugin bool) *field.Path {
	p := field.NewPath("spec", "strategy", "canary", "trafficRouting")
	if plugin {
		return p.Child("plugins").Key(name)
	}
	return p.Child(name)
}

// Unavailable names the routers tr asks for that Sluice does not carry
// (sorted), quoted, a plugin as `plugin "name"`.
func Unavailable(tr *v1alpha1.TrafficRouting) []string {
	known := map[string]bool{}
	for _, b := range builtIns {
		known[b.name] = true
	}
	var out []string
	for name, raw := range upstream(tr) {
		if raw != nil && !known[name] {
			out = append(out, fmt.Sprintf("%q", name))
		}
	}
	for name := range tr.Plugins {
		if !known[name] {
			out = append(out, fmt.Sprintf("plugin %q", name))
		}
	}
	sort.Strings(out)
	return out
}

// Carried are the names of the built-in routers Sluice carries.
func Carried() []string {
	out := make([]string, len(builtIns))
	for i, b := range builtIns {
		out[i] = b.name
	}
	return out
}

// ConfigFor fills in the router Config of a canary Rollout; the caller sets
// Reader and Writer.
func ConfigFor(ro *v1alpha1.Rollout) router.Config {
	c := ro.Spec.Strategy.Canary
	cfg := router.Config{Rollout: ro, Stable: c.StableService, Canary: c.CanaryService, MaxWeight: 100}
	if tr := c.TrafficRouting; tr != nil {
		if tr.MaxTrafficWeight != nil {
			cfg.MaxWeight = *tr.MaxTrafficWeight
		}
		for _, m := range tr.ManagedRoutes {
			cfg.Managed = append(cfg.Managed, m.Name)
		}
	}
	return cfg
}

// New builds the router(s) cfg.Rollout names. An error is a config problem
// of the named field (the Rollout's spec is invalid); it does no I/O, so
// validation uses it too.
func New(cfg router.Config) (router.Router, error) {
	tr := cfg.Rollout.Spec.Strategy.Canary.TrafficRouting
	var all Multi
	for _, b := range builtIns {
		if !b.set(tr) {
			continue
		}
		rt, err := b.build(cfg)
		if err != nil {
			return nil, &ConfigError{Field: Path(b.name, b.plugin), Err: err}
		}
		all = append(all, rt)
	}
	switch len(all) {
	case 0:
		return nil, &ConfigError{Field: field.NewPath("spec", "strategy", "canary", "trafficRouting"), Err: fmt.Errorf(
			"names no router Sluice carries (built in: %v)", Carried())}
	case 1:
		return all[0], nil
	}
	return all, nil
}

// ConfigError is a router config that cannot be used, naming its field.
type ConfigError struct {
	Field *field.Path
	Err   error
}

func (e *ConfigError) Error() string { return e.Field.String() + ": " + e.Err.Error() }

// Validate checks the router config of ro and the header and mirror routes
// its steps ask for, without I/O.
func Validate(ro *v1alpha1.Rollout) field.ErrorList {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil || len(Unavailable(c.TrafficRouting)) > 0 {
		return nil // unavailable routers are reported by name elsewhere
	}
	p := field.NewPath("spec", "strategy", "canary")
	rt, err := New(ConfigFor(ro))
	if err != nil {
		ce := err.(*ConfigError)
		return field.ErrorList{field.Invalid(ce.Field, field.OmitValueType{}, ce.Err.Error())}
	}
	var errs field.ErrorList
	for i := range c.Steps {
		s := &c.Steps[i]
		var mr router.ManagedRoute
		var sp *field.Path
		switch {
		case s.SetHeaderRoute != nil:
			mr, sp = router.ManagedRoute{Name: s.SetHeaderRoute.Name, Header: s.SetHeaderRoute}, p.Child("steps").Index(i).Child("setHeaderRoute")
		case s.SetMirrorRoute != nil:
			mr, sp = router.ManagedRoute{Name: s.SetMirrorRoute.Name, Mirror: s.SetMirrorRoute}, p.Child("steps").Index(i).Child("setMirrorRoute")
		default:
			continue
		}
		rm, ok := rt.(router.RouteManager)
		if !ok {
			errs = append(errs, field.Forbidden(sp, fmt.Sprintf("%s cannot carry header or mirror routes; "+
				"use a router that can (Gateway API, Istio, ALB) or remove the step", rt.Describe())))
			continue
		}
		if err := rm.CanCarry(mr); err != nil {
			errs = append(errs, field.Forbidden(sp, err.Error()))
		}
	}
	return errs
}

// Multi is several routers carrying the same weight.
type Multi []router.Router

// Weight is the weight they all carry, -1 when they disagree.
func (m Multi) Weight(ctx context.Context) (int32, error) {
	return router.Agree(len(m), func(i int) (int32, error) { return m[i].Weight(ctx) })
}

// SetWeight sets weight on each.
func (m Multi) SetWeight(ctx context.Context, weight int32) (bool, error) {
	return m.each(func(rt router.Router) (bool, error) { return rt.SetWeight(ctx, weight) })
}

// PinHashes pins the hashes on each router that selects pods itself.
func (m Multi) PinHashes(ctx context.Context, canaryHash, stableHash string) (bool, error) {
	return m.each(func(rt router.Router) (bool, error) {
		if p, ok := rt.(router.HashPinner); ok {
			return p.PinHashes(ctx, canaryHash, stableHash)
		}
		return false, nil
	})
}

// CanCarry requires every router to carry the route.
func (m Multi) CanCarry(route router.ManagedRoute) error {
	for _, rt := range m {
		rm, ok := rt.(router.RouteManager)
		if !ok {
			return fmt.Errorf("%s cannot carry header or mirror routes", rt.Describe())
		}
		if err := rm.CanCarry(route); err != nil {
			return err
		}
	}
	return nil
}

// SetManagedRoutes sets the routes on each router.
func (m Multi) SetManagedRoutes(ctx context.Context, routes []router.ManagedRoute) (bool, error) {
	return m.each(func(rt router.Router) (bool, error) {
		if rm, ok := rt.(router.RouteManager); ok {
			return rm.SetManagedRoutes(ctx, routes)
		}
		return false, nil
	})
}

func (m Multi) each(f func(router.Router) (bool, error)) (bool, error) {
	wrote := false
	for _, rt := range m {
		w, err := f(rt)
		wrote = wrote || w
		if err != nil {
			return wrote, err
		}
	}
	return wrote, nil
}

// Describe names every router.
func (m Multi) Describe() string {
	s := ""
	for i, rt := range m {
		if i > 0 {
			s += " and "
		}
		s += rt.Describe()
	}
	return cmp.Or(s, "no router")
}
