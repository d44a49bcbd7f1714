// Package analysisrun is the AnalysisRun reconciler: it takes each metric's
// measurements when they are due (through internal/analysis/provider),
// judges them (internal/analysis), and writes the run's verdict. Everything
// that goes wrong is an Error measurement or an Error run with a message,
// never a crash and never a silent success.
package analysisrun

import (
	"cmp"
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/analysis"
	"github.com/sluice-dev/sluice/internal/analysis/provider"
	"github.com/sluice-dev/sluice/internal/instance"
	"github.com/sluice-dev/sluice/internal/metrics"
	"github.com/sluice-dev/sluice/internal/validation"
)

// Reconciler drives AnalysisRuns.
type Reconciler struct {
	client.Client
	// InstanceID: handle only runs labelled with it (see internal/instance).
	InstanceID string
	// Secrets reads Secrets straight from the API server: caching them would
	// need list/watch on every Secret in the cluster, while a run needs get
	// on the few its arguments name. It also finds a Job just created that the
	// cache does not have yet.
	Secrets  client.Reader
	Recorder events.EventRecorder
	Now      func() time.Time
}

// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=argoproj.io,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// SetupWithManager registers the reconciler; Jobs it created wake it up.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Secrets == nil {
		r.Secrets = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.AnalysisRun{}, builder.WithPredicates(instance.Filter(r.InstanceID))).
		Owns(&batchv1.Job{}).
		Named("analysisrun").
		Complete(r)
}

// expire deletes a completed run once its spec.ttlStrategy says so, as
// upstream: secondsAfterSuccess or secondsAfterFailure (Failed, Error,
// Inconclusive) when set, else secondsAfterCompletion.
func (r *Reconciler) expire(ctx context.Context, run *v1alpha1.AnalysisRun, now time.Time) (ctrl.Result, error) {
	ttl := run.Spec.TTLStrategy
	if ttl == nil || run.Status.CompletedAt == nil {
		return ctrl.Result{}, nil
	}
	secs := ttl.SecondsAfterCompletion
	if run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful && ttl.SecondsAfterSuccess != nil {
		secs = ttl.SecondsAfterSuccess
	} else if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful && ttl.SecondsAfterFailure != nil {
		secs = ttl.SecondsAfterFailure
	}
	if secs == nil {
		return ctrl.Result{}, nil
	}
	if left := run.Status.CompletedAt.Add(time.Duration(*secs) * time.Second).Sub(now); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	if err := r.Delete(ctx, run, client.Preconditions{UID: &run.UID}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// ReasonStatusWriteFailed: the run's status could not be written.
const ReasonStatusWriteFailed = "StatusWriteFailed"

func forbiddenHint(err error) string {
	if apierrors.IsForbidden(err) {
		return "; grant update on analysisruns/status in the controller's ClusterRole (config/rbac)"
	}
	return ""
}

// Reconcile measures what is due and updates the verdict.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	start := time.Now()
	defer func() {
		metrics.RunReconcile.WithLabelValues(req.Namespace, req.Name).Observe(time.Since(start).Seconds())
		if err != nil {
			metrics.RunReconcileError.WithLabelValues(req.Namespace, req.Name).Inc()
		}
	}()
	var run v1alpha1.AnalysisRun
	if err := r.Get(ctx, req.NamespacedName, &run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if run.DeletionTimestamp != nil || !instance.Mine(&run, r.InstanceID) {
		return ctrl.Result{}, nil
	}
	if run.Status.Phase.Completed() {
		return r.expire(ctx, &run, r.Now())
	}
	before := run.Status.DeepCopy()
	now := r.Now()
	next := r.measure(ctx, &run, now)
	if run.Status.Phase.Completed() && run.Status.CompletedAt == nil {
		t := metav1.NewTime(now)
		run.Status.CompletedAt = &t
	}

	if !equality.Semantic.DeepEqual(before, &run.Status) {
		if err := r.Status().Update(ctx, &run); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{Requeue: true}, nil
			}
			if !apierrors.IsNotFound(err) {
				// Not only in the log: the run cannot record its verdict, so the
				// Rollout waits on it (fail closed) and an operator must know why.
				r.Recorder.Eventf(&run, nil, corev1.EventTypeWarning, ReasonStatusWriteFailed, "Analyze",
					"could not record the measurements of AnalysisRun %s, so its Rollout waits: %v%s", run.Name, err, forbiddenHint(err))
			}
			return ctrl.Result{}, err
		}
		if run.Status.Phase.Completed() && run.Status.Phase != before.Phase {
			typ := corev1.EventTypeNormal
			if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
				typ = corev1.EventTypeWarning
			}
			r.Recorder.Eventf(&run, nil, typ, "AnalysisRun"+string(run.Status.Phase), "Analyze", "AnalysisRun %s: %s",
				run.Status.Phase, cmp.Or(run.Status.Message, "all metrics passed"))
		}
	}
	if run.Status.Phase.Completed() {
		return r.expire(ctx, &run, now)
	}
	if next.IsZero() {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil // a Job is in flight; its events also wake us
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(now), 100*time.Millisecond)}, nil
}

