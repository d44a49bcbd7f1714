package rollout

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
)

// Which Events a reconcile sends. A person reading `kubectl describe
// rollout` wants one Event per step or transition, not one per API write:
// the ReplicaSet a reconcile creates or scales is told in that reconcile's
// step Event when it has one ("Rollout updated to revision 2; created
// ReplicaSet ..."), and scaling between two step Events of a canary update
// (pods moving towards the current step's weight) is told by the status
// counts and the step Event that follows, not by an Event per scale.
// Scaling outside an update (spec.replicas, an HPA, an abort, blue-green)
// keeps upstream's own Events, ScalingReplicaSet and NewReplicaSetCreated.

const (
	reasonScaling   = "ScalingReplicaSet"
	reasonRSCreated = "NewReplicaSetCreated"
)

// stepReasons are the Events that mark a step or transition of an update;
// the ReplicaSet writes of the same reconcile are folded into the first.
var stepReasons = map[string]bool{
	"RolloutUpdated": true, "RolloutStepCompleted": true, "RolloutPaused": true, "RolloutResumed": true,
	"RolloutCompleted": true, "RolloutAborted": true, "RolloutPromoted": true, "SkipSteps": true,
	"ActiveSwitched": true, "AnalysisRunFailed": true, "AnalysisRunError": true,
}

// scaled records a ReplicaSet write as a note; foldScaleNotes decides
// whether it becomes an Event of its own.
func (n *notes) scaled(reason, msg string) { n.add(false, reason, msg) }

func isScaleNote(e canary.Event) bool {
	return e.Reason == reasonScaling || e.Reason == reasonRSCreated
}

// scaledReplicaSets reports whether the reconcile created or scaled a
// ReplicaSet (and so will be woken again when its status catches up).
func (n notes) scaledReplicaSets() bool {
	for _, e := range n {
		if isScaleNote(e) {
			return true
		}
	}
	return false
}

// onlyScaleNotes reports whether every note is a ReplicaSet write.
func (n notes) onlyScaleNotes() bool {
	for _, e := range n {
		if !isScaleNote(e) {
			return false
		}
	}
	return true
}

// foldScaleNotes returns the Events to send for notes: ReplicaSet writes
// folded into the reconcile's first step Event, dropped while a canary
// update walks its steps, else sent as they are.
func foldScaleNotes(ro *v1alpha1.Rollout, n notes) notes {
	host := -1
	var writes []string
	for i, e := range n {
		if isScaleNote(e) {
			writes = append(writes, lowerFirst(e.Message))
		} else if host < 0 && stepReasons[e.Reason] {
			host = i
		}
	}
	if len(writes) == 0 {
		return n
	}
	st := &ro.Status
	walking := ro.Spec.Strategy.Canary != nil && !st.Abort && st.StableRS != "" && st.StableRS != st.CurrentPodHash
	if host < 0 && !walking {
		return n
	}
	out := make(notes, 0, len(n))
	for i, e := range n {
		if isScaleNote(e) {
			continue
		}
		if i == host {
			e.Message = strings.TrimSuffix(e.Message, ".") + "; " + strings.Join(writes, "; ")
		}
		out = append(out, e)
	}
	return out
}

// sendScaleNotes sends the ReplicaSet writes as their own Events: when the
// status write failed, the step Events wait for the next reconcile, but the
// writes happened.
func (r *Reconciler) sendScaleNotes(ro *v1alpha1.Rollout, n notes) {
	for _, e := range n {
		if isScaleNote(e) {
			r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, e.Reason, "Scale", "%s", e.Message)
		}
	}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
