package rollout

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// ReasonRestartBlocked: a PodDisruptionBudget refused an eviction for
// spec.restartAt; the restart waits and tries again.
const ReasonRestartBlocked = "RestartBlockedByDisruptionBudget"

// restartPods carries out spec.restartAt: every pod created before it is
// evicted (the Eviction API, so PodDisruptionBudgets hold), oldest first,
// never more at once than maxUnavailable (at least one) allows, so the
// ReplicaSets replace them without an outage. When none is left,
// status.restartedAt records it. It returns how many pods it evicted (the
// caller scales nothing down in that reconcile: availability must be read
// after the evictions, not before) and when to look again.
func (r *Reconciler) restartPods(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, now metav1.Time) (int, time.Duration, error) {
	at, st := ro.Spec.RestartAt, &ro.Status
	if at == nil || (st.RestartedAt != nil && !st.RestartedAt.Before(at)) {
		return 0, 0, nil
	}
	if at.After(now.Time) {
		return 0, at.Sub(now.Time), nil
	}
	owned := map[string]bool{}
	var want int32
	for _, rs := range obs.owned {
		owned[rs.Name] = true
		if rs.Spec.Replicas != nil {
			want += *rs.Spec.Replicas
		}
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(ro.Namespace)); err != nil {
		return 0, 0, apiFailure("list pods for spec.restartAt", err)
	}
	// Pods deleted earlier count as unavailable until the cache shows them
	// gone: the cache may lag behind our own deletes.
	pending := r.pendingRestarts(ro.UID)
	seen := map[types.UID]bool{}
	var old []*corev1.Pod
	ready, live, busy := int32(0), int32(0), 0
	for i := range pods.Items {
		p := &pods.Items[i]
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "ReplicaSet" || !owned[ref.Name] {
			continue
		}
		seen[p.UID] = true
		if p.DeletionTimestamp != nil || pending[p.UID] {
			busy++
			continue
		}
		live++
		switch {
		case p.CreationTimestamp.Before(at):
			old = append(old, p)
			if podReady(p) {
				ready++
			}
		case podReady(p):
			ready++
		}
	}
	for uid := range pending {
		if !seen[uid] {
			delete(pending, uid)
		}
	}
	if len(old) == 0 && busy == 0 {
		if live < want {
			// The last evicted pod is gone but its replacement is not
			// there yet: the restart is not done until it is.
			return 0, time.Second, nil
		}
		st.RestartedAt = at.DeepCopy()
		return 0, 0, nil
	}
	unavailable, _ := intstr.GetScaledValueFromIntOrPercent(orDefaultIntstr(maxUnavailableOf(ro)), int(replicasOf(ro)), false)
	budget := max(int32(unavailable), 1) - max(want-ready, 0)
	if len(old) == 0 || budget <= 0 {
		return 0, time.Second, nil // pod and ReplicaSet events wake us as replacements become ready
	}
	sort.Slice(old, func(i, j int) bool { return old[i].CreationTimestamp.Before(&old[j].CreationTimestamp) })
	evicted := 0
	for _, p := range old[:min(int(budget), len(old))] {
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}}
		err := r.SubResource("eviction").Create(ctx, p, ev)
		switch {
		case apierrors.IsTooManyRequests(err):
			// A PodDisruptionBudget says not now: try again shortly, and say so.
			r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, ReasonRestartBlocked, "Restart",
				"A PodDisruptionBudget does not allow evicting pod %q for spec.restartAt yet; retrying", p.Name)
			return evicted, 5 * time.Second, nil
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			continue // gone or replaced already
		case err != nil:
			return evicted, 0, apiFailure(fmt.Sprintf("evict pod %q for spec.restartAt", p.Name), err)
		}
		evicted++
		pending[p.UID] = true
		r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "RestartingPod", "Restart",
			"Restarting pod %q (created before spec.restartAt %s): evicted", p.Name, at.UTC().Format(time.RFC3339))
	}
	return evicted, time.Second, nil
}

func maxUnavailableOf(ro *v1alpha1.Rollout) *intstr.IntOrString {
	if c := ro.Spec.Strategy.Canary; c != nil {
		return c.MaxUnavailable
	}
	return ro.Spec.Strategy.BlueGreen.MaxUnavailable
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// pendingRestarts is the set of pods this process deleted for a Rollout's
// restart and has not yet seen disappear.
func (r *Reconciler) pendingRestarts(uid types.UID) map[types.UID]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.restarts == nil {
		r.restarts = map[types.UID]map[types.UID]bool{}
	}
	if r.restarts[uid] == nil {
		r.restarts[uid] = map[types.UID]bool{}
	}
	return r.restarts[uid]
}
