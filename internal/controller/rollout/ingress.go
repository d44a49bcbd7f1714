package rollout

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/alb"
	"github.com/sluice-dev/sluice/internal/router/nginx"
)

// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=list;watch

// ingressIndex indexes Rollouts by the Ingresses their router reads or
// writes (the NGINX router's stable and canary Ingresses, the ALB router's
// Ingresses).
const ingressIndex = "trafficRouting.ingresses"

// ingressNames are the Ingresses ro's router reads or writes. Ingresses
// are built into Kubernetes, so unlike a router's custom kinds they can
// always be watched: a canary Ingress or a weight annotation reset behind
// Sluice's back, or a stable Ingress that changes or appears, wakes the
// Rollout at once instead of at the next resync.
func ingressNames(o client.Object) []string {
	ro := o.(*v1alpha1.Rollout)
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil
	}
	var out []string
	if raw := c.TrafficRouting.Nginx; raw != nil {
		if cfg, err := nginx.ParseConfig(raw.Raw); err == nil {
			out = append(out, cfg.Names(ro.Name)...)
		}
	}
	if raw := c.TrafficRouting.ALB; raw != nil {
		if cfg, err := alb.ParseConfig(raw.Raw); err == nil {
			out = append(out, cfg.Names()...)
		}
	}
	return out
}

// rolloutsForIngress wakes the Rollouts whose router names the Ingress.
func (r *Reconciler) rolloutsForIngress(ctx context.Context, o client.Object) []reconcile.Request {
	return r.rollouts(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{ingressIndex: o.GetName()})
}
