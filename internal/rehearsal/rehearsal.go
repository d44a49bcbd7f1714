// Package rehearsal decides, step by step, how `sluice rehearse` drives a
// Rollout through a real update to an identical pod template: wait, promote
// at each pause, abort once and retry when asked, and stop at the first
// sign that the workflow does not work, such as an analysis with no data.
// The seeds' lesson: a feature is proven only by running its workflow end
// to end. It is pure: the CLI observes, calls Next, and acts.
package rehearsal

import (
	"fmt"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Observation is what the CLI saw of the Rollout on one poll.
type Observation struct {
	// Observed: the controller has acted on the latest spec.
	Observed       bool
	Phase          v1alpha1.RolloutPhase
	Message        string
	CurrentPodHash string
	StableRS       string
	Abort          bool
	PauseReasons   []v1alpha1.PauseReason
	SpecPaused     bool
	// NewPods is the number of available pods of the rehearsed revision.
	NewPods int32
}

// State is what the rehearsal has done so far.
type State struct {
	// StartHash is the stable pod-template hash before the rehearsal.
	StartHash string
	// AbortOnce asks for one abort at the first pause, then a retry.
	AbortOnce bool
	Aborted   bool
	Retried   bool
}

// Action is what to do next.
type Action int

// Actions.
const (
	Wait Action = iota
	Promote
	Abort
	Retry
	Passed
	Failed
)

func (a Action) String() string {
	return [...]string{"wait", "promote", "abort", "retry", "passed", "failed"}[a]
}

// Next decides the next action; the string explains Failed (and says what
// an action does, for the transcript).
func Next(st *State, o Observation) (Action, string) {
	if !o.Observed || o.CurrentPodHash == "" || o.CurrentPodHash == st.StartHash {
		return Wait, "" // the controller has not picked up the rehearsed template yet
	}
	switch {
	case o.Phase == v1alpha1.RolloutPhaseHealthy && o.StableRS == o.CurrentPodHash:
		if st.AbortOnce && !st.Retried {
			return Failed, "the update completed before the first pause, so there was nothing to abort; run without --abort-once"
		}
		return Passed, ""
	case o.Abort && st.Aborted && !st.Retried:
		if o.Phase == v1alpha1.RolloutPhaseDegraded && o.NewPods == 0 {
			st.Retried = true
			return Retry, "the abort worked (the stable version serves everything again): retry"
		}
		return Wait, ""
	case o.Abort:
		return Failed, "the Rollout aborted by itself: " + o.Message
	case o.Phase == v1alpha1.RolloutPhaseDegraded:
		return Failed, "the Rollout is Degraded: " + o.Message
	case o.SpecPaused:
		return Failed, "someone paused the Rollout (spec.paused) during the rehearsal"
	}
	for _, r := range o.PauseReasons {
		if r == v1alpha1.PauseReasonInconclusiveAnalysis {
			return Failed, "an analysis was inconclusive (no data is not success): the metric the Rollout is gated on " +
				"did not answer; check it exists and has traffic (sluice doctor), then rehearse again"
		}
	}
	if o.Phase == v1alpha1.RolloutPhasePaused && len(o.PauseReasons) > 0 {
		if st.AbortOnce && !st.Aborted {
			st.Aborted = true
			return Abort, fmt.Sprintf("at the first pause (%s): abort once", o.PauseReasons[0])
		}
		return Promote, fmt.Sprintf("paused (%s): promote", o.PauseReasons[0])
	}
	return Wait, ""
}
