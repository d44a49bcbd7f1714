// Package smi carries a canary's traffic split in an SMI TrafficSplit
// (split.smi-spec.io), configured as upstream's trafficRouting.smi is:
//
//	trafficRouting:
//	  smi:
//	    rootService: shop           # default: the stableService
//	    trafficSplitName: shop      # default: the Rollout's name
//
// Sluice creates the TrafficSplit, controlled by the Rollout, when it does
// not exist and writes its whole spec: the root Service and two backends,
// the canary Service with weight w and the stable Service with max-w (max is
// maxTrafficWeight, default 100). A TrafficSplit of that name that the
// Rollout does not control is never taken over. The API version is the
// newest of v1alpha3, v1alpha2 and v1alpha1 the cluster serves (upstream's
// choice is a controller flag); a cluster serving only v1alpha4 is refused
// by name.
package smi

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

// Field is where the config lives in a Rollout, for messages.
const Field = "spec.strategy.canary.trafficRouting.smi"

// Group is the SMI traffic split API group.
const Group = "split.smi-spec.io"

// Versions are the TrafficSplit versions Sluice writes, preferred first.
// Upstream writes these three (chosen by its --traffic-split-api-version
// flag); v1alpha4, the last SMI release, is not among them.
var Versions = []string{"v1alpha3", "v1alpha2", "v1alpha1"}

// Config is trafficRouting.smi, with upstream's field names.
type Config struct {
	// RootService is the Service clients address (the TrafficSplit's
	// spec.service); default: the stableService.
	RootService string `json:"rootService,omitempty"`
	// TrafficSplitName names the TrafficSplit; default: the Rollout's name.
	TrafficSplitName string `json:"trafficSplitName,omitempty"`
}

// ParseConfig decodes trafficRouting.smi. Unknown fields are errors.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := router.DecodeStrict(raw, &c); err != nil {
		return nil, err
	}
	if c.RootService != "" {
		if errs := validation.IsDNS1035Label(c.RootService); len(errs) > 0 {
			return nil, fmt.Errorf("rootService %q is not a Service name: %s", c.RootService, strings.Join(errs, "; "))
		}
	}
	if c.TrafficSplitName != "" {
		if errs := validation.IsDNS1123Subdomain(c.TrafficSplitName); len(errs) > 0 {
			return nil, fmt.Errorf("trafficSplitName %q is not an object name: %s", c.TrafficSplitName, strings.Join(errs, "; "))
		}
	}
	return &c, nil
}

// Router is the SMI implementation of router.Router.
type Router struct {
	Reader         client.Reader
	Writer         client.Writer
	Rollout        *v1alpha1.Rollout
	Namespace      string
	Name           string // the TrafficSplit
	Root           string // its spec.service
	Stable, Canary string
	Max            int32
}

// New builds the router of a Rollout whose canary names trafficRouting.smi.
// It does no I/O.
func New(rc router.Config) (*Router, error) {
	ro := rc.Rollout
	raw := ro.Spec.Strategy.Canary.TrafficRouting.SMI
	if raw == nil {
		return nil, fmt.Errorf("is not set")
	}
	cfg, err := ParseConfig(raw.Raw)
	if err != nil {
		return nil, err
	}
	r := &Router{Reader: rc.Reader, Writer: rc.Writer, Rollout: ro, Namespace: ro.Namespace, Name: cfg.TrafficSplitName,
		Root: cfg.RootService, Stable: rc.Stable, Canary: rc.Canary, Max: rc.MaxWeight}
	if r.Name == "" {
		r.Name = ro.Name
	}
	if r.Root == "" {
		r.Root = rc.Stable
	}
	return r, nil
}

// Describe names the TrafficSplit (and its namespace, when known: lint
// reads files without one).
func (r *Router) Describe() string { return router.Describe("SMI TrafficSplit", r.Name, r.Namespace) }

// served finds the TrafficSplit version the cluster serves.
var served = func() *router.Served {
	s := &router.Served{}
	for _, v := range Versions {
		s.Kinds = append(s.Kinds, schema.GroupVersionKind{Group: Group, Version: v, Kind: "TrafficSplit"})
	}
	return s
}()

