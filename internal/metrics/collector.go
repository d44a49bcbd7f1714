// Package metrics exports the controller's Prometheus metrics under the
// names and labels upstream Argo Rollouts uses (rollout_info,
// rollout_info_replicas_*, rollout_phase, rollout_reconcile,
// rollout_events_total, analysis_run_info, analysis_run_phase,
// analysis_run_metric_type, analysis_run_metric_phase,
// analysis_template_info, controller_clientset_k8s_request_total, …), so
// dashboards and alerts keep working after a switch, plus Sluice's own
// (sluice_rollout_degraded, sluice_rollout_paused_seconds).
package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

var nn = []string{"namespace", "name"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string{}, nn...), labels...), nil)
}

// The metrics read from the objects at scrape time.
var (
	rolloutInfo        = desc("rollout_info", "Information about rollout.", "strategy", "traffic_router", "phase")
	replicasAvailable  = desc("rollout_info_replicas_available", "The number of available replicas per rollout.")
	replicasUnavailble = desc("rollout_info_replicas_unavailable", "The number of unavailable replicas per rollout.")
	replicasDesired    = desc("rollout_info_replicas_desired", "The number of desired replicas per rollout.")
	replicasUpdated    = desc("rollout_info_replicas_updated", "The number of updated replicas per rollout.")
	rolloutPhase       = desc("rollout_phase", "Information on the state of the rollout (DEPRECATED - use rollout_info)", "strategy", "phase")
	runInfo            = desc("analysis_run_info", "Information about analysis run.", "phase")
	runPhase           = desc("analysis_run_phase", "Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)", "phase")
	runMetricType      = desc("analysis_run_metric_type", "Information on the type of a specific metric in the Analysis Runs", "metric", "type")
	runMetricPhase     = desc("analysis_run_metric_phase", "Information on the duration of a specific metric in the Analysis Run", "metric", "type", "dry_run", "phase")
	templateInfo       = desc("analysis_template_info", "Information about analysis templates.")
	templateMetricInfo = desc("analysis_template_metric_info", "Information on metrics in analysis templates.", "type", "metric")
	degraded           = desc("sluice_rollout_degraded", "1 while the Rollout is Degraded, labelled with the reason (the status message's prefix).", "reason")
	pausedSeconds      = desc("sluice_rollout_paused_seconds", "How long the Rollout has been paused (its oldest pause condition), 0 when it is not.")
)

// The metrics counted as things happen.
var (
	// Reconcile is rollout_reconcile: the duration of each Rollout reconcile.
	Reconcile = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rollout_reconcile", Help: "Rollout reconciliation performance.",
		Buckets: []float64{0.01, 0.15, .25, .5, 1}}, nn)
	// ReconcileError is rollout_reconcile_error.
	ReconcileError = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rollout_reconcile_error", Help: "Error occurring during the rollout"}, nn)
	// RunReconcile is analysis_run_reconcile.
	RunReconcile = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "analysis_run_reconcile", Help: "Analysis Run reconciliation performance.",
		Buckets: []float64{0.01, 0.15, .25, .5, 1}}, nn)
	// RunReconcileError is analysis_run_reconcile_error.
	RunReconcileError = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analysis_run_reconcile_error", Help: "Error occurring during the analysis run"}, nn)
	// Events is rollout_events_total.
	Events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rollout_events_total", Help: "Count of rollout events"},
		append(append([]string{}, nn...), "type", "reason"))
	// Requests is controller_clientset_k8s_request_total.
	Requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "controller_clientset", Name: "k8s_request_total",
		Help: "Number of kubernetes requests executed during application reconciliation."}, []string{"kind", "namespace", "name", "verb", "status_code"})
)

// collector reads Rollouts, AnalysisRuns and AnalysisTemplates from the
// manager's cache at scrape time.
type collector struct {
	mu     sync.Mutex
	reader client.Reader
	now    func() time.Time
}

var (
	theCollector = &collector{now: time.Now}
	register     sync.Once
)

