// Package alb carries a canary's traffic split with the AWS Load Balancer
// Controller, configured as upstream's trafficRouting.alb:
//
//	trafficRouting:
//	  alb:
//	    ingress: web            # or ingresses: [web, api]
//	    servicePort: 80         # the port of both Services the action forwards to
//	    rootService: web-root   # optional; default: the stableService
//	    annotationPrefix: alb.ingress.kubernetes.io   # the default
//	    stickinessConfig: {enabled: true, durationSeconds: 300}
//
// On each Ingress a path must route to the action service (rootService, or
// the stableService) on port name use-annotation. Sluice writes the
// annotation <prefix>/actions.<action service>: a forward action with two
// target groups, the canary Service at weight w and the stable Service at
// max-w, in the JSON the AWS Load Balancer Controller reads (upstream's
// shape, key for key). setHeaderRoute steps add, per managed route, an
// actions.<route> annotation (all to the canary), a conditions.<route>
// annotation (the headers) and a path to <route> on port use-annotation
// in front of the rule's others. Sluice never talks to AWS.
package alb

import (
	"fmt"

	"github.com/sluice-dev/sluice/internal/router"
)

// Config is upstream's ALBTrafficRouting, field for field.
type Config struct {
	// Ingress is the Ingress, in the Rollout's namespace, whose action
	// annotation carries the split.
	Ingress string `json:"ingress,omitempty"`
	// ServicePort is the Services' port the action forwards to.
	ServicePort int32 `json:"servicePort"`
	// RootService is the Service the Ingress's path names for the action
	// (default: the stableService).
	RootService string `json:"rootService,omitempty"`
	// AnnotationPrefix is the AWS Load Balancer Controller's annotation
	// prefix (default alb.ingress.kubernetes.io).
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// StickinessConfig is the forward action's target group stickiness.
	StickinessConfig *StickinessConfig `json:"stickinessConfig,omitempty"`
	// Ingresses are several Ingresses (instead of Ingress).
	Ingresses []string `json:"ingresses,omitempty"`
}

// StickinessConfig is duration-based stickiness of the target groups.
type StickinessConfig struct {
	Enabled         bool  `json:"enabled"`
	DurationSeconds int64 `json:"durationSeconds"`
}

// DefaultPrefix is the AWS Load Balancer Controller's annotation prefix.
const DefaultPrefix = "alb.ingress.kubernetes.io"

// Field is where the config lives in a Rollout, for messages.
const Field = "spec.strategy.canary.trafficRouting.alb"

// MaxWeight is the highest target group weight AWS accepts.
const MaxWeight = 999

// ParseConfig decodes the config strictly (unknown fields are errors) and
// checks what upstream's validation and the AWS API would refuse.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := router.DecodeStrict(raw, &c); err != nil {
		return nil, err
	}
	switch {
	case c.Ingress != "" && len(c.Ingresses) > 0:
		return nil, fmt.Errorf("set ingress or ingresses, not both")
	case c.Ingress == "" && len(c.Ingresses) == 0:
		return nil, fmt.Errorf("name the Ingress whose action carries the split: ingress: NAME (or ingresses: [NAME, ...])")
	}
	seen := map[string]bool{}
	for i, n := range c.Ingresses {
		if n == "" {
			return nil, fmt.Errorf("ingresses[%d] is empty", i)
		}
		if seen[n] {
			return nil, fmt.Errorf("ingresses[%d]: %q is named twice", i, n)
		}
		seen[n] = true
	}
	if c.ServicePort < 1 || c.ServicePort > 65535 {
		return nil, fmt.Errorf("servicePort is required: the port (1-65535) of the stable and canary Services that the action forwards to")
	}
	if s := c.StickinessConfig; s != nil && s.Enabled && (s.DurationSeconds < 1 || s.DurationSeconds > 604800) {
		return nil, fmt.Errorf("stickinessConfig.durationSeconds %d: AWS takes 1 to 604800 seconds (7 days)", s.DurationSeconds)
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

// ingressRef is one Ingress and the Rollout field that names it.
type ingressRef struct{ Name, Field string }

func (c *Config) refs() []ingressRef {
	if c.Ingress != "" {
		return []ingressRef{{c.Ingress, Field + ".ingress"}}
	}
	out := make([]ingressRef, len(c.Ingresses))
	for i, n := range c.Ingresses {
		out[i] = ingressRef{n, fmt.Sprintf("%s.ingresses[%d]", Field, i)}
	}
	return out
}
