package rollout

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Reasons a Rollout cannot make progress. Each becomes the reason of a
// condition, the prefix of status.message and the reason of a Warning Event.
const (
	ReasonInvalidSpec          = "InvalidSpec"
	ReasonWorkloadRefNotFound  = "WorkloadRefNotFound"
	ReasonTrafficRouterMissing = "TrafficRouterUnavailable"
	ReasonStepNotSupported     = "StepNotSupported"
	ReasonFieldNotSupported    = "FieldNotSupported"
	ReasonForbidden            = "Forbidden"
	ReasonReplicaSetConflict   = "ReplicaSetNameConflict"
	ReasonReconcileError       = "ReconcileError"
	ReasonProgressDeadline     = "ProgressDeadlineExceeded"
	ReasonRolloutWaiting       = "RolloutWaiting"
	ReasonHashCollision        = "HashCollision"
	ReasonWorkloadStillServing = "WorkloadStillServing"
	ReasonWorkloadScaledDown   = "WorkloadScaledDown"
	ReasonWorkloadNotServing   = "WorkloadNotServing"
)

// Failure is a reason the controller cannot make progress on a Rollout. The
// reconciler turns every Failure, in one place (setFailure), into phase
// Degraded, a condition naming the reason, and a Warning Event.
type Failure struct {
	Reason  string
	Message string
	// Invalid marks a spec error: the InvalidSpec condition is set too.
	Invalid bool
	// Err is the underlying error, when there is one; it is retried.
	Err error
	// Recheck is how soon to look again when nothing watched will say that
	// the cause is gone (default failureRecheck).
	Recheck time.Duration
	// Holdable marks a spec problem the Rollout can wait on without
	// freezing: its steps stop but spec.replicas and abort still apply.
	Holdable bool
	// Held is set once the reconcile did hold that way; the message says so.
	Held bool
}

// heldNote ends the message of a Failure the Rollout is held on.
const heldNote = " Meanwhile the steps wait; spec.replicas (scaling) and abort still apply."

// holdable returns err as a Failure the Rollout can be held on, or nil.
func holdable(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) && !f.Invalid {
		return f
	}
	return nil
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Message }

func (f *Failure) Unwrap() error { return f.Err }

func fail(reason, format string, args ...any) *Failure {
	return &Failure{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// apiFailure explains an API error in terms an operator can act on. Conflicts
// are not failures: they are retried silently.
func apiFailure(action string, err error) error {
	if err == nil || apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return err
	}
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return &Failure{Reason: ReasonReconcileError, Err: err, Message: fmt.Sprintf("could not %s: the namespace is being deleted", action)}
	}
	if apierrors.IsForbidden(err) {
		return &Failure{Reason: ReasonForbidden, Err: err, Message: fmt.Sprintf(
			"the controller is not allowed to %s: %v; grant it in the controller's ClusterRole (config/rbac)", action, err)}
	}
	return &Failure{Reason: ReasonReconcileError, Err: err, Message: fmt.Sprintf("could not %s: %v", action, err)}
}
