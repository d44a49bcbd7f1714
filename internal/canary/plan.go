// Package canary decides, from what is observed, what a canary Rollout does
// next: which step it is on, whether it waits for a person or a timer, how many
// pods each ReplicaSet gets, and what phase and message an operator sees. It is
// pure (state in, plan out) so every decision is table-tested; the reconciler
// only reads the API, calls Plan, and writes the result.
package canary

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary/replicas"
	"github.com/sluice-dev/sluice/internal/validation"
)

// ReplicaSet is one observed ReplicaSet of the Rollout.
type ReplicaSet struct {
	Hash      string // rollouts-pod-template-hash
	Replicas  int32  // spec.replicas
	Current   int32  // status.replicas
	Available int32  // status.availableReplicas
}

// Event is something worth telling the operator through a Kubernetes Event.
type Event struct {
	Warning bool
	Reason  string
	Message string
}

// Input is everything Plan looks at.
type Input struct {
	Now        time.Time
	Replicas   int32 // spec.replicas, defaulted
	Strategy   *v1alpha1.CanaryStrategy
	SpecPaused bool
	// Status is the status as last written; Plan returns an updated copy.
	Status v1alpha1.RolloutStatus
	// NewHash is the pod-template hash of the current template; Revision its
	// revision number (for messages).
	NewHash  string
	Revision int64
	New      *ReplicaSet // nil until created
	Stable   *ReplicaSet // the ReplicaSet named by status.stableRS, nil if gone
	Older    []ReplicaSet
	// FastRollback: the current template is an earlier revision within
	// spec.rollbackWindow, so its steps are skipped, as upstream.
	FastRollback bool
	// Hold keeps the Rollout where it is while it is Degraded for a reason in
	// its spec (an unsupported step, a missing template, a name conflict):
	// no step is walked and no ReplicaSet is created, but spec.replicas (an
	// HPA's /scale) and abort still apply to the ReplicaSets that exist.
	Hold bool
	// Gate judges analysis steps; nil means there is no analysis support and
	// an analysis step holds the Rollout (fail closed).
	Gate StepGate
	// Route is set when a traffic router carries the split.
	Route *Route
	// ScaleDownAt holds the scale-down deadlines already stamped on old
	// ReplicaSets (routed canaries only), by pod-template hash.
	ScaleDownAt map[string]time.Time
}

// Verdict is what a gate says about the current step.
type Verdict int

// Gate verdicts.
const (
	Wait    Verdict = iota // not decided yet: stay on the step
	Advance                // passed: go to the next step
	Pause                  // inconclusive: pause for a person (promote continues, abort aborts)
	Abort                  // failed: abort the update
)

// StepGate decides analysis steps. message explains Pause and Abort.
type StepGate interface {
	Step(index int32, step *v1alpha1.RolloutAnalysis) (v Verdict, message string)
}

// Decision is what Plan wants done.
type Decision struct {
	Status       v1alpha1.RolloutStatus // strategy fields updated; counts and conditions are the caller's
	Scale        map[string]int32       // pod-template hash → spec.replicas
	Phase        v1alpha1.RolloutPhase
	Message      string
	Completed    bool // the current revision is stable and fully available
	RequeueAfter time.Duration
	Events       []Event
	// RouteWeight is the canary weight the router must carry (routed only).
	RouteWeight *int32
	// ScaleDownAt are new scale-down deadlines to stamp on old ReplicaSets.
	ScaleDownAt map[string]time.Time
	// Waiting says what the update waits on that is not pods progressing (an
	// AnalysisRun, a scale-down delay); "" when it waits on pods. The
	// progress deadline does not count while it is set, as upstream.
	Waiting string
}

