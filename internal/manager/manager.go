// Package manager assembles the Sluice controller: the scheme, the
// reconcilers, health and readiness probes, metrics and leader election. The
// `sluice controller` command and the test harness both start it from here,
// so tests run the same controller users do.
package manager

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/controller/analysisrun"
	"github.com/sluice-dev/sluice/internal/controller/rollout"
	"github.com/sluice-dev/sluice/internal/metrics"
	"github.com/sluice-dev/sluice/internal/version"
)

// Options configure the controller process.
type Options struct {
	MetricsAddr    string // ":8080"; "0" turns the metrics endpoint off
	ProbeAddr      string // ":8081"; "0" turns the probes off
	LeaderElect    bool
	LeaderElectNS  string // namespace of the leader-election Lease
	Namespace      string // watch only this namespace; "" for all
	ControllerName string // reportingController of Events; default "sluice"
	// Restartable lets one process start the manager more than once (tests
	// that stop and restart the controller).
	Restartable bool
	// InstanceID is upstream's --instance-id: handle only the Rollouts and
	// AnalysisRuns labelled with it ("" handles only unlabelled ones).
	InstanceID string
	// MaxConcurrentReconciles is how many Rollouts (and, separately, how
	// many AnalysisRuns) are reconciled at once; 0 means
	// DefaultMaxConcurrentReconciles. One Rollout is never reconciled by
	// two workers at once.
	MaxConcurrentReconciles int
	// KubeAPIQPS and KubeAPIBurst limit the controller's requests to the API
	// server on the client side. QPS 0 keeps the rest.Config's own (the
	// `sluice controller` command's is no client-side limit: the API
	// server's priority and fairness decide); burst 0 is twice the QPS.
	KubeAPIQPS   float32
	KubeAPIBurst int
}

// DefaultMaxConcurrentReconciles: enough workers that a bump of hundreds of
// Rollouts is not a queue behind one, few enough that their API calls stay
// a small share of a shared API server (upstream's --rollout-threads is 10).
const DefaultMaxConcurrentReconciles = 10

// Scheme knows the built-in kinds and Sluice's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := gatewayv1.Install(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// UserAgent is the controller's user agent on every API request.
var UserAgent = "sluice-controller/" + version.Version

// New builds a manager with every Sluice reconciler registered.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if o.ControllerName == "" {
		o.ControllerName = "sluice"
	}
	// Its own user agent, so API server audit logs (and bench/api-writes.sh)
	// tell the controller's writes from the CLI's, which run the same binary.
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = UserAgent
	cfg.Wrap(metrics.CountRequests)
	if o.KubeAPIQPS != 0 {
		cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
		if cfg.Burst == 0 && o.KubeAPIQPS > 0 {
			cfg.Burst = int(2 * o.KubeAPIQPS)
		}
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	mo := ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "sluice-controller.argoproj.io",
		LeaderElectionNamespace: o.LeaderElectNS,
		// Writes refused because a namespace is being deleted are debug, not errors.
		Logger: quietLogger(ctrl.Log),
		// Only what the reconcilers read, and only the parts they read (cache.go).
		Cache: cacheOptions(),
	}
	mo.Controller.MaxConcurrentReconciles = o.MaxConcurrentReconciles
	if o.Restartable {
		skip := true
		mo.Controller.SkipNameValidation = &skip
	}
	if o.Namespace != "" {
		mo.Cache.DefaultNamespaces = map[string]cacheConfig{o.Namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := (&rollout.Reconciler{
		InstanceID: o.InstanceID,
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   metrics.CountingRecorder{EventRecorder: mgr.GetEventRecorder(o.ControllerName)},
	}).SetupWithManager(mgr); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the argoproj.io/v1alpha1 CRDs are not installed in this cluster "+
				"(kubectl apply -f config/crd/, then wait until they are Established): %w", err)
		}
		return nil, fmt.Errorf("setting up the Rollout controller: %w", err)
	}
	if err := (&analysisrun.Reconciler{
		InstanceID: o.InstanceID,
		Client:     mgr.GetClient(),
		Recorder:   mgr.GetEventRecorder(o.ControllerName),
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the AnalysisRun controller: %w", err)
	}
	metrics.Register(mgr.GetClient())
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
