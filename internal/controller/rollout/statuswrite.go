package rollout

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// When a status write waits. A status is written at once when anything a
// person or a tool acts on changes: the phase, the step, a condition's
// status, reason or message, pause conditions, hashes, observedGeneration.
// A change of only the pod counts (and the Progressing message that says
// which pods it waits for) is a passing moment of an update; it waits when
//
//   - this reconcile created or scaled a ReplicaSet: that ReplicaSet's
//     status changes a moment later (its generation moved) and wakes the
//     next reconcile, which writes the counts then; or
//   - the Rollout's status was written less than countsWindow ago: the
//     counts are written when the window ends (the reconcile is requeued
//     for it), so they are never more than countsWindow late.
//
// Pods that take longer than the window to become ready are so counted as
// they do, one write per change; pods that come up together share a write.
const countsWindow = time.Second

// writeClock remembers, in memory, a Rollout's recent writes: when its
// status was last written (after a restart the first write is never held),
// and the revision annotation stamped on it with the status the stamp's
// response carried (see stamped).
type writeClock struct {
	mu     sync.Mutex
	last   map[types.NamespacedName]time.Time
	stamps map[types.NamespacedName]stamp
}

type stamp struct {
	revision, resourceVersion string
	at                        time.Time
	status                    *v1alpha1.RolloutStatus
}

// cacheLag is how long a write of our own may be missing from the cache.
const cacheLag = 10 * time.Second

// stamped records the revision annotation just written, and the Rollout as
// the API server returned it.
func (w *writeClock) stamped(k types.NamespacedName, ro *v1alpha1.Rollout, revision string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stamps == nil {
		w.stamps = map[types.NamespacedName]stamp{}
	}
	w.stamps[k] = stamp{revision: revision, resourceVersion: ro.ResourceVersion, at: time.Now(), status: ro.Status.DeepCopy()}
}

// stampedRecently reports whether revision was stamped on the Rollout a
// moment ago: a cache that does not show it yet is behind, and a second
// patch would change nothing.
func (w *writeClock) stampedRecently(k types.NamespacedName, revision string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.stamps[k]
	return ok && s.revision == revision && time.Since(s.at) < cacheLag
}

// stored returns the status the API server holds when ro is the object a
// stamp of this reconcile returned (its status is then newer than the
// cache's), else before. The status is kept for that one use only.
func (w *writeClock) stored(k types.NamespacedName, ro *v1alpha1.Rollout, before *v1alpha1.RolloutStatus) *v1alpha1.RolloutStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.stamps[k]
	if !ok || s.status == nil {
		return before
	}
	st := s.status
	s.status = nil
	w.stamps[k] = s
	if s.resourceVersion == ro.ResourceVersion {
		return st
	}
	return before
}

func (w *writeClock) mark(k types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[types.NamespacedName]time.Time{}
	}
	w.last[k] = time.Now()
}

func (w *writeClock) forget(k types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, k)
	delete(w.stamps, k)
}

// hold reports whether the status change from prev to cur may wait, and
// when to look again (0: a watch event will wake the Rollout).
func (w *writeClock) hold(k types.NamespacedName, prev, cur *v1alpha1.RolloutStatus, n notes) (time.Duration, bool) {
	if !n.onlyScaleNotes() || !countsOnly(prev, cur) {
		return 0, false
	}
	if n.scaledReplicaSets() {
		return 0, true
	}
	w.mu.Lock()
	last, ok := w.last[k]
	w.mu.Unlock()
	if since := time.Since(last); ok && since < countsWindow {
		return countsWindow - since, true
	}
	return 0, false
}

// countsOnly reports whether cur differs from prev in the pod counts and
// condition times only (and the message, while both are Progressing).
func countsOnly(prev, cur *v1alpha1.RolloutStatus) bool {
	a, b := prev.DeepCopy(), cur.DeepCopy()
	progressing := a.Phase == v1alpha1.RolloutPhaseProgressing && b.Phase == v1alpha1.RolloutPhaseProgressing
	for _, s := range []*v1alpha1.RolloutStatus{a, b} {
		s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.HPAReplicas = 0, 0, 0, 0, 0
		for i := range s.Conditions {
			s.Conditions[i].LastUpdateTime, s.Conditions[i].LastTransitionTime = metav1.Time{}, metav1.Time{}
		}
		if progressing {
			s.Message = ""
		}
	}
	return equality.Semantic.DeepEqual(a, b)
}
