// Package bluegreen decides, from what is observed, what a blue-green
// Rollout does next: the new version (preview) comes up beside the active
// one, is checked (prePromotionAnalysis), waits for a person or a timer
// (autoPromotionEnabled / autoPromotionSeconds), then the active Service is
// switched to it at once and the old version is scaled down after
// scaleDownDelaySeconds. It is pure, like internal/canary, whose ReplicaSet,
// Event, Verdict and Decision types it shares.
package bluegreen

import (
	"fmt"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
)

// DefaultScaleDownDelay keeps the old version up after the switch, as upstream.
const DefaultScaleDownDelay = canary.DefaultScaleDownDelay

// Older is a ReplicaSet that is neither new nor active, with the time it may
// be scaled down (zero: not yet set).
type Older struct {
	canary.ReplicaSet
	ScaleDownAt time.Time
}

// Input is everything Plan looks at.
type Input struct {
	Now        time.Time
	Replicas   int32
	Strategy   *v1alpha1.BlueGreenStrategy
	SpecPaused bool
	Status     v1alpha1.RolloutStatus
	NewHash    string
	Revision   int64
	New        *canary.ReplicaSet // nil until created
	Active     *canary.ReplicaSet // the ReplicaSet named by status.stableRS, nil if gone
	Older      []Older
	// PrePromotion judges prePromotionAnalysis; nil when none is configured.
	PrePromotion func() (canary.Verdict, string)
	// PostPromotion judges postPromotionAnalysis, which runs after the
	// active Service was switched; nil when none is configured.
	PostPromotion func() (canary.Verdict, string)
	// FastRollback: the new version is an earlier revision within
	// spec.rollbackWindow; the promotion pause is skipped, as upstream.
	FastRollback bool
}

// Decision is canary's Decision plus what the Services select and which old
// ReplicaSets get a scale-down time.
type Decision struct {
	canary.Decision
	ActiveHash, PreviewHash string
	ScaleDownAt             map[string]time.Time
}

// Plan decides the next step of a blue-green update.
func Plan(in Input) Decision {
	d := Decision{Decision: canary.Decision{Status: *in.Status.DeepCopy(), Scale: map[string]int32{}}, ScaleDownAt: map[string]time.Time{}}
	st := &d.Status
	if st.CurrentPodHash != in.NewHash {
		if st.CurrentPodHash != "" {
			d.note(false, "RolloutUpdated", fmt.Sprintf("Rollout updated to revision %d", in.Revision))
		}
		st.CurrentPodHash = in.NewHash
		st.PauseConditions, st.ControllerPause, st.Abort, st.AbortedAt, st.PromoteFull = nil, false, false, nil, false
	}
	if st.StableRS == "" || in.Active == nil {
		st.StableRS = in.NewHash // first revision (or the active one is gone): it is active at once
	}
	if !st.Abort {
		st.AbortedAt = nil
	}
	d.ActiveHash, d.PreviewHash = st.StableRS, in.NewHash
	d.scaleOlder(in)

	if st.StableRS == in.NewHash {
		st.PauseConditions, st.ControllerPause, st.PromoteFull, st.Abort = nil, false, false, false
		d.Scale[in.NewHash] = in.Replicas
		// As upstream, the new version serving fully available is Healthy
		// while the old one waits out scaleDownDelaySeconds; the message
		// says it waits.
		ready := in.New != nil && in.New.Replicas == in.Replicas && in.New.Available >= in.Replicas && in.New.Current == in.Replicas
		d.Completed = ready && (d.olderGone(in) || d.olderOnlyWaiting(in))
		switch {
		case d.Completed && !d.olderGone(in):
			d.Phase, d.Message = v1alpha1.RolloutPhaseHealthy, "old replicas scale down after scaleDownDelaySeconds"
		case d.Completed:
			d.Phase, d.Message = v1alpha1.RolloutPhaseHealthy, ""
		case in.New == nil || in.New.Available < in.Replicas:
			d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, "updated replicas are still becoming available"
		default:
			d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, "old replicas are pending termination"
		}
		return d
	}

	d.Scale[st.StableRS] = in.Replicas
	// With postPromotionAnalysis the active Service is switched before the
	// new version becomes the stable one: it is on trial.
	onTrial := in.Strategy.PostPromotionAnalysis != nil && in.Status.BlueGreen.ActiveSelector == in.NewHash
	if st.Abort {
		st.PauseConditions, st.ControllerPause = nil, false
		if st.AbortedAt == nil {
			now := canary.StatusTime(in.Now)
			st.AbortedAt = &now
			d.note(true, "RolloutAborted", fmt.Sprintf("Rollout aborted update to revision %d", in.Revision))
		}
		d.Scale[in.NewHash] = d.abortedPreview(in)
		d.Phase, d.Message = v1alpha1.RolloutPhaseDegraded, in.Status.Message
		if !in.Status.Abort || !canary.IsAbortMessage(d.Message) {
			d.Message = canary.AbortMessage(in.Revision, "the active version keeps serving")
		}
		return d
	}

	if onTrial {
		return d.postPromotion(in)
	}

	preview := in.Replicas
	if c := in.Strategy.PreviewReplicaCount; c != nil && !st.PromoteFull {
		preview = *c
	}
	// Never shrink the new version mid-update: once promotion has scaled it
	// up, it stays up (only abort takes it away).
	if in.New != nil && in.New.Replicas > preview {
		preview = min(in.New.Replicas, in.Replicas)
	}
	d.Scale[in.NewHash] = preview
	if in.New == nil || in.New.Replicas < preview || in.New.Available < preview {
		d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, "waiting for the preview ReplicaSet to become available"
		return d
	}
	if !st.PromoteFull && !d.promoted(in) {
		return d
	}
	// Promote: the new version gets every replica, then takes the active Service.
	d.Scale[in.NewHash] = in.Replicas
	if in.New.Replicas != in.Replicas || in.New.Available < in.Replicas {
		d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, "scaling the new version up before the switch"
		return d
	}
	if in.Strategy.PostPromotionAnalysis != nil {
		st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
		d.ActiveHash = in.NewHash
		d.note(false, "ActiveSwitched", fmt.Sprintf("Rollout switched the active Service to revision %d (%s); "+
			"postPromotionAnalysis decides whether it stays, the old version is kept until then", in.Revision, in.NewHash))
		d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, waitingForPostPromotion
		d.Waiting = d.Message
		return d
	}
	d.complete(in, fmt.Sprintf("Rollout switched the active Service to revision %d (%s)", in.Revision, in.NewHash))
	return d
}

