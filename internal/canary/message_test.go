package canary

import (
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// The status message describes the state a reconcile leaves: the reconcile
// that creates (or grows) the canary says its pods are becoming available,
// so the next reconcile, which reads the ReplicaSet just written, has no
// message of its own to write.
func TestMessageDescribesTheScaleJustPlanned(t *testing.T) {
	w := newWorld(t, seedStrategy())
	w.settle("v1")
	st := w.status
	in := Input{Now: w.now, Replicas: 5, Strategy: w.strategy, Status: st, NewHash: "v2", Revision: 2, Stable: w.rs["v1"]}
	d := Plan(in) // the update starts: no canary ReplicaSet yet
	if d.Scale["v2"] != 1 || d.Phase != v1alpha1.RolloutPhaseProgressing {
		t.Fatalf("plan: scale %v phase %s", d.Scale, d.Phase)
	}
	const want = "updated replicas are still becoming available"
	if d.Message != want {
		t.Fatalf("message when creating the canary %q, want %q", d.Message, want)
	}
	// The next reconcile reads the canary created, its pod not yet available.
	in.Status, in.New = d.Status, &ReplicaSet{Hash: "v2", Replicas: 1, Current: 1}
	if d2 := Plan(in); d2.Message != d.Message || d2.Phase != d.Phase {
		t.Fatalf("the next reconcile rewrites the message: %q -> %q", d.Message, d2.Message)
	}
}
