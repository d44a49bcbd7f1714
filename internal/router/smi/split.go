package smi

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sluice-dev/sluice/internal/router"
)

// The TrafficSplit Sluice writes is wholly its own (it creates it and owns
// it, as upstream), so its spec is written whole: the root (apex) Service,
// and two backends, the canary Service with weight w first and the stable
// Service with max-w after it. v1alpha1 types a weight as a quantity and
// v1alpha2/v1alpha3 as an integer; a plain integer is valid in all three, so
// that is what Sluice writes, and it reads either form.

// desiredSpec is the spec of a TrafficSplit carrying canary weight w.
func desiredSpec(root, stable, canary string, w, max int32) map[string]any {
	return map[string]any{
		"service": root,
		"backends": []any{
			map[string]any{"service": canary, "weight": int64(w)},
			map[string]any{"service": stable, "weight": int64(max - w)},
		},
	}
}

// specWeight is the canary weight a TrafficSplit spec carries: the canary
// backend's weight when the spec is exactly the one Sluice writes for it,
// -1 otherwise (anything else in it, such as a root Service changed or a
// backend added behind Sluice's back, is rewritten by the next SetWeight).
func specWeight(spec map[string]any, root, stable, canary string, max int32) int32 {
	backends, _ := spec["backends"].([]any)
	if len(backends) != 2 {
		return -1
	}
	first, _ := backends[0].(map[string]any)
	w, ok := weightOf(first["weight"])
	if !ok || w < 0 || w > int64(max) {
		return -1
	}
	if !reflect.DeepEqual(normalize(spec), desiredSpec(root, stable, canary, int32(w), max)) {
		return -1
	}
	return int32(w)
}

// normalize turns every backend weight into an int64 for comparison (JSON
// numbers decode as int64 or float64, v1alpha1 quantities as strings).
func normalize(spec map[string]any) map[string]any {
	out := make(map[string]any, len(spec))
	for k, v := range spec {
		out[k] = v
	}
	backends, _ := spec["backends"].([]any)
	nb := make([]any, len(backends))
	for i, b := range backends {
		m, ok := b.(map[string]any)
		if !ok {
			nb[i] = b
			continue
		}
		c := make(map[string]any, len(m))
		for k, v := range m {
			c[k] = v
		}
		if w, ok := weightOf(m["weight"]); ok {
			c["weight"] = w
		}
		nb[i] = c
	}
	if backends != nil {
		out["backends"] = nb
	}
	return out
}

// weightOf reads a backend weight: a JSON integer, or a quantity string
// ("20") as v1alpha1 writes it. Fractions are not weights Sluice writes.
func weightOf(v any) (int64, bool) {
	if x, ok := v.(string); ok {
		q, err := resource.ParseQuantity(x)
		if err != nil {
			return 0, false
		}
		return q.AsInt64()
	}
	return router.WholeNumber(v)
}
