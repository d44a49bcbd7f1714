package nginx

import (
	"fmt"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// classAnnotation is the pre-ingressClassName way to pick a controller; the
// canary Ingress must be served by the same one as the stable Ingress.
const classAnnotation = "kubernetes.io/ingress.class"

// params is what a canary Ingress is made of besides the stable Ingress.
type params struct {
	cfg            *Config
	stable, canary string // the stableService and canaryService
	// total is maxTrafficWeight when the Rollout sets it (written as
	// canary-weight-total, as upstream), nil otherwise.
	total *int32
	owner metav1.OwnerReference
}

func (p *params) key(name string) string { return p.cfg.Prefix() + "/" + name }

// toStable reports whether a path's backend is the stable Service.
func toStable(path *networkingv1.HTTPIngressPath, stable string) bool {
	return path.Backend.Service != nil && path.Backend.Service.Name == stable
}

// desired is the canary Ingress of the stable Ingress st at weight w: the
// rules of st that have a path to the stable Service, with every such path
// pointing at the canary Service instead; st's TLS, ingress class and
// ingress.class annotation; the configured annotations, then canary and
// canary-weight (and canary-weight-total). An error says st has no path
// to the stable Service.
func desired(st *networkingv1.Ingress, name string, p *params, w int32) (*networkingv1.Ingress, error) {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: st.Namespace, Name: name, Annotations: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{p.owner}},
	}
	if st.Spec.IngressClassName != nil {
		class := *st.Spec.IngressClassName
		ing.Spec.IngressClassName = &class
	}
	for _, tls := range st.Spec.TLS {
		ing.Spec.TLS = append(ing.Spec.TLS, *tls.DeepCopy())
	}
	for _, rule := range st.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		r, uses := *rule.DeepCopy(), false
		for j := range r.HTTP.Paths {
			if toStable(&r.HTTP.Paths[j], p.stable) {
				r.HTTP.Paths[j].Backend.Service.Name = p.canary
				uses = true
			}
		}
		if uses {
			ing.Spec.Rules = append(ing.Spec.Rules, r)
		}
	}
	if len(ing.Spec.Rules) == 0 {
		return nil, fmt.Errorf("no rule of Ingress %q has a path whose backend is the stable Service %q, so NGINX has no "+
			"traffic to split; route a path of it to %q (spec.defaultBackend does not count)", st.Name, p.stable, p.stable)
	}
	if v, ok := st.Annotations[classAnnotation]; ok {
		ing.Annotations[classAnnotation] = v
	}
	prefix := p.cfg.Prefix()
	for k, v := range p.cfg.AdditionalIngressAnnotations {
		if !strings.HasPrefix(k, prefix) {
			k = prefix + "/" + k
		}
		ing.Annotations[k] = v
	}
	for k, v := range p.cfg.CanaryIngressAnnotations {
		ing.Annotations[k] = v
	}
	ing.Annotations[p.key("canary")] = "true"
	ing.Annotations[p.key("canary-weight")] = strconv.Itoa(int(w))
	if p.total != nil {
		ing.Annotations[p.key("canary-weight-total")] = strconv.Itoa(int(*p.total))
	}
	return ing, nil
}

// ours reports whether the Rollout of p is the canary Ingress's controller.
func ours(cur *networkingv1.Ingress, p *params) bool {
	ref := metav1.GetControllerOfNoCopy(cur)
	return ref != nil && ref.UID == p.owner.UID
}

// weightOf is the canary weight a canary Ingress carries, 0..max, or -1 when
// its canary-weight annotation is missing or not a weight.
func weightOf(cur *networkingv1.Ingress, p *params, max int32) int32 {
	if cur.Annotations[p.key("canary")] != "true" {
		return -1
	}
	w, err := strconv.Atoi(cur.Annotations[p.key("canary-weight")])
	if err != nil || w < 0 || w > int(max) {
		return -1
	}
	return int32(w)
}

// merged is cur made to match want: want's spec and owner reference, want's
// annotations, and cur's other annotations kept unless they are under the
// annotation prefix (those are Sluice's to set on a canary Ingress: one
// dropped from additionalIngressAnnotations goes away). It reports whether
// anything changed.
func merged(cur, want *networkingv1.Ingress, p *params) (*networkingv1.Ingress, bool) {
	out := cur.DeepCopy()
	changed := false
	if !equality.Semantic.DeepEqual(out.Spec, want.Spec) {
		out.Spec, changed = *want.Spec.DeepCopy(), true
	}
	prefix := p.cfg.Prefix() + "/"
	for k := range out.Annotations {
		if _, keep := want.Annotations[k]; !keep && strings.HasPrefix(k, prefix) {
			delete(out.Annotations, k)
			changed = true
		}
	}
	for k, v := range want.Annotations {
		if old, ok := out.Annotations[k]; !ok || old != v {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
			changed = true
		}
	}
	return out, changed
}
