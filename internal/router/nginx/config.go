// Package nginx carries a canary's traffic split with the NGINX Ingress
// controller, configured as upstream's trafficRouting.nginx:
//
//	trafficRouting:
//	  nginx:
//	    stableIngress: web             # or stableIngresses: [web, api]
//	    annotationPrefix: nginx.ingress.kubernetes.io   # the default
//	    additionalIngressAnnotations:  # prefixed with annotationPrefix
//	      canary-by-header: X-Canary
//	    canaryIngressAnnotations:      # full keys, written as they are
//	      example.com/team: shop
//
// The stable Ingress is never written. For each one Sluice creates and owns
// (controller owner reference: garbage-collected with the Rollout) a canary
// Ingress named <rollout>-<stableIngress>-canary: a copy of the stable
// Ingress's rules that route to the stableService, with those backends
// pointing at the canaryService, its TLS and ingress class, and the
// annotations <prefix>/canary: "true" and <prefix>/canary-weight: w (plus
// <prefix>/canary-weight-total when maxTrafficWeight is set). NGINX sends w
// out of the total to the canary and the rest to the stable Ingress.
package nginx

import (
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/internal/router"
)

// Config is upstream's NginxTrafficRouting, field for field.
type Config struct {
	// AnnotationPrefix is the NGINX controller's annotation prefix
	// (default nginx.ingress.kubernetes.io).
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// StableIngress is the Ingress, in the Rollout's namespace, that routes
	// to the stableService.
	StableIngress string `json:"stableIngress,omitempty"`
	// StableIngresses are several of them (instead of StableIngress).
	StableIngresses []string `json:"stableIngresses,omitempty"`
	// AdditionalIngressAnnotations go on every canary Ingress, their keys
	// prefixed with AnnotationPrefix unless they already start with it.
	AdditionalIngressAnnotations map[string]string `json:"additionalIngressAnnotations,omitempty"`
	// CanaryIngressAnnotations go on every canary Ingress as they are,
	// over AdditionalIngressAnnotations.
	CanaryIngressAnnotations map[string]string `json:"canaryIngressAnnotations,omitempty"`
}

// DefaultPrefix is the NGINX Ingress controller's annotation prefix.
const DefaultPrefix = "nginx.ingress.kubernetes.io"

// Field is where the config lives in a Rollout, for messages.
const Field = "spec.strategy.canary.trafficRouting.nginx"

// ParseConfig decodes the config strictly (unknown fields are errors) and
// checks that it names its stable Ingress(es) once.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := router.DecodeStrict(raw, &c); err != nil {
		return nil, err
	}
	switch {
	case c.StableIngress != "" && len(c.StableIngresses) > 0:
		return nil, fmt.Errorf("set stableIngress or stableIngresses, not both")
	case c.StableIngress == "" && len(c.StableIngresses) == 0:
		return nil, fmt.Errorf("name the Ingress that routes to the stableService: stableIngress: NAME (or stableIngresses: [NAME, ...])")
	}
	seen := map[string]bool{}
	for i, n := range c.StableIngresses {
		if n == "" {
			return nil, fmt.Errorf("stableIngresses[%d] is empty", i)
		}
		if seen[n] {
			return nil, fmt.Errorf("stableIngresses[%d]: %q is named twice", i, n)
		}
		seen[n] = true
	}
	if strings.Contains(c.AnnotationPrefix, "/") {
		return nil, fmt.Errorf("annotationPrefix %q: give the prefix without a slash, as in %s", c.AnnotationPrefix, DefaultPrefix)
	}
	return &c, nil
}

// Prefix is the annotation prefix in effect.
func (c *Config) Prefix() string {
	if c.AnnotationPrefix != "" {
		return c.AnnotationPrefix
	}
	return DefaultPrefix
}

// stableRef is one stable Ingress and the Rollout field that names it.
type stableRef struct {
	Name, Field, Canary string
}

// refs are the stable Ingresses with their fields and canary names.
func (c *Config) refs(rollout string) []stableRef {
	if c.StableIngress != "" {
		return []stableRef{{c.StableIngress, Field + ".stableIngress", CanaryName(rollout, c.StableIngress)}}
	}
	out := make([]stableRef, len(c.StableIngresses))
	for i, n := range c.StableIngresses {
		out[i] = stableRef{n, fmt.Sprintf("%s.stableIngresses[%d]", Field, i), CanaryName(rollout, n)}
	}
	return out
}

// canarySuffix ends every canary Ingress's name.
const canarySuffix = "-canary"

// CanaryName is the canary Ingress of a stable Ingress, as upstream names
// it: <rollout>-<stableIngress>-canary, the part before the suffix cut so
// the name fits in 253 characters.
func CanaryName(rollout, stableIngress string) string {
	base := rollout + "-" + stableIngress
	if limit := 253 - len(canarySuffix); len(base) > limit {
		base = base[:limit]
	}
	return base + canarySuffix
}