const waitingForPostPromotion = "waiting for postPromotionAnalysis"

// postPromotion gates a new version that already serves as active: success
// makes it the stable one, failure switches the active Service back.
func (d *Decision) postPromotion(in Input) Decision {
	st := &d.Status
	d.ActiveHash = in.NewHash
	d.Scale[in.NewHash] = in.Replicas
	v, msg := canary.Wait, ""
	switch {
	case st.PromoteFull:
		v = canary.Advance
	case in.PostPromotion != nil:
		v, msg = in.PostPromotion()
	}
	switch v {
	case canary.Wait:
		d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, waitingForPostPromotion
		d.Waiting = d.Message
		return *d
	case canary.Abort:
		st.Abort = true
		now := canary.StatusTime(in.Now)
		st.AbortedAt = &now
		d.ActiveHash = st.StableRS
		d.Scale[in.NewHash] = d.abortedPreview(in)
		d.Phase, d.Message = v1alpha1.RolloutPhaseDegraded, canary.AbortMessage(in.Revision, msg+"; the active Service is switched back")
		d.note(true, "RolloutAborted", d.Message)
		return *d
	case canary.Pause:
		if canary.FindPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) != nil || !st.ControllerPause {
			if canary.FindPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) == nil {
				canary.AddPause(st, v1alpha1.PauseReasonInconclusiveAnalysis, in.Now)
				d.note(true, "AnalysisInconclusive", msg)
			}
			d.Phase, d.Message = v1alpha1.RolloutPhasePaused, string(v1alpha1.PauseReasonInconclusiveAnalysis)
			return *d
		}
		// a person promoted past the inconclusive run
	}
	d.complete(in, fmt.Sprintf("Rollout revision %d (%s) passed postPromotionAnalysis and is now the stable version", in.Revision, in.NewHash))
	return *d
}

// DefaultAbortScaleDownDelay keeps an aborted new version's pods after the
// abort, as upstream (abortScaleDownDelaySeconds).
const DefaultAbortScaleDownDelay = canary.DefaultAbortScaleDownDelay

// abortedPreview is the aborted new version's pod count (see
// canary.Decision.AbortedReplicas).
func (d *Decision) abortedPreview(in Input) int32 {
	return d.AbortedReplicas(in.Now, in.New, in.Strategy.AbortScaleDownDelaySeconds)
}

// complete makes the new version the stable (and active) one; the old
// version scales down after scaleDownDelaySeconds.
func (d *Decision) complete(in Input, what string) {
	st := &d.Status
	old := st.StableRS
	st.StableRS, st.PauseConditions, st.ControllerPause, st.PromoteFull = in.NewHash, nil, false, false
	d.ActiveHash = in.NewHash
	delay := canary.Seconds(in.Strategy.ScaleDownDelaySeconds, DefaultScaleDownDelay)
	d.ScaleDownAt[old] = in.Now.Add(delay)
	d.Scale[old] = in.Replicas
	d.RequeueAfter = delay
	d.note(false, "RolloutCompleted", fmt.Sprintf("%s; the old version scales down in %v", what, delay))
	d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, "old replicas are pending termination"
}

