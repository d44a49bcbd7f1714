package rollout

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/conditions"
)

// applyScale creates the ReplicaSet of the current template if it is missing
// and sets spec.replicas on every ReplicaSet whose count differs from the plan.
func (r *Reconciler) applyScale(ctx context.Context, ro *v1alpha1.Rollout, obs *observed,
	newRS *appsv1.ReplicaSet, scale map[string]int32, rev int64, n *notes) (*appsv1.ReplicaSet, error) {
	if _, planned := scale[obs.hash]; newRS == nil && !planned {
		// Held, or the scale deferred: no ReplicaSet is created.
	} else if newRS == nil {
		rs, err := r.createReplicaSet(ctx, ro, obs, scale[obs.hash], rev)
		if err != nil {
			return nil, err
		}
		n.scaled(reasonRSCreated, fmt.Sprintf("Created %s (revision %d) with %d replicas", describeRS(rs), rev, scale[obs.hash]))
		obs.owned = append([]*appsv1.ReplicaSet{rs}, obs.owned...)
		newRS = rs
	} else if revision(newRS) < obs.maxRevision() {
		// Back to an earlier template (a rollback): it becomes the newest revision.
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, RevisionAnnotation, strconv.FormatInt(obs.maxRevision()+1, 10))
		if err := r.Patch(ctx, newRS, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return nil, apiFailure("update "+describeRS(newRS), err)
		}
	}
	desired := strconv.Itoa(int(replicasOf(ro)))
	for _, rs := range obs.owned {
		want, ok := scale[rs.Labels[PodTemplateHashLabel]]
		if !ok || rs.Spec.Replicas == nil || *rs.Spec.Replicas == want {
			continue
		}
		from := *rs.Spec.Replicas
		// The Rollout's size rides along, as upstream writes it (its CLI and
		// HPA-aware code read it).
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"replicas":%d}}`, DesiredReplicasAnnotation, desired, want)
		if err := r.Patch(ctx, rs, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return nil, apiFailure("scale "+describeRS(rs), err)
		}
		n.scaled(reasonScaling, fmt.Sprintf("Scaled %s from %d to %d", describeRS(rs), from, want))
	}
	return newRS, nil
}

func (r *Reconciler) createReplicaSet(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, replicas int32, rev int64) (*appsv1.ReplicaSet, error) {
	rs := r.replicaSetFor(ro, obs, replicas, rev)
	err := r.Create(ctx, rs)
	if apierrors.IsAlreadyExists(err) {
		var existing appsv1.ReplicaSet
		// From the API server: the cache holds only ReplicaSets labelled
		// rollouts-pod-template-hash (internal/manager/cache.go), and the one
		// in the way may not be.
		if gerr := r.apiReader().Get(ctx, client.ObjectKeyFromObject(rs), &existing); gerr == nil && !metav1.IsControlledBy(&existing, ro) {
			owner := "no controller"
			if ref := metav1.GetControllerOf(&existing); ref != nil {
				owner = fmt.Sprintf("%s %q", ref.Kind, ref.Name)
			}
			return nil, fail(ReasonReplicaSetConflict, "ReplicaSet %q, the name this Rollout needs for its current template, exists and "+
				"belongs to %s, and its selector or template is not this Rollout's; it may serve pods, so Sluice leaves it alone. "+
				"Rename the Rollout, or move that ReplicaSet's workload to another name", rs.Name, owner)
		}
		return nil, err // our own, not yet in the cache: retry
	}
	if err != nil {
		return nil, apiFailure("create "+describeRS(rs), err)
	}
	return rs, nil
}

// replicaSetFor is the ReplicaSet of the current template as the Rollout
// creates it.
func (r *Reconciler) replicaSetFor(ro *v1alpha1.Rollout, obs *observed, replicas int32, rev int64) *appsv1.ReplicaSet {
	tmpl := obs.template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[PodTemplateHashLabel] = obs.hash
	sel := obs.selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[PodTemplateHashLabel] = obs.hash
	labels := make(map[string]string, len(tmpl.Labels))
	for k, v := range tmpl.Labels {
		labels[k] = v // the ReplicaSet's own labels: without the role's ephemeral ones
	}
	annotations := map[string]string{RevisionAnnotation: strconv.FormatInt(rev, 10), DesiredReplicasAnnotation: strconv.Itoa(int(replicasOf(ro)))}
	injectAntiAffinity(ro, tmpl, obs.hash)
	if md := roleMetadata(ro, obs.hash, obs.hash, ro.Status.StableRS); md != nil {
		syncMetadata(&tmpl.ObjectMeta, nil, md)
		b, _ := json.Marshal(md)
		annotations[EphemeralMetadataAnnotation] = string(b)
	}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ro.Name + "-" + obs.hash,
			Namespace:       ro.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas, MinReadySeconds: ro.Spec.MinReadySeconds, Selector: sel, Template: *tmpl,
		},
	}
}

// scaleDownWorkload carries out spec.workloadRef.scaleDown, and warns — in a
// condition and an Event, not just a log line — while the Deployment still
// serves pods next to the Rollout's own (seed bug #3).
func (r *Reconciler) scaleDownWorkload(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, completed bool, now metav1.Time, n *notes) error {
	st := &ro.Status
	d := obs.deployment
	if d == nil {
		conditions.Remove(st, v1alpha1.RolloutWorkloadStillServing)
		return nil
	}
	st.WorkloadObservedGeneration = strconv.FormatInt(d.Generation, 10)
	current := int32(1)
	if d.Spec.Replicas != nil {
		current = *d.Spec.Replicas
	}
	want := current
	policy := ro.Spec.WorkloadRef.ScaleDown
	switch policy {
	case v1alpha1.ScaleDownOnSuccess:
		if completed {
			want = 0
		}
	case v1alpha1.ScaleDownProgressively:
		want = min(current, max(0, replicasOf(ro)-st.AvailableReplicas))
	}
	if want != current {
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, want)
		if err := r.Patch(ctx, d, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return apiFailure(fmt.Sprintf("scale Deployment %q (spec.workloadRef.scaleDown: %s)", d.Name, policy), err)
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, ReasonWorkloadScaledDown, "Scale",
			"Scaled Deployment %q from %d to %d (spec.workloadRef.scaleDown: %s)", d.Name, current, want, policy)
	}
	if d.Status.AvailableReplicas > 0 && st.AvailableReplicas > 0 && (policy == "" || policy == v1alpha1.ScaleDownNever) {
		msg := fmt.Sprintf("Deployment %q still has %d available pod(s) serving next to this Rollout's %d: "+
			"spec.workloadRef.scaleDown is %q, so Sluice leaves it running. Set spec.workloadRef.scaleDown to onsuccess "+
			"or progressively, or scale the Deployment to 0, so only the Rollout's pods serve",
			d.Name, d.Status.AvailableReplicas, st.AvailableReplicas, cmp.Or(policy, v1alpha1.ScaleDownNever))
		if conditions.Set(st, v1alpha1.RolloutWorkloadStillServing, corev1.ConditionTrue, ReasonWorkloadStillServing, msg, now) {
			n.warn(ReasonWorkloadStillServing, msg)
		}
	} else if conditions.Get(st, v1alpha1.RolloutWorkloadStillServing) != nil {
		conditions.Set(st, v1alpha1.RolloutWorkloadStillServing, corev1.ConditionFalse, ReasonWorkloadNotServing,
			fmt.Sprintf("Deployment %q has no available pods; only the Rollout's pods serve", d.Name), now)
	}
	return nil
}

// cleanupHistory deletes scaled-down ReplicaSets beyond spec.revisionHistoryLimit.
func (r *Reconciler) cleanupHistory(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, newRS *appsv1.ReplicaSet) error {
	limit := 10
	if ro.Spec.RevisionHistoryLimit != nil {
		limit = int(*ro.Spec.RevisionHistoryLimit)
	}
	var old []*appsv1.ReplicaSet
	for _, rs := range obs.owned {
		h := rs.Labels[PodTemplateHashLabel]
		if rs == newRS || h == ro.Status.StableRS || h == ro.Status.CurrentPodHash {
			continue
		}
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas == 0 && rs.Status.Replicas == 0 {
			old = append(old, rs)
		}
	}
	if len(old) <= limit {
		return nil
	}
	sort.Slice(old, func(i, j int) bool { return revision(old[i]) < revision(old[j]) })
	for _, rs := range old[:len(old)-limit] {
		if err := r.Delete(ctx, rs, client.Preconditions{UID: &rs.UID}); client.IgnoreNotFound(err) != nil {
			return apiFailure("delete old "+describeRS(rs), err)
		}
		// Its AnalysisRuns go with it: they are the revision's history.
		var runs v1alpha1.AnalysisRunList
		if err := r.ownedRuns(ctx, ro, &runs); err != nil {
			return err
		}
		for i := range runs.Items {
			run := &runs.Items[i]
			if run.Labels[PodTemplateHashLabel] != rs.Labels[PodTemplateHashLabel] {
				continue
			}
			if err := r.Delete(ctx, run, client.Preconditions{UID: &run.UID}); client.IgnoreNotFound(err) != nil {
				return apiFailure("delete AnalysisRun "+run.Name+" of old "+describeRS(rs), err)
			}
		}
	}
	return nil
}
