package canary

import (
	"time"

	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

var w0 = time.Unix(1_000_000, 0)

// Issue 16 #9: a background run that ended Inconclusive holds the update
// where it is — no step taken, nothing scaled, no completion — even for a
// canary without steps, until a person promotes (removes the pause).
func TestBackgroundInconclusiveHolds(t *testing.T) {
	for name, steps := range map[string][]v1alpha1.CanaryStep{
		"no steps":   nil,
		"with steps": {{SetWeight: ptr32(20)}, {SetWeight: ptr32(60)}},
	} {
		t.Run(name, func(t *testing.T) {
			st := v1alpha1.RolloutStatus{StableRS: "old", CurrentPodHash: "new", CurrentStepHash: StepsHash(steps)}
			if len(steps) > 0 {
				st.CurrentStepIndex = ptr(int32(0))
			}
			st.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "bg", Status: v1alpha1.AnalysisPhaseInconclusive}
			AddPause(&st, v1alpha1.PauseReasonInconclusiveAnalysis, w0)
			in := Input{Now: w0, Replicas: 5, Strategy: &v1alpha1.CanaryStrategy{Steps: steps}, Status: st, NewHash: "new", Revision: 2,
				New: &ReplicaSet{Hash: "new", Replicas: 1, Current: 1, Available: 1}, Stable: &ReplicaSet{Hash: "old", Replicas: 4, Current: 4, Available: 4}}
			d := Plan(in)
			if d.Scale["new"] != 1 || d.Scale["old"] != 4 || d.Status.StableRS != "old" || d.Completed || d.Phase != v1alpha1.RolloutPhasePaused {
				t.Fatalf("held: want 1/4 unchanged, Paused, stable old; got %v stable %s phase %s", d.Scale, d.Status.StableRS, d.Phase)
			}
			if len(steps) > 0 && *d.Status.CurrentStepIndex != 0 {
				t.Fatalf("held at step 0, got %d", *d.Status.CurrentStepIndex)
			}
			// Promote: the pause condition is removed; the plan moves again.
			in.Status.PauseConditions = nil
			if d := Plan(in); d.Scale["new"] <= 1 {
				t.Fatalf("after promote the canary should grow, got %v", d.Scale)
			}
		})
	}
}