// Register registers Sluice's metrics with controller-runtime's registry
// (served on the manager's metrics endpoint), reading objects through r
// (the manager's cache). Called again, it points the scrape at the newer r.
func Register(r client.Reader) {
	theCollector.mu.Lock()
	theCollector.reader = r
	theCollector.mu.Unlock()
	register.Do(func() {
		crmetrics.Registry.MustRegister(theCollector, Reconcile, ReconcileError, RunReconcile, RunReconcileError, Events, Requests)
	})
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rolloutInfo, replicasAvailable, replicasUnavailble, replicasDesired, replicasUpdated, rolloutPhase,
		runInfo, runPhase, runMetricType, runMetricPhase, templateInfo, templateMetricInfo, degraded, pausedSeconds} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	r := c.reader
	c.mu.Unlock()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ros v1alpha1.RolloutList
	if r.List(ctx, &ros) == nil {
		for i := range ros.Items {
			collectRollout(ch, &ros.Items[i], c.now())
		}
	}
	var runs v1alpha1.AnalysisRunList
	if r.List(ctx, &runs) == nil {
		for i := range runs.Items {
			collectRun(ch, &runs.Items[i])
		}
	}
	var tmpls v1alpha1.AnalysisTemplateList
	if r.List(ctx, &tmpls) == nil {
		for i := range tmpls.Items {
			t := &tmpls.Items[i]
			gauge(ch, templateInfo, 1, t.Namespace, t.Name)
			for _, m := range t.Spec.Metrics {
				gauge(ch, templateMetricInfo, 1, t.Namespace, t.Name, ProviderType(m.Provider), m.Name)
			}
		}
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// rolloutPhases are upstream's metric phases, worked out as upstream does
// from the Progressing condition (and InvalidSpec).
var rolloutPhases = []string{"Completed", "Progressing", "Paused", "Timeout", "Error", "Abort"}

func metricPhase(ro *v1alpha1.Rollout) string {
	phase := "Progressing"
	for _, c := range ro.Status.Conditions {
		if c.Type == v1alpha1.RolloutInvalidSpec && c.Status == "True" {
			return "InvalidSpec"
		}
		if c.Type != v1alpha1.RolloutProgressing {
			continue
		}
		switch {
		case c.Reason == "NewReplicaSetAvailable":
			phase = "Completed"
		case c.Reason == "RolloutPaused":
			phase = "Paused"
		case c.Reason == "ProgressDeadlineExceeded":
			phase = "Timeout"
		case c.Reason == "RolloutAborted":
			phase = "Abort"
		case c.Status == "False": // a reason Sluice cannot make progress
			phase = "Error"
		}
	}
	return phase
}

func strategyOf(ro *v1alpha1.Rollout) (strategy, router string) {
	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		return "blueGreen", ""
	case ro.Spec.Strategy.Canary != nil:
		if tr := ro.Spec.Strategy.Canary.TrafficRouting; tr != nil {
			for name := range tr.Plugins {
				return "canary", name
			}
		}
		return "canary", ""
	}
	return "none", ""
}

func collectRollout(ch chan<- prometheus.Metric, ro *v1alpha1.Rollout, now time.Time) {
	ns, name := ro.Namespace, ro.Name
	strategy, router := strategyOf(ro)
	phase := metricPhase(ro)
	gauge(ch, rolloutInfo, 1, ns, name, strategy, router, phase)
	desired := int32(1)
	if ro.Spec.Replicas != nil {
		desired = *ro.Spec.Replicas
	}
	gauge(ch, replicasAvailable, float64(ro.Status.AvailableReplicas), ns, name)
	gauge(ch, replicasUnavailble, float64(max(ro.Status.Replicas-ro.Status.AvailableReplicas, 0)), ns, name)
	gauge(ch, replicasDesired, float64(desired), ns, name)
	gauge(ch, replicasUpdated, float64(ro.Status.UpdatedReplicas), ns, name)
	for _, p := range rolloutPhases {
		gauge(ch, rolloutPhase, b(phase == p), ns, name, strategy, p)
	}
	reason := ""
	if ro.Status.Phase == v1alpha1.RolloutPhaseDegraded {
		reason, _, _ = strings.Cut(ro.Status.Message, ":")
		gauge(ch, degraded, 1, ns, name, reason)
	}
	var paused float64
	for _, pc := range ro.Status.PauseConditions {
		paused = max(paused, now.Sub(pc.StartTime.Time).Seconds())
	}
	gauge(ch, pausedSeconds, paused, ns, name)
}

var runPhases = []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseFailed,
	v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseInconclusive}

func collectRun(ch chan<- prometheus.Metric, run *v1alpha1.AnalysisRun) {
	ns, name := run.Namespace, run.Name
	phase := run.Status.Phase
	if phase == "" {
		phase = v1alpha1.AnalysisPhasePending
	}
	gauge(ch, runInfo, 1, ns, name, string(phase))
	for _, p := range runPhases {
		gauge(ch, runPhase, b(phase == p), ns, name, string(p))
	}
	dry := map[string]bool{}
	for _, d := range run.Spec.DryRun {
		dry[d.MetricName] = true
	}
	results := map[string]v1alpha1.AnalysisPhase{}
	for _, res := range run.Status.MetricResults {
		results[res.Name] = res.Phase
	}
	for _, m := range run.Spec.Metrics {
		typ := ProviderType(m.Provider)
		gauge(ch, runMetricType, 1, ns, name, m.Name, typ)
		mp := results[m.Name]
		if mp == "" {
			mp = v1alpha1.AnalysisPhasePending
		}
		for _, p := range runPhases {
			gauge(ch, runMetricPhase, b(mp == p), ns, name, m.Name, typ, fmt.Sprint(dry[m.Name] || dry["*"]), string(p))
		}
	}
}

// ProviderType names a metric's provider as upstream's metrics do
// ("Prometheus", "Web", "Job", …).
func ProviderType(p v1alpha1.MetricProvider) string {
	raw, err := json.Marshal(p)
	if err != nil {
		return "Unknown"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "Unknown"
	}
	for k := range m {
		if k != "" {
			return strings.ToUpper(k[:1]) + k[1:]
		}
	}
	return "Unknown"
}
