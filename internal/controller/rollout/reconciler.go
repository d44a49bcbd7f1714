// Package rollout is the Rollout reconciler: it reads a Rollout and what it
// owns, asks the pure planner (internal/canary) what to do, applies that with
// the fewest API writes, and reports the result in .status. Every reason it
// cannot make progress is reported in one place, setFailure: phase Degraded,
// a condition with reason and message, and a Warning Event, within the same
// reconcile.
package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/bluegreen"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/conditions"
	"github.com/sluice-dev/sluice/internal/instance"
	"github.com/sluice-dev/sluice/internal/metrics"
	"github.com/sluice-dev/sluice/internal/validation"
)

// Reconciler drives Rollouts.
type Reconciler struct {
	// InstanceID: handle only Rollouts labelled with it (see internal/instance).
	InstanceID string
	client.Client
	// APIReader reads without the cache, for kinds that are not watched
	// (HTTPRoutes); nil means the Client.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Now is the clock; tests may replace it.
	Now func() time.Time

	mu       sync.Mutex
	restarts map[types.UID]map[types.UID]bool // see pendingRestarts
	adopted  adoptions
	written  writeClock // see statuswrite.go
}

// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments/scale,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// SetupWithManager registers the reconciler and what it watches: its
// ReplicaSets (so pods becoming ready move the Rollout at once, not on a
// resync) and the Deployments named by workloadRef. Router objects are
// not watched: see routeResync.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &appsv1.ReplicaSet{}, ownerIndex, func(o client.Object) []string {
		if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Rollout" && ref.APIVersion == v1alpha1.GroupVersion.String() {
			return []string{string(ref.UID)}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, workloadRefIndex, func(o client.Object) []string {
		if ref := o.(*v1alpha1.Rollout).Spec.WorkloadRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Rollout{}, builder.WithPredicates(instance.Filter(r.InstanceID))).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&v1alpha1.AnalysisRun{}).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsForDeployment)).
		Watches(&v1alpha1.AnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsInNamespace)).
		Named("rollout").
		Complete(r)
}

func (r *Reconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// rolloutsForDeployment wakes the Rollouts whose workloadRef names the Deployment.
func (r *Reconciler) rolloutsForDeployment(ctx context.Context, o client.Object) []reconcile.Request {
	return r.rollouts(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{workloadRefIndex: o.GetName()})
}

// rolloutsInNamespace wakes every Rollout of the namespace: an
// AnalysisTemplate that appears may unblock one waiting for it.
func (r *Reconciler) rolloutsInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	return r.rollouts(ctx, client.InNamespace(o.GetNamespace()))
}

func (r *Reconciler) rollouts(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list v1alpha1.RolloutList
	if err := r.List(ctx, &list, opts...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ro := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ro)})
	}
	return reqs
}

// failureRecheck is how often a Rollout stopped by a Failure that no watch
// covers (a ClusterAnalysisTemplate, RBAC granted later) is looked at again.
const failureRecheck = 30 * time.Second

