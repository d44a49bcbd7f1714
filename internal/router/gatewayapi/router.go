// Package gatewayapi carries a canary's traffic split in Gateway API
// HTTPRoutes, configured as upstream's argoproj-labs/gatewayAPI plugin is:
//
//	trafficRouting:
//	  plugins:
//	    argoproj-labs/gatewayAPI:
//	      httpRoute: web          # or httpRoutes: [{name: web}, ...]
//	      namespace: apps         # default: the Rollout's namespace
//
// Every rule of the route that has backendRefs to both the stableService and
// the canaryService gets their weights set (canary w, stable max-w; max is maxTrafficWeight, default 100).
package gatewayapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

// Router is the Gateway API implementation of router.Router.
type Router struct {
	// Reader reads routes straight from the API server (no cache, so no
	// list/watch permission and no informer for a kind that may be absent).
	Reader         client.Reader
	Writer         client.Writer
	Namespace      string
	Routes         []string
	Stable, Canary string
	// Max is the total weight (maxTrafficWeight).
	Max int32
	// HeaderRoutes are the routes that carry header and mirror routes
	// (httpRoute, or httpRoutes entries with useHeaderRoutes: true, as
	// upstream's plugin); Managed are the managedRoutes names.
	HeaderRoutes, Managed []string
}

// Field is where the config lives in a Rollout, for messages.
const Field = "spec.strategy.canary.trafficRouting.plugins[" + v1alpha1.GatewayAPIPluginName + "]"

// notCarried are the upstream plugin's fields Sluice refuses by name.
var notCarried = []string{"grpcRoute", "grpcRoutes", "tcpRoute", "tcpRoutes", "tlsRoute", "tlsRoutes",
	"httpRouteSelector", "grpcRouteSelector", "tcpRouteSelector", "tlsRouteSelector",
	"disableInProgressLabel", "inProgressLabelKey", "inProgressLabelValue"}

// ParseConfig decodes the plugin config. Unknown fields are errors, so a
// typo is reported instead of ignored.
func ParseConfig(raw []byte) (*v1alpha1.GatewayAPIConfig, error) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		for _, f := range notCarried {
			if _, ok := fields[f]; ok {
				return nil, fmt.Errorf("%s is a field of upstream's gatewayAPI plugin that Sluice does not carry "+
					"(Sluice routes HTTPRoutes named by httpRoute or httpRoutes); remove it or run this Rollout with Argo Rollouts", f)
			}
		}
	}
	var c v1alpha1.GatewayAPIConfig
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("not a Gateway API config: %v", err)
	}
	if c.HTTPRoute == "" && len(c.HTTPRoutes) == 0 {
		return nil, fmt.Errorf("name the HTTPRoute that carries the split: httpRoute: NAME (or httpRoutes: [{name: NAME}])")
	}
	for i, r := range c.HTTPRoutes {
		if r.Name == "" {
			return nil, fmt.Errorf("httpRoutes[%d].name is empty", i)
		}
	}
	return &c, nil
}

// New builds the router of a Rollout whose canary names it.
func New(rc router.Config) (*Router, error) {
	ro := rc.Rollout
	raw := ro.Spec.Strategy.Canary.TrafficRouting.Plugins[v1alpha1.GatewayAPIPluginName]
	cfg, err := ParseConfig(raw.Raw)
	if err != nil {
		return nil, err
	}
	r := &Router{Reader: rc.Reader, Writer: rc.Writer, Namespace: ro.Namespace, Stable: rc.Stable, Canary: rc.Canary, Max: rc.MaxWeight}
	if cfg.Namespace != "" {
		r.Namespace = cfg.Namespace
	}
	r.Managed = rc.Managed
	if cfg.HTTPRoute != "" {
		r.Routes = append(r.Routes, cfg.HTTPRoute)
		r.HeaderRoutes = append(r.HeaderRoutes, cfg.HTTPRoute)
	}
	for _, h := range cfg.HTTPRoutes {
		r.Routes = append(r.Routes, h.Name)
		if h.UseHeaderRoutes {
			r.HeaderRoutes = append(r.HeaderRoutes, h.Name)
		}
	}
	return r, nil
}

// Describe names the routes.
func (r *Router) Describe() string {
	return fmt.Sprintf("HTTPRoute %s in namespace %q", strings.Join(quoteAll(r.Routes), ", "), r.Namespace)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func (r *Router) get(ctx context.Context, name string) (*gwv1.HTTPRoute, error) {
	var rt gwv1.HTTPRoute
	err := r.Reader.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: name}, &rt)
	switch {
	case meta.IsNoMatchError(err):
		return nil, &router.Error{Reason: router.ReasonRouterNotInstall, Message: fmt.Sprintf(
			"the Gateway API (gateway.networking.k8s.io/v1 HTTPRoute) is not installed in this cluster, but %s names it; "+
				"install the Gateway API CRDs, or remove spec.strategy.canary.trafficRouting for a replica-count canary", Field)}
	case apierrors.IsNotFound(err):
		return nil, &router.Error{Reason: router.ReasonRouteNotFound, Message: fmt.Sprintf(
			"HTTPRoute %q named by %s was not found in namespace %q; create it or fix the name", name, Field, r.Namespace)}
	case err != nil:
		return nil, fmt.Errorf("get HTTPRoute %q: %w", name, err)
	}
	return &rt, nil
}

// Weight reads every route; they must all carry the same weight.
func (r *Router) Weight(ctx context.Context) (int32, error) {
	return router.Agree(len(r.Routes), func(i int) (int32, error) {
		rt, err := r.get(ctx, r.Routes[i])
		if err != nil {
			return 0, err
		}
		w, err := routeWeight(rt, r.Stable, r.Canary, r.Max)
		if err != nil {
			return 0, &router.Error{Reason: router.ReasonRouteUnusable, Message: err.Error()}
		}
		return w, nil
	})
}

// SetWeight writes weight into every route that does not carry it yet.
func (r *Router) SetWeight(ctx context.Context, weight int32) (bool, error) {
	wrote := false
	for _, name := range r.Routes {
		rt, err := r.get(ctx, name)
		if err != nil {
			return wrote, err
		}
		if _, err := routeWeight(rt, r.Stable, r.Canary, r.Max); err != nil {
			return wrote, &router.Error{Reason: router.ReasonRouteUnusable, Message: err.Error()}
		}
		if !setRouteWeight(rt, r.Stable, r.Canary, weight, r.Max) {
			continue
		}
		if err := r.Writer.Update(ctx, rt); err != nil {
			return wrote, fmt.Errorf("set canary weight %d%% in HTTPRoute %q: %w", weight, name, err)
		}
		wrote = true
	}
	return wrote, nil
}
