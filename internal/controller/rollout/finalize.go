package rollout

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// HandBackFinalizer holds the deletion of a Rollout that took over a
// Deployment (workloadRef) or points Services at its pod hashes until what
// it took is given back: the Deployment's serving replicas, and Services
// that select every pod of the app again instead of a hash about to vanish.
const HandBackFinalizer = "sluice.dev/hand-back"

// Reasons of the deletion hand-back.
const (
	ReasonHandingBack     = "RolloutDeleting"
	ReasonHandBackTimeout = "HandBackTimedOut"
	ReasonRolloutDeleted  = "RolloutDeleted"
)

// needsHandBack reports whether deleting ro leaves something to give back.
func needsHandBack(ro *v1alpha1.Rollout) bool {
	return ro.Spec.WorkloadRef != nil || len(pinnedServices(ro)) > 0
}

// pinnedServices are the Services Sluice points at pod-template hashes.
func pinnedServices(ro *v1alpha1.Rollout) []string {
	var out []string
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		out = append(out, bg.ActiveService, bg.PreviewService)
	} else if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil {
		out = append(out, c.StableService, c.CanaryService)
	}
	var names []string
	for _, n := range out {
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

// ensureFinalizer adds the hand-back finalizer to a Rollout that needs it
// (one metadata write, once).
func (r *Reconciler) ensureFinalizer(ctx context.Context, ro *v1alpha1.Rollout) error {
	if !needsHandBack(ro) || controllerutil.ContainsFinalizer(ro, HandBackFinalizer) {
		return nil
	}
	before := ro.DeepCopy()
	controllerutil.AddFinalizer(ro, HandBackFinalizer)
	if err := r.Patch(ctx, ro, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return apiFailure("add the "+HandBackFinalizer+" finalizer", err)
	}
	return nil
}

// handBack runs while a Rollout with the finalizer is being deleted: the
// workloadRef Deployment gets spec.replicas back and must have replicas −
// maxUnavailable pods available before the Rollout's pods go; then pinned
// Services stop selecting a pod hash; then the finalizer goes and the
// garbage collector removes the ReplicaSets. It gives up loudly after
// progressDeadlineSeconds (default 600 s) from the deletion.
func (r *Reconciler) handBack(ctx context.Context, ro *v1alpha1.Rollout) (time.Duration, error) {
	if !controllerutil.ContainsFinalizer(ro, HandBackFinalizer) {
		return 0, nil
	}
	if wait, msg, err := r.handBackWorkload(ctx, ro); err != nil || wait {
		if err != nil {
			return 0, err
		}
		deadline := ro.DeletionTimestamp.Add(defaultProgressDeadline)
		if ro.Spec.ProgressDeadlineSeconds != nil {
			deadline = ro.DeletionTimestamp.Add(time.Duration(*ro.Spec.ProgressDeadlineSeconds) * time.Second)
		}
		if r.Now().Before(deadline) {
			r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, ReasonHandingBack, "Delete", "%s", msg)
			return 2 * time.Second, nil
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, ReasonHandBackTimeout, "Delete",
			"%s; gave up after the progress deadline: the Rollout's pods go now", msg)
	}
	for _, name := range pinnedServices(ro) {
		var svc corev1.Service
		err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, &svc)
		if apierrors.IsNotFound(err) || (err == nil && svc.Spec.Selector[PodTemplateHashLabel] == "") {
			continue
		}
		if err != nil {
			return 0, apiFailure(fmt.Sprintf("get Service %q", name), err)
		}
		if err := r.unpinService(ctx, &svc); err != nil {
			return 0, apiFailure(fmt.Sprintf("stop Service %q selecting a pod hash of the deleted Rollout", name), err)
		}
	}
	before := ro.DeepCopy()
	controllerutil.RemoveFinalizer(ro, HandBackFinalizer)
	if err := r.Patch(ctx, ro, client.MergeFrom(before)); apierrors.IsNotFound(err) {
		return 0, nil // gone already: this was a stale read
	} else if err != nil {
		return 0, apiFailure("remove the "+HandBackFinalizer+" finalizer", err)
	}
	r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, ReasonRolloutDeleted, "Delete",
		"Rollout deleted: what it took over was handed back; its ReplicaSets go now")
	return 0, nil
}

// handBackWorkload gives the workloadRef Deployment its replicas back and
// reports whether to wait for them, and why.
func (r *Reconciler) handBackWorkload(ctx context.Context, ro *v1alpha1.Rollout) (bool, string, error) {
	ref := ro.Spec.WorkloadRef
	if ref == nil {
		return false, "", nil
	}
	var d appsv1.Deployment
	err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ref.Name}, &d)
	if apierrors.IsNotFound(err) || (err == nil && d.DeletionTimestamp != nil) {
		return false, "", nil // nothing to give back to (the namespace is going, or the Deployment was deleted)
	}
	if err != nil {
		return false, "", apiFailure(fmt.Sprintf("get Deployment %q (spec.workloadRef)", ref.Name), err)
	}
	want := replicasOf(ro)
	if d.Spec.Replicas == nil || *d.Spec.Replicas < want {
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, want)
		if err := r.Patch(ctx, &d, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return false, "", apiFailure(fmt.Sprintf("give Deployment %q its replicas back", ref.Name), err)
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, ReasonWorkloadScaledDown, "Delete",
			"Scaled Deployment %q back to %d: the Rollout that took it over is being deleted", ref.Name, want)
	}
	unavailable, _ := intstr.GetScaledValueFromIntOrPercent(orDefaultIntstr(maxUnavailableOf(ro)), int(want), false)
	floor := want - int32(unavailable)
	if d.Status.AvailableReplicas < floor || d.Status.ObservedGeneration < d.Generation {
		return true, fmt.Sprintf("waiting for Deployment %q to have %d available pod(s) (has %d) before the Rollout's pods go",
			ref.Name, floor, d.Status.AvailableReplicas), nil
	}
	return false, "", nil
}

// stampRevision keeps the Rollout's rollout.argoproj.io/revision annotation
// at its current ReplicaSet's revision, as upstream writes it (its CLI and
// dashboards read it). One metadata write per revision, before any status
// change of this reconcile (the patch returns the stored object).
func (r *Reconciler) stampRevision(ctx context.Context, ro *v1alpha1.Rollout, newRS *appsv1.ReplicaSet) error {
	if newRS == nil {
		return nil
	}
	want := newRS.Annotations[RevisionAnnotation]
	k := client.ObjectKeyFromObject(ro)
	if want == "" || ro.Annotations[RevisionAnnotation] == want || r.written.stampedRecently(k, want) {
		return nil
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, RevisionAnnotation, want)
	if err := r.Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return apiFailure("annotate the Rollout with its revision", err)
	}
	r.written.stamped(k, ro, want) // its status may be newer than the cache's: Reconcile compares with it
	return nil
}
