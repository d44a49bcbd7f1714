package cli

import (
	"flag"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/version"
)

func newControllerCmd() *cobra.Command {
	var o manager.Options
	zo := zap.Options{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the Sluice controller (reconciles Rollouts) against the current kubeconfig",
		Example: `  # Run against the local sandbox (make sandbox-up)
  KUBECONFIG=.sandbox/sluice.kubeconfig sluice controller --metrics-bind-address=0

  # In a cluster, with leader election for HA
  sluice controller --leader-elect --leader-election-namespace=sluice-system`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
			log := ctrl.Log.WithName("setup")
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return err
			}
			mgr, err := manager.New(cfg, o)
			if err != nil {
				return err
			}
			log.Info("starting Sluice controller", "version", version.Version, "host", cfg.Host)
			return mgr.Start(ctrl.SetupSignalHandler())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus /metrics endpoint ("0" disables)`)
	f.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" disables)`)
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "elect one active controller among replicas (use when running more than one)")
	f.StringVar(&o.LeaderElectNS, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's namespace)")
	f.StringVar(&o.Namespace, "namespace", "", "watch only this namespace (default: all)")
	f.StringVar(&o.InstanceID, "instance-id", "", "handle only Rollouts and AnalysisRuns labelled argo-rollouts.argoproj.io/controller-instance-id=ID "+
		"(default: only those without the label), to run beside another controller (see docs/migrating-from-argo-rollouts.md)")
	fs := flag.NewFlagSet("zap", flag.ExitOnError)
	zo.BindFlags(fs)
	f.AddGoFlagSet(fs)
	return cmd
}
