package istio

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

// Config is spec.strategy.canary.trafficRouting.istio, with upstream's
// field names (IstioTrafficRouting).
type Config struct {
	VirtualService  *VirtualServiceRef  `json:"virtualService,omitempty"`
	VirtualServices []VirtualServiceRef `json:"virtualServices,omitempty"`
	DestinationRule *DestinationRuleRef `json:"destinationRule,omitempty"`
}

// VirtualServiceRef names a VirtualService and the routes in it that carry
// the split (upstream's IstioVirtualService).
type VirtualServiceRef struct {
	// Name is "name", or Istio's "name.namespace" shorthand for a
	// VirtualService in another namespace (a trailing .cluster.local is
	// ignored, as upstream).
	Name string `json:"name"`
	// Routes are names of spec.http routes. When empty, the VirtualService
	// must have exactly one HTTP route besides the managed ones (if it has
	// HTTP routes at all).
	Routes []string `json:"routes,omitempty"`
	// TLSRoutes pick spec.tls routes by port and SNI hosts; when empty, the
	// VirtualService must have exactly one TLS route (if any).
	TLSRoutes []TLSRoute `json:"tlsRoutes,omitempty"`
	// TCPRoutes pick spec.tcp routes by port; when empty, the VirtualService
	// must have exactly one TCP route (if any).
	TCPRoutes []TCPRoute `json:"tcpRoutes,omitempty"`
}

// TLSRoute matches the spec.tls routes whose match blocks all name this
// port (0: none) and, together, exactly these SNI hosts.
type TLSRoute struct {
	Port     int64    `json:"port,omitempty"`
	SNIHosts []string `json:"sniHosts,omitempty"`
}

// TCPRoute matches the spec.tcp routes whose match blocks all name this
// port (0: none).
type TCPRoute struct {
	Port int64 `json:"port,omitempty"`
}

// DestinationRuleRef turns on subset-level routing: the VirtualService
// routes name one host with the canary and stable subsets of this
// DestinationRule (in the Rollout's namespace), whose labels Sluice pins to
// the canary and stable pod-template hashes.
type DestinationRuleRef struct {
	Name             string `json:"name"`
	CanarySubsetName string `json:"canarySubsetName"`
	StableSubsetName string `json:"stableSubsetName"`
	// AdditionalSubsetNames are subsets of the same host that Sluice does
	// not control: their destinations keep their weight, and the stable
	// gets what the canary and they leave.
	AdditionalSubsetNames []string `json:"additionalSubsetNames,omitempty"`
}

// ParseConfig decodes and checks the config; unknown fields are errors.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := router.DecodeStrict(raw, &c); err != nil {
		return nil, err
	}
	switch {
	case c.VirtualService != nil && c.VirtualServices != nil:
		return nil, fmt.Errorf("set virtualService or virtualServices, not both")
	case c.VirtualService == nil && len(c.VirtualServices) == 0:
		return nil, fmt.Errorf("name the VirtualService that carries the split: virtualService: {name: NAME} " +
			"(or virtualServices: [{name: NAME}, ...])")
	}
	for i, vs := range c.virtualServices() {
		p := "virtualService"
		if c.VirtualService == nil {
			p = fmt.Sprintf("virtualServices[%d]", i)
		}
		if _, name := splitName(vs.Name); name == "" {
			return nil, fmt.Errorf("%s.name is empty", p)
		}
		for j, r := range vs.Routes {
			if r == "" {
				return nil, fmt.Errorf("%s.routes[%d] is empty: name a route of the VirtualService's spec.http", p, j)
			}
			if slices.Contains(vs.Routes[:j], r) {
				return nil, fmt.Errorf("%s.routes[%d]: %q is listed twice", p, j, r)
			}
		}
		for j, t := range vs.TLSRoutes {
			if t.Port < 0 || t.Port > 65535 {
				return nil, fmt.Errorf("%s.tlsRoutes[%d].port %d is not a port", p, j, t.Port)
			}
		}
		for j, t := range vs.TCPRoutes {
			if t.Port < 0 || t.Port > 65535 {
				return nil, fmt.Errorf("%s.tcpRoutes[%d].port %d is not a port", p, j, t.Port)
			}
		}
	}
	if d := c.DestinationRule; d != nil {
		switch {
		case d.Name == "":
			return nil, fmt.Errorf("destinationRule.name is empty")
		case d.CanarySubsetName == "" || d.StableSubsetName == "":
			return nil, fmt.Errorf("destinationRule needs canarySubsetName and stableSubsetName: the subsets of "+
				"DestinationRule %q whose labels Sluice sets to the canary and stable pod-template hashes", d.Name)
		case d.CanarySubsetName == d.StableSubsetName:
			return nil, fmt.Errorf("destinationRule.canarySubsetName and stableSubsetName are both %q; "+
				"the canary and the stable need a subset each", d.CanarySubsetName)
		case slices.Contains(d.AdditionalSubsetNames, d.CanarySubsetName) || slices.Contains(d.AdditionalSubsetNames, d.StableSubsetName):
			return nil, fmt.Errorf("destinationRule.additionalSubsetNames lists the canary or stable subset; " +
				"it is for subsets Sluice does not control")
		}
	}
	return &c, nil
}

func (c *Config) virtualServices() []VirtualServiceRef {
	if c.VirtualService != nil {
		return []VirtualServiceRef{*c.VirtualService}
	}
	return c.VirtualServices
}

// splitName reads upstream's VirtualService reference: "name" or
// "name.namespace" (Istio's shorthand; a namespace has no dots, so the last
// segment is the namespace), with a trailing cluster.local ignored.
func splitName(ref string) (namespace, name string) {
	ref = strings.TrimSuffix(ref, ".cluster.local")
	i := strings.LastIndex(ref, ".")
	if i < 0 {
		return "", ref
	}
	return ref[i+1:], ref[:i]
}

// SubsetLevel reports whether tr routes by Istio DestinationRule subsets
// alone (no other router): then the pods are selected by the subsets'
// hash labels and, as upstream, stableService and canaryService are
// optional.
func SubsetLevel(tr *v1alpha1.TrafficRouting) bool {
	if tr == nil || tr.Istio == nil || len(tr.Plugins) > 0 || tr.Nginx != nil || tr.ALB != nil || tr.SMI != nil ||
		tr.Ambassador != nil || tr.AppMesh != nil || tr.Traefik != nil || tr.Apisix != nil {
		return false
	}
	var c struct {
		DestinationRule *DestinationRuleRef `json:"destinationRule"`
	}
	return json.Unmarshal(tr.Istio.Raw, &c) == nil && c.DestinationRule != nil
}
