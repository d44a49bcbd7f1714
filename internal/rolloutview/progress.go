package rolloutview

import (
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Progress is where a Rollout is for someone waiting on it (`sluice status`):
// the controller's phase, except that a request the controller has not acted
// on yet — a new spec or workloadRef template, a promote, an abort, a retry —
// reads as Progressing, so a CI job that just changed the Rollout never
// mistakes the status from before its change for the answer.
//
// workloadGeneration is metadata.generation of the Deployment named by
// spec.workloadRef, or 0 when unknown or not used.
func Progress(ro *v1alpha1.Rollout, workloadGeneration int64) (v1alpha1.RolloutPhase, string) {
	phase, msg := Phase(ro)
	if phase == v1alpha1.RolloutPhaseProgressing {
		return phase, msg
	}
	st := &ro.Status
	pending := ""
	switch {
	case workloadGeneration > 0 && st.WorkloadObservedGeneration != "" &&
		st.WorkloadObservedGeneration != strconv.FormatInt(workloadGeneration, 10):
		pending = "waiting for the workloadRef Deployment's update to be observed"
	case st.Abort && phase != v1alpha1.RolloutPhaseDegraded:
		pending = "abort requested; waiting for the controller"
	case !st.Abort && phase == v1alpha1.RolloutPhaseDegraded && strings.HasPrefix(msg, "RolloutAborted"):
		pending = "retry requested; waiting for the controller"
	case st.PromoteFull && phase != v1alpha1.RolloutPhaseHealthy:
		pending = "full promotion requested; waiting for the controller"
	case phase == v1alpha1.RolloutPhasePaused && len(st.PauseConditions) == 0 && !ro.Spec.Paused:
		pending = "promotion requested; waiting for the controller"
	case phase == v1alpha1.RolloutPhaseHealthy && ro.Spec.Paused:
		// paused while at rest: Healthy until the next update, which it holds
	}
	if pending != "" {
		return v1alpha1.RolloutPhaseProgressing, pending
	}
	return phase, msg
}
