package rollout

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/conditions"
)

func canaryRollout(stable, current string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}}}}
	ro.Status.StableRS, ro.Status.CurrentPodHash = stable, current
	return ro
}

func reasons(n notes) string {
	var r []string
	for _, e := range n {
		r = append(r, e.Reason)
	}
	return strings.Join(r, ",")
}

// One Event per step: the ReplicaSet a reconcile creates is told in the
// step Event of that reconcile, under the step's (upstream's) reason.
func TestScaleFoldedIntoTheStepEvent(t *testing.T) {
	var n notes
	n.scaled(reasonRSCreated, `Created ReplicaSet "app-v2" (revision 2) with 1 replicas`)
	n.add(false, "RolloutUpdated", "Rollout updated to revision 2")
	got := foldScaleNotes(canaryRollout("v1", "v2"), n)
	if reasons(got) != "RolloutUpdated" {
		t.Fatalf("events %s, want RolloutUpdated alone", reasons(got))
	}
	if want := `Rollout updated to revision 2; created ReplicaSet "app-v2" (revision 2) with 1 replicas`; got[0].Message != want {
		t.Fatalf("message %q, want %q", got[0].Message, want)
	}
}

// Scaling while a canary update walks its steps, in a reconcile with no
// step Event, is told by the status counts and the next step Event.
func TestScaleBetweenStepsHasNoEventOfItsOwn(t *testing.T) {
	var n notes
	n.scaled(reasonScaling, `Scaled ReplicaSet "app-v1" from 2 to 1`)
	n.warn(ReasonWorkloadStillServing, "still serving") // not a step: left as it is
	got := foldScaleNotes(canaryRollout("v1", "v2"), n)
	if reasons(got) != ReasonWorkloadStillServing {
		t.Fatalf("events %s, want only %s", reasons(got), ReasonWorkloadStillServing)
	}
}

// Outside an update (a resize of a Healthy Rollout, the first revision, an
// abort, blue-green) a scale keeps upstream's own Event.
func TestScaleOutsideAnUpdateKeepsItsEvent(t *testing.T) {
	aborted := canaryRollout("v1", "v2")
	aborted.Status.Abort = true
	blueGreen := canaryRollout("v1", "v2")
	blueGreen.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}
	for name, ro := range map[string]*v1alpha1.Rollout{
		"healthy": canaryRollout("v1", "v1"), "first revision": canaryRollout("", "v1"), "aborted": aborted, "blue-green": blueGreen,
	} {
		var n notes
		n.scaled(reasonScaling, `Scaled ReplicaSet "app-v1" from 2 to 3`)
		if got := foldScaleNotes(ro, n); reasons(got) != reasonScaling {
			t.Errorf("%s: events %s, want %s", name, reasons(got), reasonScaling)
		}
	}
}

func progressingStatus(replicas, available int32) *v1alpha1.RolloutStatus {
	st := &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseProgressing, Message: "updated replicas are still becoming available",
		CurrentPodHash: "v2", StableRS: "v1", Replicas: replicas, UpdatedReplicas: 1, ReadyReplicas: available, AvailableReplicas: available}
	conditions.Set(st, v1alpha1.RolloutProgressing, corev1.ConditionTrue, "ReplicaSetUpdated", "progressing", metav1.NewTime(time.Unix(1000, 0)))
	return st
}

// A status change of pod counts only waits: for the reconcile its own
// ReplicaSet write wakes, or for the end of a short window after the last
// write. Anything else (phase, step, a condition's status) is written at once.
func TestCountsOnlyStatusWritesWait(t *testing.T) {
	k := types.NamespacedName{Namespace: "ns", Name: "app"}
	prev := progressingStatus(2, 2)
	counts := progressingStatus(3, 3)
	conditions.Touch(counts, v1alpha1.RolloutProgressing, metav1.NewTime(time.Unix(1005, 0)))
	var w writeClock

	if _, held := w.hold(k, prev, counts, nil); held {
		t.Fatal("held a counts change with no write in the window and no ReplicaSet written")
	}
	var scaled notes
	scaled.scaled(reasonScaling, "Scaled")
	if wait, held := w.hold(k, prev, counts, scaled); !held || wait != 0 {
		t.Fatalf("after a ReplicaSet write: held %v wait %v, want held until the ReplicaSet's status wakes it", held, wait)
	}
	w.mark(k)
	if wait, held := w.hold(k, prev, counts, nil); !held || wait <= 0 || wait > countsWindow {
		t.Fatalf("within the window: held %v wait %v, want held and requeued within %v", held, wait, countsWindow)
	}
	paused := progressingStatus(2, 2)
	paused.Phase, paused.Message = v1alpha1.RolloutPhasePaused, "CanaryPauseStep"
	step := progressingStatus(2, 2)
	step.CurrentStepIndex = ptr(int32(1))
	unavailable := progressingStatus(2, 2)
	conditions.Set(unavailable, v1alpha1.RolloutAvailable, corev1.ConditionFalse, "AvailableReason", "no", metav1.NewTime(time.Unix(1000, 0)))
	for name, cur := range map[string]*v1alpha1.RolloutStatus{"phase": paused, "step": step, "condition": unavailable} {
		if _, held := w.hold(k, prev, cur, scaled); held {
			t.Errorf("%s change held; it must be written at once", name)
		}
	}
	var stepEvent notes
	stepEvent.add(false, "RolloutStepCompleted", "done")
	if _, held := w.hold(k, prev, counts, stepEvent); held {
		t.Error("held a write whose reconcile announces a step")
	}
	w.forget(k)
	if _, held := w.hold(k, prev, counts, nil); held {
		t.Error("held after forget")
	}
}

// A revision stamped a moment ago is not stamped again by a reconcile whose
// cache lags; and the status the stamp's response carried (newer than the
// cache's) is what the reconcile's own status is compared with, so it does
// not rewrite what the server already holds.
func TestStampRemembered(t *testing.T) {
	k := types.NamespacedName{Namespace: "ns", Name: "app"}
	var w writeClock
	if w.stampedRecently(k, "2") {
		t.Fatal("stamped before any stamp")
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "42"}}
	ro.Status.CurrentPodHash = "v2"
	w.stamped(k, ro, "2")
	if !w.stampedRecently(k, "2") || w.stampedRecently(k, "3") {
		t.Fatal("stampedRecently: want revision 2 only")
	}
	cached := &v1alpha1.RolloutStatus{CurrentPodHash: "v1"}
	if got := w.stored(k, ro, cached); got.CurrentPodHash != "v2" {
		t.Fatalf("stored after a stamp returned %q, want the stamp's status", got.CurrentPodHash)
	}
	if got := w.stored(k, ro, cached); got != cached {
		t.Fatalf("stored a second time returned %+v: the stamp's status is for the reconcile that stamped", got)
	}
	w.stamped(k, ro, "2")
	ro.ResourceVersion = "43" // a later object: the cache's own view counts
	if got := w.stored(k, ro, cached); got != cached {
		t.Fatalf("stored for another resourceVersion returned %+v, want the cached status", got)
	}
	if !w.stampedRecently(k, "2") {
		t.Fatal("the stamp was forgotten with its status")
	}
}
