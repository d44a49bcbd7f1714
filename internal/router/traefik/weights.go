package traefik

import (
	"fmt"

	"github.com/sluice-dev/sluice/internal/router"
)

// The split of a TraefikService lives in spec.weighted.services: one entry
// per Kubernetes Service (or nested TraefikService), each with a relative
// weight; Traefik counts an entry without weight as 1. Sluice sets the
// entries of the stable and canary Services (canary w, stable max-w) and
// leaves any other entry alone; the canary's share it reads back is
// canary / (canary + stable), on 0..max.

// entries finds the indexes of the stable and canary Services' entries in
// services. An entry names a Service of the TraefikService's own namespace
// when its kind is empty or "Service" and its namespace is empty or ns.
func entries(services []any, ns, stable, canary string) (s, c int, err error) {
	s, c = -1, -1
	for i, e := range services {
		m, ok := e.(map[string]any)
		if !ok {
			return 0, 0, fmt.Errorf("spec.weighted.services[%d] is not an object", i)
		}
		name, _ := m["name"].(string)
		kind, _ := m["kind"].(string)
		namespace, _ := m["namespace"].(string)
		if (kind != "" && kind != "Service") || (namespace != "" && namespace != ns) {
			continue
		}
		switch name {
		case stable:
			if s >= 0 {
				return 0, 0, fmt.Errorf("spec.weighted.services lists the stable Service %q twice (entries %d and %d); keep one", stable, s, i)
			}
			s = i
		case canary:
			if c >= 0 {
				return 0, 0, fmt.Errorf("spec.weighted.services lists the canary Service %q twice (entries %d and %d); keep one", canary, c, i)
			}
			c = i
		}
	}
	return s, c, nil
}

// weightOf is an entry's weight: 1 when unset, as Traefik counts it; ok is
// false for a value that is not a whole number.
func weightOf(m map[string]any) (int64, bool) {
	if m["weight"] == nil {
		return 1, true
	}
	return router.WholeNumber(m["weight"])
}

// share is the canary's share on 0..max of the two weights.
func share(s, c int64, max int32) int32 {
	if s < 0 || c < 0 || s+c <= 0 {
		return 0
	}
	return int32((c*int64(max) + (s+c)/2) / (s + c))
}

// servicesWeight is the canary weight services carry, or an error saying
// why they cannot carry it (an entry missing, a weight that is not a number).
func servicesWeight(services []any, ns, stable, canary string, max int32) (int32, error) {
	si, ci, err := entries(services, ns, stable, canary)
	if err != nil {
		return 0, err
	}
	if err := missing(si, ci, stable, canary); err != nil {
		return 0, err
	}
	s, okS := weightOf(services[si].(map[string]any))
	c, okC := weightOf(services[ci].(map[string]any))
	if !okS || !okC {
		return -1, nil // set right by the next SetWeight
	}
	return share(s, c, max), nil
}

func missing(si, ci int, stable, canary string) error {
	switch {
	case si < 0 && ci < 0:
		return fmt.Errorf("spec.weighted.services lists neither the stable Service %q nor the canary Service %q", stable, canary)
	case si < 0:
		return fmt.Errorf("spec.weighted.services does not list the stable Service %q", stable)
	case ci < 0:
		return fmt.Errorf("spec.weighted.services does not list the canary Service %q", canary)
	}
	return nil
}

// setServicesWeight sets canary weight w and stable max-w in services and
// reports whether anything changed. The entries must exist (servicesWeight
// said so).
func setServicesWeight(services []any, ns, stable, canary string, w, max int32) bool {
	si, ci, err := entries(services, ns, stable, canary)
	if err != nil || si < 0 || ci < 0 {
		return false
	}
	changed := false
	for _, set := range []struct {
		i int
		v int64
	}{{si, int64(max - w)}, {ci, int64(w)}} {
		m := services[set.i].(map[string]any)
		if cur, ok := m["weight"]; ok {
			if got, ok := weightOf(m); ok && got == set.v && cur != nil {
				continue
			}
		}
		m["weight"] = set.v
		changed = true
	}
	return changed
}
