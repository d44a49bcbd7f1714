package replicas

// StepState is where the rollout stands in its steps, as far as the canary
// weight is concerned.
type StepState struct {
	// PromoteFull is status.promoteFull, set by "promote --full": skip the
	// remaining steps and go to 100%.
	PromoteFull bool
	// NoStableHash is true when status.stableRS is empty, or when it equals
	// status.currentPodHash (the rollout is already on its stable version).
	NoStableHash bool
	// Aborted is status.abort.
	Aborted bool
	// StepsDone is true when status.currentStepIndex is at or after the end of
	// the steps, or the canary strategy has no steps.
	StepsDone bool
	// SetWeight is the setWeight of the current step or of the nearest earlier
	// step that has one. It is nil if no step so far has a setWeight.
	SetWeight *int32
	// Max is the full weight (a traffic router's maxTrafficWeight); 0 is 100.
	Max int32
}

// DesiredWeight is the canary weight for the current step, in Argo's order
// of precedence:
//
//   - promote --full, or no distinct stable → 100;
//   - aborted → 0 (the canary scales to zero and the stable to full);
//   - all steps done → 100;
//   - otherwise the latest setWeight at or before the current step, or 0 if
//     there is none yet (for example a pause before the first setWeight).
//
// Without a traffic router, setCanaryScale steps are ignored (see the package
// documentation).
func DesiredWeight(s StepState) int32 {
	switch {
	case s.PromoteFull || s.NoStableHash:
		return full(s.Max)
	case s.Aborted:
		return 0
	case s.StepsDone:
		return full(s.Max)
	case s.SetWeight != nil:
		return *s.SetWeight
	}
	return 0
}

func full(max int32) int32 {
	if max > 0 {
		return max
	}
	return 100
}

// ActualWeight is the weight Argo reports while steps remain, and the one
// "kubectl argo rollouts get rollout" prints for a basic canary: the canary's
// available pods as a percentage of the available pods of the whole rollout,
// rounded down. Pass the total over every ReplicaSet of the rollout
// (status.availableReplicas). With 3 canary and 3 stable pods available it is
// 50. A ratio against spec.replicas would give 60.
//
// It is 0 when nothing is available. Once all steps are done, Argo reports 100
// whatever the pods are doing.
func ActualWeight(canaryAvailable, totalAvailable int32) int32 {
	if totalAvailable <= 0 || canaryAvailable <= 0 {
		return 0
	}
	return clamp32(int64(canaryAvailable) * 100 / int64(totalAvailable))
}