// promoted runs the gates between a ready preview and the switch:
// prePromotionAnalysis, spec.paused, and the promotion pause.
func (d *Decision) promoted(in Input) bool {
	st := &d.Status
	if in.PrePromotion != nil {
		switch v, msg := in.PrePromotion(); v {
		case canary.Wait:
			d.Phase, d.Message = v1alpha1.RolloutPhaseProgressing, "waiting for prePromotionAnalysis"
			d.Waiting = d.Message
			return false
		case canary.Abort:
			st.Abort = true
			now := canary.StatusTime(in.Now)
			st.AbortedAt = &now
			d.Scale[in.NewHash] = d.abortedPreview(in)
			d.Phase, d.Message = v1alpha1.RolloutPhaseDegraded, canary.AbortMessage(in.Revision, msg)
			d.note(true, "RolloutAborted", d.Message)
			return false
		case canary.Pause:
			if canary.FindPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) == nil {
				if !st.ControllerPause {
					canary.AddPause(st, v1alpha1.PauseReasonInconclusiveAnalysis, in.Now)
					d.note(true, "AnalysisInconclusive", msg)
				} else {
					break // promoted past it
				}
			}
			d.Phase, d.Message = v1alpha1.RolloutPhasePaused, string(v1alpha1.PauseReasonInconclusiveAnalysis)
			return false
		}
	}
	if in.SpecPaused {
		d.Phase, d.Message = v1alpha1.RolloutPhasePaused, "manually paused"
		return false
	}
	auto := in.Strategy.AutoPromotionEnabled == nil || *in.Strategy.AutoPromotionEnabled
	if auto && in.Strategy.AutoPromotionSeconds == 0 {
		return true
	}
	if in.FastRollback {
		// As upstream: a rollback within spec.rollbackWindow skips the
		// promotion pause (prePromotionAnalysis above still gates it).
		return true
	}
	pc := canary.FindPause(st, v1alpha1.PauseReasonBlueGreenPause)
	if pc == nil {
		if st.ControllerPause { // a person removed the pause condition: promote
			return true
		}
		pc = canary.AddPause(st, v1alpha1.PauseReasonBlueGreenPause, in.Now)
		d.note(false, "RolloutPaused", "preview is ready; waiting for promotion")
	}
	if auto {
		if left := pc.StartTime.Add(time.Duration(in.Strategy.AutoPromotionSeconds) * time.Second).Sub(in.Now); left > 0 {
			d.RequeueAfter = left
		} else {
			return true
		}
	}
	d.Phase, d.Message = v1alpha1.RolloutPhasePaused, string(v1alpha1.PauseReasonBlueGreenPause)
	return false
}

// scaleOlder scales ReplicaSets that are neither new nor active to zero once
// their scale-down time has come, and gives one to those without.
func (d *Decision) scaleOlder(in Input) {
	kept := int32(0)
	for _, o := range in.Older { // newest first
		lim := in.Strategy.ScaleDownDelayRevisionLimit
		if o.Replicas > 0 && (lim == nil || kept < *lim) {
			kept++
		} else if o.Replicas > 0 {
			d.Scale[o.Hash] = 0 // beyond scaleDownDelayRevisionLimit: no delay
			continue
		}
		switch {
		case o.Replicas == 0:
		case o.ScaleDownAt.IsZero() || !in.Now.Before(o.ScaleDownAt):
			d.Scale[o.Hash] = 0
		default:
			d.Scale[o.Hash] = o.Replicas
			d.Requeue(o.ScaleDownAt.Sub(in.Now))
			d.Waiting = "waiting for old pods' scale-down delay"
		}
	}
}

// olderOnlyWaiting reports that every older ReplicaSet with pods keeps
// them only until its scale-down deadline.
func (d *Decision) olderOnlyWaiting(in Input) bool {
	for _, o := range in.Older {
		if (o.Replicas > 0 || o.Current > 0) && (o.ScaleDownAt.IsZero() || !in.Now.Before(o.ScaleDownAt)) {
			return false
		}
	}
	return true
}

func (d *Decision) olderGone(in Input) bool {
	for _, o := range in.Older {
		if d.Scale[o.Hash] > 0 || o.Current > 0 {
			return false
		}
	}
	return true
}

func (d *Decision) note(warning bool, reason, msg string) {
	d.Events = append(d.Events, canary.Event{Warning: warning, Reason: reason, Message: msg})
}
