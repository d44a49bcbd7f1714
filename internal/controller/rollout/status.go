package rollout

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/conditions"
)

const defaultProgressDeadline = 600 * time.Second

// setCounts fills the replica counts the CLI and the scale subresource read.
func (r *Reconciler) setCounts(ro *v1alpha1.Rollout, obs *observed) {
	st := &ro.Status
	st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = 0, 0, 0, 0
	for _, rs := range obs.owned {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
		if rs.Labels[PodTemplateHashLabel] == obs.hash {
			st.UpdatedReplicas = rs.Status.Replicas
		}
	}
	st.HPAReplicas = st.Replicas
	st.Selector = selectorString(obs.selector)
	// A blue-green counts its active ReplicaSet only, as upstream: an HPA
	// scaling on status.selector must not see the preview's pods.
	if ro.Spec.Strategy.BlueGreen != nil {
		if active := obs.byHash(st.BlueGreen.ActiveSelector); active != nil {
			st.HPAReplicas, st.AvailableReplicas, st.ReadyReplicas = active.Status.Replicas, active.Status.AvailableReplicas, active.Status.ReadyReplicas
			st.Selector = selectorString(active.Spec.Selector)
		}
	}
}

// setProgress turns the plan into phase, message and conditions, and
// enforces spec.progressDeadlineSeconds. It returns when to look again for
// the deadline, or 0.
func (r *Reconciler) setProgress(ro *v1alpha1.Rollout, prev *v1alpha1.RolloutStatus, d canary.Decision, rev int64, now metav1.Time, n *notes) time.Duration {
	st := &ro.Status
	st.Phase, st.Message = d.Phase, d.Message
	newRS := fmt.Sprintf("%s-%s", ro.Name, st.CurrentPodHash)
	T, F := corev1.ConditionTrue, corev1.ConditionFalse

	unavailable, _ := intstr.GetScaledValueFromIntOrPercent(orDefaultIntstr(maxUnavailableOf(ro)), int(replicasOf(ro)), false)
	if st.AvailableReplicas >= replicasOf(ro)-int32(unavailable) {
		conditions.Set(st, v1alpha1.RolloutAvailable, T, "AvailableReason", "Rollout has minimum availability", now)
	} else {
		conditions.Set(st, v1alpha1.RolloutAvailable, F, "AvailableReason", "Rollout does not have minimum availability", now)
	}
	if d.Phase == v1alpha1.RolloutPhasePaused {
		conditions.Set(st, v1alpha1.RolloutPausedCondition, T, "RolloutPaused", "Rollout is paused", now)
	} else if conditions.Get(st, v1alpha1.RolloutPausedCondition) != nil {
		conditions.Set(st, v1alpha1.RolloutPausedCondition, F, "RolloutResumed", "Rollout is resumed", now)
	}
	if d.Completed {
		conditions.Set(st, v1alpha1.RolloutHealthy, T, "RolloutHealthy", "Rollout is healthy", now)
		conditions.Set(st, v1alpha1.RolloutCompleted, T, "RolloutCompleted", "Rollout completed update to revision "+st.CurrentPodHash, now)
	} else {
		conditions.Set(st, v1alpha1.RolloutHealthy, F, "RolloutHealthy", "Rollout is not healthy", now)
		conditions.Set(st, v1alpha1.RolloutCompleted, F, "RolloutCompleted", "Rollout not completed, started update to revision "+st.CurrentPodHash, now)
	}

	switch d.Phase {
	case v1alpha1.RolloutPhaseDegraded:
		conditions.Set(st, v1alpha1.RolloutProgressing, F, "RolloutAborted", d.Message, now)
		return 0
	case v1alpha1.RolloutPhasePaused:
		conditions.Set(st, v1alpha1.RolloutProgressing, corev1.ConditionUnknown, "RolloutPaused", "Rollout is paused", now)
		return 0
	case v1alpha1.RolloutPhaseHealthy:
		conditions.Set(st, v1alpha1.RolloutProgressing, T, "NewReplicaSetAvailable",
			fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS), now)
		return 0
	}

	if d.Waiting != "" {
		// Waiting on analysis or a scale-down delay is not pods failing to
		// progress: the deadline starts again once the wait is over.
		conditions.Set(st, v1alpha1.RolloutProgressing, T, ReasonRolloutWaiting,
			fmt.Sprintf("ReplicaSet %q is %s; the progress deadline does not count meanwhile.", newRS, d.Waiting), now)
		return 0
	}
	deadline := defaultProgressDeadline
	if ro.Spec.ProgressDeadlineSeconds != nil {
		deadline = time.Duration(*ro.Spec.ProgressDeadlineSeconds) * time.Second
	}
	c := conditions.Get(st, v1alpha1.RolloutProgressing)
	progressed := c == nil || (c.Reason != "ReplicaSetUpdated" && c.Reason != ReasonProgressDeadline) || moved(prev, st)
	switch {
	case progressed:
		conditions.Set(st, v1alpha1.RolloutProgressing, T, "ReplicaSetUpdated", fmt.Sprintf("ReplicaSet %q is progressing.", newRS), now)
		conditions.Touch(st, v1alpha1.RolloutProgressing, now)
		return deadline
	case c.Reason == ReasonProgressDeadline:
	case now.Sub(c.LastUpdateTime.Time) < deadline:
		return deadline - now.Sub(c.LastUpdateTime.Time)
	default:
		msg := fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS)
		conditions.Set(st, v1alpha1.RolloutProgressing, F, ReasonProgressDeadline, msg, now)
		n.warn(ReasonProgressDeadline, msg)
	}
	c = conditions.Get(st, v1alpha1.RolloutProgressing)
	st.Phase, st.Message = v1alpha1.RolloutPhaseDegraded, ReasonProgressDeadline+": "+c.Message
	if ro.Spec.ProgressDeadlineAbort && !st.Abort {
		st.Abort, st.AbortedAt = true, &now
		st.Message = canary.AbortMessage(rev, "progress deadline exceeded: "+c.Message)
		n.warn("RolloutAborted", st.Message)
		return time.Second
	}
	return 0
}

// moved reports whether the update made progress since the last status.
func moved(prev, cur *v1alpha1.RolloutStatus) bool {
	return prev.Replicas != cur.Replicas || prev.UpdatedReplicas != cur.UpdatedReplicas ||
		prev.ReadyReplicas != cur.ReadyReplicas || prev.AvailableReplicas != cur.AvailableReplicas ||
		prev.CurrentPodHash != cur.CurrentPodHash || !equalIndex(prev.CurrentStepIndex, cur.CurrentStepIndex)
}

func equalIndex(a, b *int32) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func orDefaultIntstr(v *intstr.IntOrString) *intstr.IntOrString {
	if v == nil {
		d := intstr.FromString("25%")
		return &d
	}
	if v.Type == intstr.String && len(v.StrVal) > 0 && v.StrVal[len(v.StrVal)-1] != '%' {
		d := intstr.FromString(v.StrVal + "%")
		return &d
	}
	return v
}
