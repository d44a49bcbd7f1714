package alb

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/internal/router"
)

// Router is the AWS ALB implementation of router.Router and
// router.RouteManager (header routes; ALB has no mirroring).
type Router struct {
	Reader    client.Reader
	Writer    client.Writer
	Namespace string
	Rollout   string
	Max       int32
	cfg       *Config
	refs      []ingressRef
	svc       services
	// action is the Service whose actions.<action> annotation carries the
	// split: rootService, or the stableService.
	action  string
	managed []string
}

// New builds the router of a Rollout whose canary names trafficRouting.alb.
// It does no I/O.
func New(rc router.Config) (*Router, error) {
	ro := rc.Rollout
	tr := ro.Spec.Strategy.Canary.TrafficRouting
	if tr.ALB == nil {
		return nil, fmt.Errorf("is not set")
	}
	cfg, err := ParseConfig(tr.ALB.Raw)
	if err != nil {
		return nil, err
	}
	if rc.MaxWeight > MaxWeight {
		return nil, fmt.Errorf("spec.strategy.canary.trafficRouting.maxTrafficWeight %d is more than ALB takes: "+
			"target group weights go up to %d", rc.MaxWeight, MaxWeight)
	}
	r := &Router{Reader: rc.Reader, Writer: rc.Writer, Namespace: ro.Namespace, Rollout: ro.Name, Max: rc.MaxWeight,
		cfg: cfg, refs: cfg.refs(), action: rc.Stable, managed: rc.Managed,
		svc: services{canary: rc.Canary, stable: rc.Stable, port: cfg.ServicePort, sticky: cfg.StickinessConfig}}
	if cfg.RootService != "" {
		r.action = cfg.RootService
	}
	return r, nil
}

// Describe names the Ingresses and the action annotation.
func (r *Router) Describe() string {
	names := make([]string, len(r.refs))
	for i, ref := range r.refs {
		names[i] = fmt.Sprintf("%q", ref.Name)
	}
	return fmt.Sprintf("ALB Ingress %s (annotation %s) in namespace %q", strings.Join(names, ", "),
		actionKey(r.cfg.Prefix(), r.action), r.Namespace)
}

// get reads an Ingress that must have a path to the action service on port
// use-annotation.
func (r *Router) get(ctx context.Context, ref ingressRef) (*networkingv1.Ingress, error) {
	var ing networkingv1.Ingress
	if err := router.Get(ctx, r.Reader, &ing, "Ingress", r.Namespace, ref.Name, ref.Field,
		"Ingress is built into Kubernetes (networking.k8s.io/v1, 1.19 and later)"); err != nil {
		return nil, err
	}
	if err := checkActionPath(&ing, r.action); err != nil {
		return nil, router.Unusable("%s (named by %s)", err.Error(), ref.Field)
	}
	return &ing, nil
}

// Weight is the canary weight every Ingress's action carries; -1 when an
// action is missing, is not the split Sluice writes, or they disagree.
func (r *Router) Weight(ctx context.Context) (int32, error) {
	got := int32(-2)
	for _, ref := range r.refs {
		ing, err := r.get(ctx, ref)
		if err != nil {
			return 0, err
		}
		w := int32(-1)
		if v, ok := ing.Annotations[actionKey(r.cfg.Prefix(), r.action)]; ok {
			w = r.svc.splitWeight(v, r.Max)
		}
		if got != -2 && got != w {
			got = -1
		} else {
			got = w
		}
	}
	return got, nil
}

// update writes ing when change says it changed.
func (r *Router) update(ctx context.Context, ing *networkingv1.Ingress, changed bool, what string) (bool, error) {
	if !changed {
		return false, nil
	}
	if err := r.Writer.Update(ctx, ing); err != nil {
		return false, fmt.Errorf("%s in Ingress %q: %w", what, ing.Name, err)
	}
	return true, nil
}

// SetWeight writes the split action into every Ingress that does not
// carry it.
func (r *Router) SetWeight(ctx context.Context, w int32) (bool, error) {
	wrote := false
	key := actionKey(r.cfg.Prefix(), r.action)
	for _, ref := range r.refs {
		ing, err := r.get(ctx, ref)
		if err != nil {
			return wrote, err
		}
		changed := setAnnotation(ing, key, encode(r.svc.split(w, r.Max)))
		changed = setAnnotation(ing, ManagedKey, withManaged(ing.Annotations[ManagedKey], r.Rollout, true, key)) || changed
		did, err := r.update(ctx, ing, changed, fmt.Sprintf("set canary weight %d", w))
		if err != nil {
			return wrote, err
		}
		wrote = wrote || did
	}
	return wrote, nil
}

// CanCarry takes header routes whose values are exact (ALB conditions
// match exact values only) and whose name can be a Service name (the path
// of the route names it); ALB has no mirroring.
func (r *Router) CanCarry(route router.ManagedRoute) error {
	if route.Mirror != nil {
		return fmt.Errorf("ALB cannot mirror traffic: the AWS Load Balancer Controller has no mirror action " +
			"(upstream's ALB router does not carry setMirrorRoute either); remove the step or use a router that mirrors (Istio, Gateway API)")
	}
	h := route.Header
	if errs := validation.IsDNS1035Label(h.Name); len(errs) > 0 {
		return fmt.Errorf("managed route %q cannot be an ALB header route: its name becomes the Ingress path's service name "+
			"and the actions./conditions. annotation suffix, which must be a DNS-1035 label: %s", h.Name, strings.Join(errs, "; "))
	}
	if h.Name == r.action || h.Name == r.svc.canary || h.Name == r.svc.stable {
		return fmt.Errorf("managed route %q has the name of a Service the split uses; name it apart", h.Name)
	}
	for i, m := range h.Match {
		if v := m.HeaderValue; v.Exact == "" || v.Prefix != "" || v.Regex != "" {
			return fmt.Errorf("match[%d] (header %q): ALB matches header values exactly only; set headerValue.exact and no prefix or regex",
				i, m.HeaderName)
		}
	}
	return nil
}

// SetManagedRoutes makes every Ingress carry exactly routes (header routes):
// per route an actions.<route> annotation forwarding all to the canary, a
// conditions.<route> annotation with its headers, and a path to <route> in
// front of each rule that routes to the action service; the other managed
// routes' annotations and paths go.
func (r *Router) SetManagedRoutes(ctx context.Context, routes []router.ManagedRoute) (bool, error) {
	want := map[string]router.ManagedRoute{}
	var names []string
	for _, rt := range routes {
		if rt.Header != nil {
			want[rt.Name] = rt
			names = append(names, rt.Name)
		}
	}
	prefix := r.cfg.Prefix()
	wrote := false
	for _, ref := range r.refs {
		ing, err := r.get(ctx, ref)
		if err != nil {
			return wrote, err
		}
		changed := false
		for _, name := range r.managed {
			act, cond := actionKey(prefix, name), conditionKey(prefix, name)
			av, cv := "", ""
			if rt, ok := want[name]; ok {
				av, cv = encode(r.svc.toCanary()), encode(conditions(rt.Header))
			}
			changed = setAnnotation(ing, act, av) || changed
			changed = setAnnotation(ing, cond, cv) || changed
			managed := withManaged(ing.Annotations[ManagedKey], r.Rollout, av != "", act, cond)
			changed = setAnnotation(ing, ManagedKey, managed) || changed
		}
		changed = setRoutePaths(ing, r.action, r.managed, names) || changed
		did, err := r.update(ctx, ing, changed, fmt.Sprintf("set header routes %v", names))
		if err != nil {
			return wrote, err
		}
		wrote = wrote || did
	}
	return wrote, nil
}