// measure takes due measurements and sets metric and run verdicts. It
// returns when the next measurement is due. As upstream, a metric that ends
// Failed, Error or Inconclusive ends the run at once: the other metrics are
// stopped (terminated) in the same pass, so no verdict waits on an
// open-ended metric.
func (r *Reconciler) measure(ctx context.Context, run *v1alpha1.AnalysisRun, now time.Time) time.Time {
	st := &run.Status
	if st.StartedAt == nil {
		t := metav1.NewTime(now)
		st.StartedAt = &t
		st.Phase = v1alpha1.AnalysisPhaseRunning
	}
	args, argErr := r.args(ctx, run)
	type open struct {
		metric v1alpha1.Metric
		res    *v1alpha1.MetricResult
		p      provider.Provider
		next   analysis.Next
	}
	var pending []open
	for i := range run.Spec.Metrics { // every result exists before any pointer into the slice is kept
		result(st, run.Spec.Metrics[i].Name, dryRun(run, run.Spec.Metrics[i].Name))
	}
	// First: finish what is in flight and judge every metric, measuring nothing.
	for i := range run.Spec.Metrics {
		res := result(st, run.Spec.Metrics[i].Name, dryRun(run, run.Spec.Metrics[i].Name))
		if res.Phase.Completed() {
			continue
		}
		metric, err := analysis.Substitute(run.Spec.Metrics[i], args)
		if argErr != nil {
			err = argErr
		}
		var p provider.Provider
		if err == nil {
			err = compiles(&run.Spec.Metrics[i], i)
		}
		if err == nil {
			p, err = provider.For(&metric, r.Client, r.Secrets)
		}
		if err != nil { // a spec problem: no measurement can succeed
			res.Phase, res.Message = v1alpha1.AnalysisPhaseError, err.Error()
			continue
		}
		if m := res.Measurements; len(m) > 0 && m[len(m)-1].Phase == v1alpha1.AnalysisPhaseRunning {
			if got := p.Resume(ctx, run, &metric, m[len(m)-1]); got.Phase != v1alpha1.AnalysisPhaseRunning {
				analysis.Record(res, got, true, retention(run, metric.Name))
			}
		}
		n, err := analysis.Assess(&metric, res, st.StartedAt.Time, now, false)
		if err != nil {
			res.Phase, res.Message = v1alpha1.AnalysisPhaseError, fmt.Sprintf("metric %q: %v", metric.Name, err)
			continue
		}
		res.Phase, res.Message = n.Phase, n.Message
		if !n.Phase.Completed() {
			pending = append(pending, open{metric, res, p, n})
		}
	}
	// Then: measure what is due, unless the run is already decided.
	var next time.Time
	for i := range pending {
		o := &pending[i]
		if run.Spec.Terminate || analysis.Decided(st.MetricResults) {
			break
		}
		if o.next.MeasureNow {
			analysis.Record(o.res, o.p.Run(ctx, run, &o.metric), false, retention(run, o.metric.Name))
			o.next, _ = analysis.Assess(&o.metric, o.res, st.StartedAt.Time, now, false)
			o.res.Phase, o.res.Message = o.next.Phase, o.next.Message
		}
		if n := o.next; !n.Phase.Completed() && !n.At.IsZero() && (next.IsZero() || n.At.Before(next)) {
			next = n.At
		}
	}
	// Last: a terminated or decided run stops the metrics still open.
	if why := terminated(run); why != "" {
		for _, o := range pending {
			if o.res.Phase.Completed() {
				continue
			}
			if m := o.res.Measurements; len(m) > 0 && m[len(m)-1].Phase == v1alpha1.AnalysisPhaseRunning {
				analysis.Record(o.res, stop(ctx, o.p, run, m[len(m)-1], why), true, retention(run, o.metric.Name))
			}
			n, _ := analysis.Assess(&o.metric, o.res, st.StartedAt.Time, now, true)
			o.res.Phase, o.res.Message = n.Phase, n.Message
		}
	}
	st.Phase, st.Message = analysis.RunPhase(st.MetricResults, len(run.Spec.Metrics))
	if run.Spec.Terminate && st.Phase == v1alpha1.AnalysisPhaseSuccessful {
		// Kept recognisable: a Rollout does not take a terminated step run as evidence.
		st.Message = analysis.TerminatedMessage + ": spec.terminate was set before the metrics decided"
	}
	st.RunSummary, st.DryRunSummary = summary(st.MetricResults, false), nil
	if d := summary(st.MetricResults, true); d.Count > 0 {
		st.DryRunSummary = &d
	}
	return next
}