// Plan walks the canary steps from the observed state.
func Plan(in Input) Decision {
	d := Decision{Status: *in.Status.DeepCopy(), Scale: map[string]int32{}}
	st := &d.Status
	steps := in.Strategy.Steps
	nSteps := int32(len(steps))

	if st.CurrentPodHash != in.NewHash {
		if st.CurrentPodHash != "" {
			d.event(false, "RolloutUpdated", fmt.Sprintf("Rollout updated to revision %d", in.Revision))
		}
		st.CurrentPodHash = in.NewHash
		resetUpdate(st)
	}
	if sh := StepsHash(steps); st.CurrentStepHash != sh {
		if st.CurrentStepHash != "" {
			resetUpdate(st)
		}
		st.CurrentStepHash = sh
	}
	if st.StableRS == "" && (!in.Hold || in.New != nil) {
		st.StableRS = in.NewHash // the first revision goes straight to full scale
	}
	noStable := st.StableRS == in.NewHash || in.Stable == nil
	idx := int32(0)
	if st.CurrentStepIndex != nil {
		idx = min(max(*st.CurrentStepIndex, 0), nSteps)
	}
	if noStable {
		idx = nSteps
		st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
	}

	if !st.Abort {
		st.AbortedAt = nil // retried
	}
	paused := false
	hold := BackgroundHold(st)
	switch {
	case st.Abort:
		idx = 0
		st.PauseConditions, st.ControllerPause = nil, false
		if st.AbortedAt == nil {
			now := StatusTime(in.Now)
			st.AbortedAt = &now
			d.event(true, "RolloutAborted", fmt.Sprintf("Rollout aborted update to revision %d", in.Revision))
		}
	case st.PromoteFull:
		if idx < nSteps {
			d.event(false, "RolloutPromoted", "Rollout fully promoted: remaining steps skipped")
		}
		idx = nSteps
		st.PauseConditions, st.ControllerPause = nil, false
	case in.FastRollback && !in.Hold:
		if idx < nSteps {
			d.event(false, "SkipSteps", fmt.Sprintf("Rollback to revision %d within spec.rollbackWindow: steps skipped", in.Revision))
		}
		idx = nSteps
		st.PauseConditions, st.ControllerPause = nil, false
	case hold:
		paused = true // no step is taken until a person promotes or aborts
	case in.Hold:
		paused = len(st.PauseConditions) > 0 || in.SpecPaused
	default:
		idx, paused = walk(in, &d, idx)
	}
	if nSteps > 0 {
		st.CurrentStepIndex = ptr(idx)
	} else {
		st.CurrentStepIndex = nil
	}

	weight := replicas.DesiredWeight(replicas.StepState{
		PromoteFull: st.PromoteFull, NoStableHash: noStable, Aborted: st.Abort,
		StepsDone: idx >= nSteps, SetWeight: setWeightAt(steps, idx), Max: in.Route.max(),
	})
	if in.Hold && in.New == nil && !noStable {
		weight = 0 // no canary will be created: the stable keeps every pod
	}
	rin := replicaInput(in, weight, noStable)
	var next replicas.Plan
	var settled bool
	if in.Route != nil {
		planRouted(in, &d, idx, weight, noStable)
		next.Canary = d.Scale[in.NewHash]
		settled = routedSettled(in, weight, nil)
	} else {
		next = replicas.Compute(rin)
		d.Scale[in.NewHash] = next.Canary
		if !noStable {
			d.Scale[in.Stable.Hash] = next.Stable
		}
		older := make([]replicas.RSState, len(in.Older))
		for i, o := range in.Older { // newest first: drain the oldest first
			older[len(older)-1-i] = replicas.RSState{Replicas: o.Replicas, Current: o.Current, Available: o.Available}
		}
		for i, n := range replicas.DrainOlder(rin, older) {
			d.Scale[in.Older[len(older)-1-i].Hash] = n
		}
		settled = replicas.Settled(rin)
	}
	if hold && !st.Abort && !st.PromoteFull {
		freeze(in, &d)
		settled = false
	}

	if in.Hold && in.New == nil {
		delete(d.Scale, in.NewHash) // never create a ReplicaSet while held
	}
	// A fully promoted canary becomes the stable (never while held).
	if !noStable && !st.Abort && !in.Hold && idx >= nSteps && settled {
		st.StableRS = in.NewHash
		st.PromoteFull = false
		noStable = true
		d.event(false, "RolloutCompleted", fmt.Sprintf("Rollout completed update to revision %d (%s)", in.Revision, in.NewHash))
	}
	d.Completed = noStable && in.New != nil && in.New.Replicas == in.Replicas &&
		in.New.Available >= in.Replicas && in.New.Current == in.Replicas && olderGone(in, st.StableRS)
	d.Phase, d.Message = phase(in, st, paused, d.Completed, next, d.Message)
	if r := d.RouteWeight; r != nil && *r != in.Route.Weight && d.Message == waitingForSteps {
		d.Message = fmt.Sprintf("waiting for the traffic router to carry canary weight %d%% (now %d%%)", *r, in.Route.Weight)
	}
	return d
}

// BackgroundHold reports that the background AnalysisRun ended Inconclusive
// and paused the update (pause reason InconclusiveAnalysisRun) and no one
// has promoted yet: the Rollout then stays exactly where it is.
func BackgroundHold(st *v1alpha1.RolloutStatus) bool {
	bg := st.Canary.CurrentBackgroundAnalysisRunStatus
	return bg != nil && bg.Status == v1alpha1.AnalysisPhaseInconclusive && FindPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) != nil
}

// freeze keeps every ReplicaSet at its current size and the route at its
// current weight: a held update neither advances nor completes, even
// without steps (where the plan would otherwise go straight to 100%).
func freeze(in Input, d *Decision) {
	if in.New != nil {
		d.Scale[in.NewHash] = in.New.Replicas
	} else {
		d.Scale[in.NewHash] = 0
	}
	if in.Stable != nil && in.Stable.Hash != in.NewHash {
		d.Scale[in.Stable.Hash] = in.Stable.Replicas
	}
	for _, o := range in.Older {
		d.Scale[o.Hash] = o.Replicas
	}
	if in.Route != nil {
		d.RouteWeight = ptr(in.Route.Weight)
	}
}

