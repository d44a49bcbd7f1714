package rollout

import (
	"fmt"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
)

// When a reconcile writes the step before the scale for it (see reconcile),
// and what it announces when an analysis verdict aborts the update.

// deferScale leaves every ReplicaSet and the traffic weight as they are
// in this reconcile; the next one scales from what it reads then.
func deferScale(d *canary.Decision, rd *routing) {
	d.Scale, d.ScaleDownAt, d.RouteWeight = nil, nil, nil
	if rd != nil && rd.weight >= 0 {
		d.RouteWeight = &rd.weight
	}
}

// analysisFailed announces, as upstream does (notification tools key on
// AnalysisRunFailed / AnalysisRunError), the run whose verdict aborted the update.
func analysisFailed(st *v1alpha1.RolloutStatus, n *notes) {
	for _, run := range []*v1alpha1.RolloutAnalysisRunStatus{st.Canary.CurrentStepAnalysisRunStatus,
		st.Canary.CurrentBackgroundAnalysisRunStatus, st.BlueGreen.PrePromotionAnalysisRunStatus, st.BlueGreen.PostPromotionAnalysisRunStatus} {
		if run != nil && (run.Status == v1alpha1.AnalysisPhaseFailed || run.Status == v1alpha1.AnalysisPhaseError) {
			n.warn("AnalysisRun"+string(run.Status), fmt.Sprintf("AnalysisRun %q %s: %s", run.Name, run.Status, run.Message))
			return
		}
	}
}

// stepMovedOn reports whether the plan moved the canary to a later step
// than the status last written says.
func stepMovedOn(prev, cur *v1alpha1.RolloutStatus) bool {
	return prev.CurrentStepIndex != nil && cur.CurrentStepIndex != nil && *cur.CurrentStepIndex > *prev.CurrentStepIndex &&
		prev.CurrentPodHash == cur.CurrentPodHash && !cur.Abort
}

// changesScale reports whether the decision changes any ReplicaSet's
// spec.replicas or a known traffic weight.
func changesScale(obs *observed, d canary.Decision, rd *routing) bool {
	if rd != nil && (rd.weight < 0 || (d.RouteWeight != nil && *d.RouteWeight != rd.weight)) {
		return rd.weight >= 0
	}
	for _, rs := range obs.owned {
		if want, ok := d.Scale[rs.Labels[PodTemplateHashLabel]]; ok && rs.Spec.Replicas != nil && *rs.Spec.Replicas != want {
			return true
		}
	}
	return false
}
