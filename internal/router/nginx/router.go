package nginx

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

// Router is the NGINX Ingress implementation of router.Router. It carries
// no header or mirror routes (upstream's NGINX router does not either: a
// header canary is additionalIngressAnnotations' canary-by-header).
type Router struct {
	Reader    client.Reader
	Writer    client.Writer
	Namespace string
	Rollout   string
	Max       int32
	refs      []stableRef
	p         params
}

// New builds the router of a Rollout whose canary names trafficRouting.nginx.
// It does no I/O.
func New(rc router.Config) (*Router, error) {
	ro := rc.Rollout
	tr := ro.Spec.Strategy.Canary.TrafficRouting
	if tr.Nginx == nil {
		return nil, fmt.Errorf("is not set")
	}
	cfg, err := ParseConfig(tr.Nginx.Raw)
	if err != nil {
		return nil, err
	}
	return &Router{
		Reader: rc.Reader, Writer: rc.Writer, Namespace: ro.Namespace, Rollout: ro.Name, Max: rc.MaxWeight,
		refs: cfg.refs(ro.Name),
		p: params{cfg: cfg, stable: rc.Stable, canary: rc.Canary, total: tr.MaxTrafficWeight,
			owner: *metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
	}, nil
}

// Describe names the canary Ingresses.
func (r *Router) Describe() string {
	parts := make([]string, len(r.refs))
	for i, ref := range r.refs {
		parts[i] = fmt.Sprintf("%q (of stable Ingress %q)", ref.Canary, ref.Name)
	}
	return fmt.Sprintf("NGINX canary Ingress %s in namespace %q", strings.Join(parts, ", "), r.Namespace)
}

// stable reads a stable Ingress and builds its canary Ingress at weight w.
func (r *Router) stable(ctx context.Context, ref stableRef, w int32) (*networkingv1.Ingress, error) {
	var st networkingv1.Ingress
	if err := router.Get(ctx, r.Reader, &st, "Ingress", r.Namespace, ref.Name, ref.Field,
		"Ingress is built into Kubernetes (networking.k8s.io/v1, 1.19 and later)"); err != nil {
		return nil, err
	}
	want, err := desired(&st, ref.Canary, &r.p, w)
	if err != nil {
		return nil, router.Unusable("%s (named by %s)", err.Error(), ref.Field)
	}
	return want, nil
}

// canary reads a canary Ingress: nil when it does not exist yet, an
// Error when it exists but is not this Rollout's.
func (r *Router) canary(ctx context.Context, ref stableRef) (*networkingv1.Ingress, error) {
	var cur networkingv1.Ingress
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: ref.Canary}, &cur)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get canary Ingress %q: %w", ref.Canary, err)
	}
	if !ours(&cur, &r.p) {
		owner := "no controller"
		if c := metav1.GetControllerOfNoCopy(&cur); c != nil {
			owner = fmt.Sprintf("controller %s %q", c.Kind, c.Name)
		}
		return nil, router.Unusable("Ingress %q in namespace %q exists but is not the canary Ingress of Rollout %q (it has %s); "+
			"Sluice creates and owns the canary Ingress of stable Ingress %q (named by %s) and does not overwrite another's; "+
			"delete or rename that Ingress", ref.Canary, r.Namespace, r.Rollout, owner, ref.Name, ref.Field)
	}
	return &cur, nil
}

// Weight is the canary-weight every canary Ingress carries; -1 when one is
// missing, disagrees with the others, or no longer matches its stable
// Ingress (hosts, paths, TLS changed) or the config, so the next SetWeight
// writes it.
func (r *Router) Weight(ctx context.Context) (int32, error) {
	got := int32(-2)
	for _, ref := range r.refs {
		want, err := r.stable(ctx, ref, 0)
		if err != nil {
			return 0, err
		}
		cur, err := r.canary(ctx, ref)
		if err != nil {
			return 0, err
		}
		w := int32(-1)
		if cur != nil {
			if w = weightOf(cur, &r.p, r.Max); w >= 0 {
				want.Annotations[r.p.key("canary-weight")] = fmt.Sprint(w)
				if _, changed := merged(cur, want, &r.p); changed {
					w = -1
				}
			}
		}
		if got != -2 && got != w {
			got = -1
		} else {
			got = w
		}
	}
	return got, nil
}

// SetWeight creates or updates every canary Ingress that does not carry w
// or no longer matches its stable Ingress.
func (r *Router) SetWeight(ctx context.Context, w int32) (bool, error) {
	wrote := false
	for _, ref := range r.refs {
		want, err := r.stable(ctx, ref, w)
		if err != nil {
			return wrote, err
		}
		cur, err := r.canary(ctx, ref)
		if err != nil {
			return wrote, err
		}
		if cur == nil {
			if err := r.Writer.Create(ctx, want); err != nil {
				return wrote, fmt.Errorf("create canary Ingress %q: %w", ref.Canary, err)
			}
			wrote = true
			continue
		}
		next, changed := merged(cur, want, &r.p)
		if !changed {
			continue
		}
		if err := r.Writer.Update(ctx, next); err != nil {
			return wrote, fmt.Errorf("set canary-weight %d in canary Ingress %q: %w", w, ref.Canary, err)
		}
		wrote = true
	}
	return wrote, nil
}
