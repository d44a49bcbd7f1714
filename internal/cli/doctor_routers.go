package cli

import (
	"context"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/routers"
)

// readRouters reads each Rollout's built-in traffic router (nginx, istio,
// smi, traefik, alb) the way the controller does, with the router's own
// code, and keeps what it says is wrong, by "namespace/name". The Gateway
// API plugin is checked from the snapshot (s.HTTPRoutes) instead.
func (c *clients) readRouters(ctx context.Context, ros []v1alpha1.Rollout) (map[string]error, error) {
	out := map[string]error{}
	var reader client.Reader
	for i := range ros {
		cn := ros[i].Spec.Strategy.Canary
		if cn == nil || cn.TrafficRouting == nil || len(routers.Unavailable(cn.TrafficRouting)) > 0 {
			continue
		}
		builtIn := ros[i].DeepCopy()
		builtIn.Spec.Strategy.Canary.TrafficRouting.Plugins = nil
		cfg := routers.ConfigFor(builtIn)
		rt, err := routers.New(cfg)
		if err != nil {
			continue // no built-in router; a config error is lint's and the controller's to report
		}
		if reader == nil {
			if reader, err = client.New(c.cfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
				return nil, err
			}
		}
		cfg.Reader = reader
		if rt, err = routers.New(cfg); err == nil {
			_, err = rt.Weight(ctx)
		}
		if err != nil {
			out[ros[i].Namespace+"/"+ros[i].Name] = err
		}
	}
	return out, nil
}