// walk advances through the steps that are done, stopping at the first one
// that must wait. It reports the step index and whether the Rollout is paused.
func walk(in Input, d *Decision, idx int32) (int32, bool) {
	st := &d.Status
	steps := in.Strategy.Steps
	for idx < int32(len(steps)) {
		s := &steps[idx]
		if in.SpecPaused {
			return idx, true
		}
		switch {
		case s.SetWeight != nil:
			w := *s.SetWeight
			if in.Route != nil {
				if !routedSettled(in, w, canaryScaleAt(steps, idx)) {
					return idx, false
				}
			} else if !replicas.Settled(replicaInput(in, w, false)) {
				return idx, false
			}
		case s.Pause != nil:
			pc := FindPause(st, v1alpha1.PauseReasonCanaryPauseStep)
			if pc == nil {
				if st.ControllerPause { // a person removed the pause condition: promote
					st.ControllerPause = false
					d.event(false, "RolloutResumed", fmt.Sprintf("Rollout resumed at step %d/%d", idx, len(steps)))
					break
				}
				pc = AddPause(st, v1alpha1.PauseReasonCanaryPauseStep, in.Now)
				d.event(false, "RolloutPaused", fmt.Sprintf("Rollout paused at step %d/%d (%s)", idx, len(steps), DescribeStep(s)))
			}
			if s.Pause.Duration == nil {
				return idx, true
			}
			dur, _ := validation.PauseDuration(s.Pause.Duration)
			if left := pc.StartTime.Add(dur).Sub(in.Now); left > 0 {
				d.RequeueAfter = left
				return idx, true
			}
			removePause(st, v1alpha1.PauseReasonCanaryPauseStep)
			st.ControllerPause = false
		case s.Analysis != nil:
			if in.Gate == nil {
				return idx, false
			}
			switch v, msg := in.Gate.Step(idx, s.Analysis); v {
			case Wait:
				d.Waiting = fmt.Sprintf("waiting for the analysis at step %d/%d", idx, len(steps))
				return idx, false
			case Pause:
				if FindPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) == nil {
					if st.ControllerPause { // promoted past the inconclusive run
						st.ControllerPause = false
						break
					}
					AddPause(st, v1alpha1.PauseReasonInconclusiveAnalysis, in.Now)
					d.event(true, "AnalysisInconclusive", msg)
				}
				return idx, true
			case Abort:
				st.Abort = true
				now := StatusTime(in.Now)
				st.AbortedAt = &now
				d.Message = AbortMessage(in.Revision, msg)
				d.event(true, "RolloutAborted", fmt.Sprintf("Rollout aborted update to revision %d: %s", in.Revision, msg))
				return 0, false
			}
		default: // setCanaryScale and the steps Sluice rejects up front
		}
		idx++
		d.event(false, "RolloutStepCompleted", fmt.Sprintf("Rollout step %d/%d completed (%s)", idx, len(steps), DescribeStep(s)))
	}
	return idx, false
}

func phase(in Input, st *v1alpha1.RolloutStatus, paused, completed bool, next replicas.Plan, abortMsg string) (v1alpha1.RolloutPhase, string) {
	switch {
	case st.Abort && abortMsg != "":
		return v1alpha1.RolloutPhaseDegraded, abortMsg
	case st.Abort:
		if prev := in.Status.Message; in.Status.Abort && IsAbortMessage(prev) {
			return v1alpha1.RolloutPhaseDegraded, prev
		}
		return v1alpha1.RolloutPhaseDegraded, fmt.Sprintf("%sRollout aborted update to revision %d", abortPrefix, in.Revision)
	case in.SpecPaused && !completed:
		return v1alpha1.RolloutPhasePaused, "manually paused"
	case paused && len(st.PauseConditions) > 0:
		return v1alpha1.RolloutPhasePaused, string(st.PauseConditions[0].Reason)
	case completed:
		return v1alpha1.RolloutPhaseHealthy, ""
	case available(in.New) < next.Canary:
		// What this reconcile leaves: the canary at the size just planned for
		// it, its new pods not yet available. (Describing the moment before
		// the scale would be rewritten by the next reconcile a moment later.)
		return v1alpha1.RolloutPhaseProgressing, "updated replicas are still becoming available"
	case !olderGone(in, st.StableRS) || (in.Stable != nil && st.StableRS != in.Stable.Hash && in.Stable.Current > 0):
		return v1alpha1.RolloutPhaseProgressing, "old replicas are pending termination"
	}
	return v1alpha1.RolloutPhaseProgressing, waitingForSteps
}

const waitingForSteps = "waiting for all steps to complete"

func available(rs *ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return rs.Available
}

const abortPrefix = "RolloutAborted: "

// IsAbortMessage reports whether msg is an aborted Rollout's status message.
func IsAbortMessage(msg string) bool { return strings.HasPrefix(msg, abortPrefix) }

// AbortMessage is the status message of an aborted Rollout.
func AbortMessage(revision int64, why string) string {
	return fmt.Sprintf("%sRollout aborted update to revision %d: %s", abortPrefix, revision, why)
}
