package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/conditions"
)

// ReasonStableRepaired: status.stableRS named a ReplicaSet that no longer
// exists and was pointed at the one that serves.
const ReasonStableRepaired = "StableReplicaSetRepaired"

// repairStable points status.stableRS at a ReplicaSet that exists when the
// one it names was deleted (by a person, a GC policy, a restore). Without
// this the planner would see "no stable" and promote the canary in flight
// at once, with no analysis, and keep naming the deleted hash forever.
//
// The replacement is the ReplicaSet that serves: of the Rollout's other
// ReplicaSets, the one with the most available pods (then the most asked
// for, then the newest). Only when no other ReplicaSet is left does the
// current one become stable: it is then the only version running, and the
// Rollout says so.
func repairStable(ro *v1alpha1.Rollout, obs *observed, newRS *appsv1.ReplicaSet, now metav1.Time, n *notes) {
	st := &ro.Status
	lost := st.StableRS
	if lost == "" || lost == obs.hash || obs.byHash(lost) != nil {
		return
	}
	var best *appsv1.ReplicaSet
	for _, rs := range obs.owned { // newest revision first
		if rs == newRS || rs.DeletionTimestamp != nil {
			continue
		}
		if best == nil || servesMore(rs, best) {
			best = rs
		}
	}
	var msg string
	if best != nil && (best.Status.AvailableReplicas > 0 || specReplicas(best) > 0) {
		st.StableRS = best.Labels[PodTemplateHashLabel]
		msg = fmt.Sprintf("the stable ReplicaSet %s-%s (status.stableRS) no longer exists; ReplicaSet %q (revision %d, %d available pod(s)) "+
			"serves and is now recorded as stable, so the update in flight keeps walking its steps against it",
			ro.Name, lost, best.Name, revision(best), best.Status.AvailableReplicas)
	} else {
		st.StableRS = obs.hash
		msg = fmt.Sprintf("the stable ReplicaSet %s-%s (status.stableRS) no longer exists and no other ReplicaSet of this Rollout "+
			"has pods: the current template (revision %d) is the only version left, so it is taken as stable and scaled to "+
			"spec.replicas without its steps; the next update walks its steps again", ro.Name, lost, revisionOf(newRS, obs))
	}
	conditions.Set(st, v1alpha1.RolloutStableRepaired, corev1.ConditionTrue, ReasonStableRepaired, msg, now)
	n.warn(ReasonStableRepaired, msg)
}

// servesMore orders ReplicaSets by how much they serve now.
func servesMore(a, b *appsv1.ReplicaSet) bool {
	if a.Status.AvailableReplicas != b.Status.AvailableReplicas {
		return a.Status.AvailableReplicas > b.Status.AvailableReplicas
	}
	if specReplicas(a) != specReplicas(b) {
		return specReplicas(a) > specReplicas(b)
	}
	return revision(a) > revision(b)
}

func specReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func revisionOf(rs *appsv1.ReplicaSet, obs *observed) int64 {
	if rs != nil {
		return revision(rs)
	}
	return obs.maxRevision() + 1
}

// clearServingDeadlines removes scale-down deadlines from the ReplicaSets
// that serve (the current and the stable/active one). A deadline belongs to
// a ReplicaSet traffic has left; one left behind on a version that serves
// again (after a rollback or an abort) would otherwise make the next switch
// away from it kill its pods at once, with no delay at all.
func (r *Reconciler) clearServingDeadlines(ctx context.Context, obs *observed, hashes ...string) error {
	for _, h := range hashes {
		rs := obs.byHash(h)
		if rs == nil || rs.Annotations[scaleDownAtAnnotation] == "" {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, scaleDownAtAnnotation)
		if err := r.Patch(ctx, rs, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return apiFailure("remove the scale-down deadline of "+describeRS(rs), err)
		}
		delete(rs.Annotations, scaleDownAtAnnotation)
	}
	return nil
}

// withinRollbackWindow reports a rollback to a ReplicaSet made before the
// stable one with fewer than spec.rollbackWindow.revisions ReplicaSets made
// between them, as upstream counts it: its steps are skipped.
func withinRollbackWindow(ro *v1alpha1.Rollout, obs *observed, newRS *appsv1.ReplicaSet) bool {
	w := ro.Spec.RollbackWindow
	stable := obs.byHash(ro.Status.StableRS)
	if w == nil || w.Revisions <= 0 || newRS == nil || stable == nil || newRS == stable || !madeBefore(newRS, stable) {
		return false
	}
	between := int32(0)
	for _, rs := range obs.owned {
		if madeBefore(newRS, rs) && madeBefore(rs, stable) {
			between++
		}
	}
	return between < w.Revisions
}

// madeBefore orders ReplicaSets by creation, then (within the same second)
// by revision.
func madeBefore(a, b *appsv1.ReplicaSet) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return revision(a) < revision(b)
}