// get reads the TrafficSplit in the version the cluster serves. A missing
// TrafficSplit is (nil, version, nil): SetWeight creates it.
func (r *Router) get(ctx context.Context) (*unstructured.Unstructured, string, error) {
	u, gvk, ok, err := served.Get(ctx, r.Reader, r.Namespace, r.Name)
	if !ok {
		return nil, "", r.notServed(ctx)
	}
	return u, gvk.Version, err
}

// notServed says why no TrafficSplit version Sluice writes is served: the
// kind is not installed at all, or only in a version Sluice does not write.
func (r *Router) notServed(ctx context.Context) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: Group, Version: "v1alpha4", Kind: "TrafficSplit"})
	if err := r.Reader.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: r.Name}, u); !meta.IsNoMatchError(err) {
		return &router.Error{Reason: router.ReasonRouterNotInstall, Message: fmt.Sprintf(
			"this cluster serves the SMI TrafficSplit (%s) only in version v1alpha4, but %s needs v1alpha3, v1alpha2 or v1alpha1 "+
				"(the versions Argo Rollouts writes too); serve one of them in the CRD trafficsplits.%s, "+
				"or remove spec.strategy.canary.trafficRouting for a replica-count canary", Group, Field, Group)}
	}
	return &router.Error{Reason: router.ReasonRouterNotInstall, Message: fmt.Sprintf(
		"the SMI TrafficSplit (%s v1alpha3, v1alpha2 or v1alpha1) is not installed in this cluster, but %s names it; "+
			"install your service mesh's SMI extension (the CRD trafficsplits.%s), "+
			"or remove spec.strategy.canary.trafficRouting for a replica-count canary", Group, Field, Group)}
}

// checkOwner refuses a TrafficSplit the Rollout does not control, as
// upstream does: Sluice writes its whole spec, so taking over one made by
// someone else would silently throw their split away.
func (r *Router) checkOwner(u *unstructured.Unstructured) error {
	ref := metav1.GetControllerOfNoCopy(u)
	if ref != nil && ref.UID == r.Rollout.UID {
		return nil
	}
	by := "has no controller"
	if ref != nil {
		by = fmt.Sprintf("is controlled by %s %q", ref.Kind, ref.Name)
	}
	return router.Unusable("%s exists but is not controlled by Rollout %q (it %s); Sluice creates and owns the TrafficSplit it "+
		"writes and does not take over another: delete it so Sluice creates its own, or name a different one with %s.trafficSplitName",
		r.Describe(), r.Rollout.Name, by, Field)
}

// Weight is the canary weight the TrafficSplit carries; -1 when it does not
// exist yet or its spec is not the one Sluice writes (SetWeight puts it right).
func (r *Router) Weight(ctx context.Context) (int32, error) {
	u, _, err := r.get(ctx)
	if err != nil || u == nil {
		return -1, err
	}
	if err := r.checkOwner(u); err != nil {
		return 0, err
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	return specWeight(spec, r.Root, r.Stable, r.Canary, r.Max), nil
}

// SetWeight creates the TrafficSplit with canary weight w, or rewrites its
// spec when it differs.
func (r *Router) SetWeight(ctx context.Context, w int32) (bool, error) {
	u, version, err := r.get(ctx)
	if err != nil {
		return false, err
	}
	want := desiredSpec(r.Root, r.Stable, r.Canary, w, r.Max)
	if u == nil {
		u = &unstructured.Unstructured{Object: map[string]any{"spec": want}}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: Group, Version: version, Kind: "TrafficSplit"})
		u.SetNamespace(r.Namespace)
		u.SetName(r.Name)
		u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(r.Rollout, v1alpha1.GroupVersion.WithKind("Rollout"))})
		if err := r.Writer.Create(ctx, u); err != nil {
			return false, fmt.Errorf("create %s with canary weight %d: %w", r.Describe(), w, err)
		}
		return true, nil
	}
	if err := r.checkOwner(u); err != nil {
		return false, err
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	if specWeight(spec, r.Root, r.Stable, r.Canary, r.Max) == w {
		return false, nil
	}
	u.Object["spec"] = want // whole, as upstream: matches or extra backends added by hand go
	if err := r.Writer.Update(ctx, u); err != nil {
		return false, fmt.Errorf("set canary weight %d in %s: %w", w, r.Describe(), err)
	}
	return true, nil
}