// compiles reports a condition of the run's i-th metric that is not an expr
// expression, naming the field: a run created without a template is
// checked here, before any measurement.
func compiles(m *v1alpha1.Metric, i int) error {
	if errs := validation.UnimplementedMetricFields(m, field.NewPath("spec", "metrics").Index(i)); len(errs) > 0 {
		return errs.ToAggregate()
	}
	for _, c := range [][2]string{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
		if err := analysis.Compile(c[1]); err != nil {
			return fmt.Errorf("spec.metrics[%d].%s %q does not compile: %v", i, c[0], c[1], err)
		}
	}
	return nil
}

// terminated says why the run's open metrics must stop, or "".
func terminated(run *v1alpha1.AnalysisRun) string {
	if run.Spec.Terminate {
		return "the run was terminated (spec.terminate)"
	}
	for _, r := range run.Status.MetricResults {
		if !r.DryRun && r.Phase.Completed() && r.Phase != v1alpha1.AnalysisPhaseSuccessful {
			return fmt.Sprintf("metric %q ended the run %s", r.Name, r.Phase)
		}
	}
	return ""
}

// stop ends an in-flight measurement of a run that is ending: the provider
// cleans up (a Job is deleted) and the measurement is closed, as upstream,
// as Successful saying it was terminated (the run's verdict does not rest on it).
func stop(ctx context.Context, p provider.Provider, run *v1alpha1.AnalysisRun, m v1alpha1.Measurement, why string) v1alpha1.Measurement {
	if t, ok := p.(provider.Terminator); ok {
		t.Terminate(ctx, run, m)
	}
	done := metav1.NewTime(time.Now())
	m.Phase, m.FinishedAt = v1alpha1.AnalysisPhaseSuccessful, &done
	m.Message = fmt.Sprintf("%s: measurement stopped, %s", analysis.TerminatedMessage, why)
	return m
}

// args resolves the run's arguments, reading Secrets for secretKeyRef.
func (r *Reconciler) args(ctx context.Context, run *v1alpha1.AnalysisRun) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range run.Spec.Args {
		switch {
		case a.Value != nil:
			out[a.Name] = *a.Value
		case a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil:
			ref := a.ValueFrom.SecretKeyRef
			var s corev1.Secret
			if err := r.Secrets.Get(ctx, client.ObjectKey{Namespace: run.Namespace, Name: ref.Name}, &s); err != nil {
				return nil, fmt.Errorf("argument %q: reading Secret %q: %v", a.Name, ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("argument %q: Secret %q has no key %q", a.Name, ref.Name, ref.Key)
			}
			out[a.Name] = string(v)
		}
	}
	return out, nil
}

func result(st *v1alpha1.AnalysisRunStatus, name string, dry bool) *v1alpha1.MetricResult {
	for i := range st.MetricResults {
		if st.MetricResults[i].Name == name {
			return &st.MetricResults[i]
		}
	}
	st.MetricResults = append(st.MetricResults, v1alpha1.MetricResult{Name: name, Phase: v1alpha1.AnalysisPhaseRunning, DryRun: dry})
	return &st.MetricResults[len(st.MetricResults)-1]
}

func dryRun(run *v1alpha1.AnalysisRun, metric string) bool {
	for _, d := range run.Spec.DryRun {
		if d.MetricName == metric || d.MetricName == "*" {
			return true
		}
	}
	return false
}

func retention(run *v1alpha1.AnalysisRun, metric string) int32 {
	for _, m := range run.Spec.MeasurementRetention {
		if m.MetricName == metric || m.MetricName == "*" {
			return m.Limit
		}
	}
	return 0
}

func summary(results []v1alpha1.MetricResult, dry bool) v1alpha1.RunSummary {
	var s v1alpha1.RunSummary
	for _, r := range results {
		if r.DryRun != dry {
			continue
		}
		s.Count++
		switch r.Phase {
		case v1alpha1.AnalysisPhaseSuccessful:
			s.Successful++
		case v1alpha1.AnalysisPhaseFailed:
			s.Failed++
		case v1alpha1.AnalysisPhaseInconclusive:
			s.Inconclusive++
		case v1alpha1.AnalysisPhaseError:
			s.Error++
		}
	}
	return s
}
