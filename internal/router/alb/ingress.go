package alb

import (
	"encoding/json"
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// useAnnotation is the port name that tells the AWS Load Balancer
// Controller to take a path's action from the actions.<service> annotation.
const useAnnotation = "use-annotation"

// ManagedKey is upstream's record, on the Ingress, of the annotations each
// Rollout manages (JSON: rollout name → annotation keys). Sluice keeps it
// as upstream does, so either controller can take the Ingress over.
const ManagedKey = "rollouts.argoproj.io/managed-alb-annotations"

func actionKey(prefix, name string) string    { return prefix + "/actions." + name }
func conditionKey(prefix, name string) string { return prefix + "/conditions." + name }

// checkActionPath says why the Ingress cannot carry the action of service
// svc: no path routes to it, or none on port name use-annotation (the AWS
// Load Balancer Controller would then forward to svc itself and ignore the
// weights).
func checkActionPath(ing *networkingv1.Ingress, svc string) error {
	found := false
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil || p.Backend.Service.Name != svc {
				continue
			}
			if p.Backend.Service.Port.Name == useAnnotation {
				return nil
			}
			found = true
		}
	}
	if found {
		return fmt.Errorf("the paths of Ingress %q to Service %q do not use port name %q, so the AWS Load Balancer Controller "+
			"would forward to %q directly and ignore the weights Sluice writes in the actions.%s annotation; "+
			"set the path's backend to service %q, port name %q", ing.Name, svc, useAnnotation, svc, svc, svc, useAnnotation)
	}
	return fmt.Errorf("no rule of Ingress %q has a path to Service %q (the rootService, or the stableService when rootService "+
		"is unset), so there is no action to carry the split; add a path with backend service %q, port name %q",
		ing.Name, svc, svc, useAnnotation)
}

// withManaged is the managed-annotations record with keys added to (or,
// with add false, removed from) the Rollout's entry. A record that does not
// parse is started afresh.
func withManaged(cur, rollout string, add bool, keys ...string) string {
	m := map[string][]string{}
	if cur != "" && json.Unmarshal([]byte(cur), &m) != nil {
		m = map[string][]string{}
	}
	list := m[rollout]
	for _, k := range keys {
		has := slices.Contains(list, k)
		switch {
		case add && !has:
			list = append(list, k)
		case !add && has:
			list = slices.DeleteFunc(list, func(v string) bool { return v == k })
		}
	}
	if len(list) == 0 {
		delete(m, rollout)
	} else {
		m[rollout] = list
	}
	if len(m) == 0 {
		return ""
	}
	return encode(m)
}

// setAnnotation sets (or, for "", deletes) an annotation; it reports
// whether anything changed.
func setAnnotation(ing *networkingv1.Ingress, key, value string) bool {
	old, ok := ing.Annotations[key]
	switch {
	case value == "" && !ok, value != "" && ok && old == value:
		return false
	case value == "":
		delete(ing.Annotations, key)
	default:
		if ing.Annotations == nil {
			ing.Annotations = map[string]string{}
		}
		ing.Annotations[key] = value
	}
	return true
}

// routePath is the path of a header route: every request of the rule
// goes through the route's action and conditions first.
func routePath(name string) networkingv1.HTTPIngressPath {
	t := networkingv1.PathTypeImplementationSpecific
	return networkingv1.HTTPIngressPath{Path: "/*", PathType: &t, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Name: useAnnotation}}}}
}

// setRoutePaths makes every rule that routes to the action service svc
// start with the paths of routes (in their order, the highest precedence
// first), followed by its other paths; paths of the other managed routes
// go. It reports whether anything changed.
func setRoutePaths(ing *networkingv1.Ingress, svc string, managed, routes []string) bool {
	changed := false
	for i := range ing.Spec.Rules {
		http := ing.Spec.Rules[i].HTTP
		if http == nil || !slices.ContainsFunc(http.Paths, func(p networkingv1.HTTPIngressPath) bool {
			return p.Backend.Service != nil && p.Backend.Service.Name == svc
		}) {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, name := range routes {
			paths = append(paths, routePath(name))
		}
		for _, p := range http.Paths {
			if b := p.Backend.Service; b != nil && b.Port.Name == useAnnotation && slices.Contains(managed, b.Name) {
				continue
			}
			paths = append(paths, p)
		}
		if !equality.Semantic.DeepEqual(paths, http.Paths) {
			http.Paths, changed = paths, true
		}
	}
	return changed
}