// Reconcile brings one Rollout one step closer to what it asks for.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	start := time.Now()
	defer func() {
		metrics.Reconcile.WithLabelValues(req.Namespace, req.Name).Observe(time.Since(start).Seconds())
		if err != nil {
			metrics.ReconcileError.WithLabelValues(req.Namespace, req.Name).Inc()
		}
	}()
	var ro v1alpha1.Rollout
	if err := r.Get(ctx, req.NamespacedName, &ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !instance.Mine(&ro, r.InstanceID) {
		return ctrl.Result{}, nil // another controller's
	}
	if ro.DeletionTimestamp != nil {
		after, err := r.handBack(ctx, &ro)
		var f *Failure
		if errors.As(err, &f) {
			r.Recorder.Eventf(&ro, nil, corev1.EventTypeWarning, f.Reason, "Delete", "%s", f.Message)
		}
		return ctrl.Result{RequeueAfter: after}, err
	}
	before := ro.Status.DeepCopy()
	now := metav1.NewTime(r.Now().Truncate(time.Second))

	var notes notes
	res, err = r.reconcile(ctx, &ro, now, &notes)
	var f *Failure
	switch {
	case errors.As(err, &f):
		r.setFailure(&ro, f, now, &notes)
		err = f.Err // API errors are retried with backoff; spec problems wait for an edit
		if err == nil && !f.Invalid {
			res = ctrl.Result{RequeueAfter: cmp.Or(f.Recheck, failureRecheck)}
		}
	case err == nil:
		r.clearFailure(&ro, now)
	}
	ro.Status.ObservedGeneration = strconv.FormatInt(ro.Generation, 10)

	before = r.written.stored(req.NamespacedName, &ro, before)
	if !equality.Semantic.DeepEqual(before, &ro.Status) {
		if wait, held := r.written.hold(req.NamespacedName, before, &ro.Status, notes); held && err == nil {
			if wait > 0 && (res.RequeueAfter == 0 || wait < res.RequeueAfter) {
				res.RequeueAfter = wait
			}
		} else if uerr := r.Status().Update(ctx, &ro); uerr != nil {
			r.sendScaleNotes(&ro, notes)
			if apierrors.IsNotFound(uerr) {
				return ctrl.Result{}, nil // deleted while we worked
			}
			if apierrors.IsConflict(uerr) {
				return ctrl.Result{Requeue: true}, nil
			}
			return ctrl.Result{}, uerr
		} else {
			r.written.mark(req.NamespacedName)
		}
	}
	// Events about status changes go out only once the status is written, so a
	// reconcile that lost a write conflict does not announce a step twice.
	for _, e := range foldScaleNotes(&ro, notes) {
		typ := corev1.EventTypeNormal
		if e.Warning {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(&ro, nil, typ, e.Reason, "Reconcile", "%s", e.Message)
	}
	return res, err
}

// setFailure is the one place a reason the Rollout cannot make progress is
// made visible: phase Degraded, message "<Reason>: <message>", the
// Progressing condition False with that reason (InvalidSpec too for spec
// errors), and a Warning Event whenever the reason or message is new.
func (r *Reconciler) setFailure(ro *v1alpha1.Rollout, f *Failure, now metav1.Time, n *notes) {
	st := &ro.Status
	if f.Invalid {
		conditions.Set(st, v1alpha1.RolloutInvalidSpec, corev1.ConditionTrue, ReasonInvalidSpec, f.Message, now)
	} else {
		conditions.Remove(st, v1alpha1.RolloutInvalidSpec)
	}
	msg := f.Message
	if f.Held {
		msg = strings.TrimSuffix(msg, ".") + "." + heldNote
	}
	changed := conditions.Set(st, v1alpha1.RolloutProgressing, corev1.ConditionFalse, f.Reason, msg, now)
	st.Phase = v1alpha1.RolloutPhaseDegraded
	st.Message = f.Reason + ": " + msg
	if changed {
		n.warn(f.Reason, msg)
	}
}

// clearFailure drops the InvalidSpec condition once the spec is valid again.
func (r *Reconciler) clearFailure(ro *v1alpha1.Rollout, _ metav1.Time) {
	conditions.Remove(&ro.Status, v1alpha1.RolloutInvalidSpec)
}

// reconcile does the work. A returned *Failure is reported by setFailure.
func (r *Reconciler) reconcile(ctx context.Context, ro *v1alpha1.Rollout, now metav1.Time, n *notes) (ctrl.Result, error) {
	if errs := validation.Rollout(ro); len(errs) > 0 {
		return ctrl.Result{}, &Failure{Reason: ReasonInvalidSpec, Invalid: true, Message: errs.ToAggregate().Error()}
	}
	if err := r.ensureFinalizer(ctx, ro); err != nil {
		return ctrl.Result{}, err
	}
	// held is a spec problem the Rollout waits on without freezing: the
	// steps stop, but scaling and abort still apply (see canary.Input.Hold).
	held := unsupported(ro)
	if held != nil && !held.Holdable {
		return ctrl.Result{}, held
	}
	prev := ro.Status.DeepCopy()
	obs, err := r.observe(ctx, ro, n)
	if err != nil {
		return ctrl.Result{}, err
	}
	if old := ro.Status.CollisionCount; ptrValue(obs.collisionCount) != ptrValue(old) {
		ro.Status.CollisionCount = obs.collisionCount
		n.warn(ReasonHashCollision, fmt.Sprintf("ReplicaSet %s-%s already exists with another pod template (a hash collision); "+
			"the template is named %s instead (status.collisionCount %d)", ro.Name, saltedHash(&obs.template, old), obs.hash, ptrValue(obs.collisionCount)))
	}
	newRS := obs.byHash(obs.hash)
	if err := r.stampRevision(ctx, ro, newRS); err != nil {
		return ctrl.Result{}, err
	}
	repairStable(ro, obs, newRS, now, n)
	stableBefore := ro.Status.StableRS
	if err := r.clearServingDeadlines(ctx, obs, obs.hash, ro.Status.StableRS); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.unpinServices(ctx, ro, obs); err != nil {
		return ctrl.Result{}, err
	}
	rev := obs.maxRevision() + 1
	if newRS != nil {
		rev = revision(newRS)
	}
	// Restarts first: pods just evicted are not yet counted unavailable, so
	// nothing is scaled in the same reconcile (the next one reads them).
	evicted, restart, err := r.restartPods(ctx, ro, obs, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	var d canary.Decision
	var bg *bluegreen.Decision
	var rd *routing
	var routeRequeue, persistFirst time.Duration
	if ro.Spec.Strategy.BlueGreen != nil {
		bg, err = r.planBlueGreen(ctx, ro, obs, newRS, rev, now)
		if err != nil {
			return ctrl.Result{}, err
		}
		d = bg.Decision
	} else {
		if rd, err = r.observeRouting(ctx, ro); err != nil {
			return ctrl.Result{}, err
		}
		// Before planning and scaling: a background run that cannot start
		// holds the update, and its verdict (abort, pause) is planned at once.
		if err := r.backgroundAnalysis(ctx, ro, obs.hash, rev, n); err != nil && held == nil {
			if held = holdable(err); held == nil {
				return ctrl.Result{}, err
			}
		}
		if d, err = r.planCanary(ctx, ro, obs, newRS, rev, now, rd, held != nil); err != nil {
			if held = holdable(err); held == nil {
				return ctrl.Result{}, err
			}
		}
		if stepMovedOn(prev, &d.Status) && changesScale(obs, d, rd) {
			// Persist the new step before scaling for it: were the status
			// write lost after the scale, the next reconcile would plan for
			// the old step and shrink the canary it just grew.
			deferScale(&d, rd)
			persistFirst = time.Second
		}
	}
	if evicted > 0 {
		deferScale(&d, rd)
		if bg != nil {
			bg.Decision = d
		}
	}
	if rd != nil && d.RouteWeight != nil {
		// Before scaling: traffic leaves an aborted canary before its pods do.
		ro.Status.StableRS = d.Status.StableRS
		serving := newRS != nil && newRS.Status.AvailableReplicas > 0
		if routeRequeue, err = r.applyRouting(ctx, ro, obs.hash, rd, d, serving); err != nil {
			return ctrl.Result{}, err
		}
		if routeRequeue == 0 {
			routeRequeue = routeResync(d, obs.hash)
		}
	}

	if bg != nil {
		// Before scaling: an aborted version is switched away from first.
		if err := r.applyBlueGreen(ctx, ro, obs, bg); err != nil {
			return ctrl.Result{}, err
		}
	}
	newRS, err = r.applyScale(ctx, ro, obs, newRS, d.Scale, rev, n)
	var conflict *Failure
	if errors.As(err, &conflict) && conflict.Reason == ReasonReplicaSetConflict && bg == nil && held == nil {
		// The new ReplicaSet cannot be created: hold where we are, and
		// still scale what exists (spec.replicas, abort).
		held = conflict
		if d, err = r.planCanary(ctx, ro, obs, nil, rev, now, rd, true); err == nil {
			newRS, err = r.applyScale(ctx, ro, obs, nil, d.Scale, rev, n)
		}
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.stampScaleDown(ctx, obs, d.ScaleDownAt); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.syncEphemeral(ctx, ro, obs, d.Status.StableRS); err != nil {
		return ctrl.Result{}, err
	}
	*n = append(*n, d.Events...)
	if !prev.Abort && d.Status.Abort {
		analysisFailed(&ro.Status, n) // the gates recorded their runs there
	}
	if d.Status.StableRS == obs.hash && stableBefore != obs.hash {
		conditions.Remove(&ro.Status, v1alpha1.RolloutStableRepaired) // an update completed since
	}
	ro.Status.PauseConditions, ro.Status.ControllerPause = d.Status.PauseConditions, d.Status.ControllerPause
	ro.Status.Abort, ro.Status.AbortedAt, ro.Status.PromoteFull = d.Status.Abort, d.Status.AbortedAt, d.Status.PromoteFull
	ro.Status.CurrentPodHash, ro.Status.CurrentStepHash = d.Status.CurrentPodHash, d.Status.CurrentStepHash
	ro.Status.CurrentStepIndex, ro.Status.StableRS = d.Status.CurrentStepIndex, d.Status.StableRS
	r.setCounts(ro, obs)
	requeue := r.setProgress(ro, prev, d, rev, now, n)

	if err := r.terminateStaleRuns(ctx, ro); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.scaleDownWorkload(ctx, ro, obs, d.Completed, now, n); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.cleanupHistory(ctx, ro, obs, newRS); err != nil {
		return ctrl.Result{}, err
	}
	res := ctrl.Result{RequeueAfter: d.RequeueAfter}
	for _, after := range []time.Duration{requeue, restart, routeRequeue, persistFirst} {
		if after > 0 && (res.RequeueAfter == 0 || after < res.RequeueAfter) {
			res.RequeueAfter = after
		}
	}
	if held != nil {
		held.Held = true
		return res, held
	}
	return res, nil
}

// planCanary asks the canary planner what to do, with analysis steps gated
// by their AnalysisRuns.
func (r *Reconciler) planCanary(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, newRS *appsv1.ReplicaSet,
	rev int64, now metav1.Time, rd *routing, hold bool) (canary.Decision, error) {
	in := canary.Input{
		Now: now.Time, Replicas: replicasOf(ro), Strategy: ro.Spec.Strategy.Canary, SpecPaused: ro.Spec.Paused, Hold: hold,
		FastRollback: withinRollbackWindow(ro, obs, newRS),
		Status:       ro.Status, NewHash: obs.hash, Revision: rev, New: snapshot(newRS),
	}
	if rd != nil {
		in.Route, in.ScaleDownAt = &canary.Route{Weight: rd.weight, Max: rd.max, Canary: routedCanary(ro)}, obs.scaleDownDeadlines()
	} else {
		ro.Status.Canary.Weights = nil
	}
	if stable := obs.byHash(ro.Status.StableRS); stable != nil && stable != newRS {
		in.Stable = snapshot(stable)
	}
	for _, rs := range obs.owned {
		if rs != newRS && (in.Stable == nil || rs.Labels[PodTemplateHashLabel] != in.Stable.Hash) {
			in.Older = append(in.Older, *snapshot(rs))
		}
	}
	gate := &stepGate{r: r, ctx: ctx, ro: ro, hash: obs.hash, rev: rev}
	in.Gate = gate
	d := canary.Plan(in)
	if gate.err != nil {
		return d, gate.err // fail closed: nothing is scaled while analysis cannot run
	}
	ro.Status.Canary.CurrentStepAnalysisRunStatus = gate.current
	return d, nil
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func replicasOf(ro *v1alpha1.Rollout) int32 {
	if ro.Spec.Replicas == nil {
		return 1
	}
	return *ro.Spec.Replicas
}

func snapshot(rs *appsv1.ReplicaSet) *canary.ReplicaSet {
	if rs == nil {
		return nil
	}
	s := &canary.ReplicaSet{Hash: rs.Labels[PodTemplateHashLabel], Current: rs.Status.Replicas, Available: rs.Status.AvailableReplicas}
	if rs.Spec.Replicas != nil {
		s.Replicas = *rs.Spec.Replicas
	}
	// Pods of an older spec are not counted as available until the
	// ReplicaSet controller has caught up with it.
	if rs.Status.ObservedGeneration < rs.Generation {
		s.Available = min(s.Available, s.Replicas)
	}
	return s
}

func describeRS(rs *appsv1.ReplicaSet) string { return fmt.Sprintf("ReplicaSet %q", rs.Name) }

// notes are Events that describe a status change; they are sent after the
// status write succeeds.
type notes []canary.Event

func (n *notes) add(warning bool, reason, msg string) {
	*n = append(*n, canary.Event{Warning: warning, Reason: reason, Message: msg})
}

func (n *notes) warn(reason, msg string) {
	*n = append(*n, canary.Event{Warning: true, Reason: reason, Message: msg})
}
