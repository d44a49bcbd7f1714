package rollout

import (
	"encoding/json"

	"github.com/sluice-dev/sluice/api/v1alpha1"

	corev1 "k8s.io/api/core/v1"
)

// maxCollisions bounds the search for a free hash name.
const maxCollisions = 20

// resolveHash finds the pod-template hash of the template: its plain hash,
// or — when a ReplicaSet already carries that hash with a different
// template (a hash collision) — the hash salted with status.collisionCount,
// counting up until the name is free or holds this template. Reusing the
// colliding ReplicaSet would run the wrong pods and report them Healthy.
func (o *observed) resolveHash(ro *v1alpha1.Rollout) (hash string, count *int32) {
	count = ro.Status.CollisionCount
	for {
		hash = saltedHash(&o.template, count)
		rs := o.byHash(hash)
		if rs == nil || SameTemplate(ownTemplate(ro, rs), &o.template) || (count != nil && *count >= maxCollisions) {
			return hash, count
		}
		next := int32(1)
		if count != nil {
			next = *count + 1
		}
		count = &next
	}
}

// saltedHash is the template's hash with the collision count mixed in when
// there is one, as upstream computes it (the count's 8 little-endian bytes
// after the template's JSON), so both controllers name a ReplicaSet alike.
func saltedHash(t *corev1.PodTemplateSpec, count *int32) string {
	return hashTemplate(t, count)
}

// SameTemplate reports whether a ReplicaSet's pod template (as the API
// server stored it, with its defaults filled in) is the template want,
// ignoring the pod-template-hash label. Every field want sets must be there
// with the same value; fields want leaves empty may hold defaults.
func SameTemplate(have, want *corev1.PodTemplateSpec) bool {
	h, w := have.DeepCopy(), want.DeepCopy()
	delete(h.Labels, PodTemplateHashLabel)
	delete(w.Labels, PodTemplateHashLabel)
	if len(h.Labels) != len(w.Labels) || len(h.Annotations) != len(w.Annotations) {
		return false // labels and annotations are never defaulted
	}
	hv, err1 := asJSON(h)
	wv, err2 := asJSON(w)
	return err1 == nil && err2 == nil && covers(hv, wv)
}

// asJSON is the template as generic JSON, with quantities and other
// typed values in their canonical form.
func asJSON(t *corev1.PodTemplateSpec) (any, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(b, &v)
}

// covers reports whether have holds every value want sets. Lists must have
// the same length; an empty value in want (null, "", 0, false, {} or [])
// matches anything, since the API server may fill in a default there.
func covers(have, want any) bool {
	if empty(want) {
		return true
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if !covers(h[k], wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !covers(h[i], w[i]) {
				return false
			}
		}
		return true
	}
	return have == want
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case map[string]any:
		for _, e := range x {
			if !empty(e) {
				return false
			}
		}
		return true
	case []any:
		return len(x) == 0
	}
	return false
}
