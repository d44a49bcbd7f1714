package cli

import (
	"flag"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/version"
)

func newControllerCmd() *cobra.Command {
	var o manager.Options
	var kubeconfig, kubeContext string
	zo := zap.Options{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the Sluice controller (reconciles Rollouts) against the current kubeconfig",
		Long: `Run the Sluice controller. It finds its cluster as every kube tool does:
--kubeconfig (and --context) when given, else $KUBECONFIG, else the
in-cluster service account, else ~/.kube/config.`,
		Example: `  # Run against the local sandbox (make sandbox-up)
  sluice controller --kubeconfig .sandbox/sluice.kubeconfig --metrics-bind-address=0

  # Another context of the current kubeconfig
  sluice controller --context kind-dev

  # In a cluster, with leader election for HA
  sluice controller --leader-elect --leader-election-namespace=sluice-system`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
			log := ctrl.Log.WithName("setup")
			cfg, err := restConfig(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			mgr, err := manager.New(cfg, o)
			if err != nil {
				return err
			}
			log.Info("starting Sluice controller", "version", version.Version, "commit", version.Commit, "host", cfg.Host)
			return mgr.Start(ctrl.SetupSignalHandler())
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	f.StringVar(&kubeContext, "context", "", "the kubeconfig context to use (default: its current-context)")
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus /metrics endpoint ("0" disables)`)
	f.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" disables)`)
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "elect one active controller among replicas (use when running more than one)")
	f.StringVar(&o.LeaderElectNS, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's namespace)")
	f.StringVar(&o.Namespace, "namespace", "", "watch only this namespace (default: all)")
	f.StringVar(&o.InstanceID, "instance-id", "", "handle only Rollouts and AnalysisRuns labelled argo-rollouts.argoproj.io/controller-instance-id=ID "+
		"(default: only those without the label), to run beside another controller (see docs/migrating-from-argo-rollouts.md)")
	f.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", manager.DefaultMaxConcurrentReconciles,
		"how many Rollouts (and, separately, AnalysisRuns) are reconciled at once; one Rollout is never reconciled by two at once")
	f.Float32Var(&o.KubeAPIQPS, "kube-api-qps", 0, "client-side limit of the controller's API requests per second "+
		"(default 0: none, the API server's priority and fairness decide; a negative value also means none)")
	f.IntVar(&o.KubeAPIBurst, "kube-api-burst", 0, "requests allowed above --kube-api-qps in a burst (default: twice the QPS)")
	fs := flag.NewFlagSet("zap", flag.ExitOnError)
	zo.BindFlags(fs)
	f.AddGoFlagSet(fs)
	return cmd
}

// restConfig resolves the controller's cluster from --kubeconfig and
// --context as kubectl does: an explicit file wins over $KUBECONFIG, and
// without one controller-runtime's order applies ($KUBECONFIG, in-cluster,
// ~/.kube/config), with the context chosen when one is named.
func restConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	if kubeconfig == "" {
		return config.GetConfigWithContext(kubeContext)
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext},
	).ClientConfig()
	if err != nil {
		return nil, err
	}
	if cfg.QPS == 0 {
		cfg.QPS = -1 // as ctrl.GetConfig: API priority and fairness limit the controller, not client-go
	}
	return cfg, nil
}
