package canary

import (
	"sort"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// slowWorld is a fake cluster where new pods become available one per
// reconcile, so a plan that drops pods before their replacements are ready
// shows as availability below the floor.
type slowWorld struct {
	*world
	minAvail int32
}

func (w *slowWorld) available() int32 {
	var n int32
	for _, r := range w.rs {
		n += r.Available
	}
	return n
}

// step reconciles once with hash as the current template, then makes one
// pending pod available (oldest hash name first). It reports whether
// anything changed.
func (w *slowWorld) step(hash string) bool {
	in := Input{Now: w.now, Replicas: 5, Strategy: w.strategy, Status: w.status, NewHash: hash, Revision: 3, New: w.rs[hash]}
	if s := w.rs[w.status.StableRS]; s != nil && w.status.StableRS != hash {
		in.Stable = s
	}
	hashes := make([]string, 0, len(w.rs))
	for h := range w.rs {
		hashes = append(hashes, h)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(hashes))) // newest first, as the reconciler passes them
	for _, h := range hashes {
		if h != hash && (in.Stable == nil || h != in.Stable.Hash) {
			in.Older = append(in.Older, *w.rs[h])
		}
	}
	d := Plan(in)
	changed := !equalStatus(w.status, d.Status)
	w.status, w.last = d.Status, d
	for h, n := range d.Scale {
		r := w.rs[h]
		if r == nil {
			r = &ReplicaSet{Hash: h}
			w.rs[h] = r
		}
		if r.Replicas != n {
			changed = true
		}
		r.Replicas, r.Current = n, n
		r.Available = min(r.Available, n) // scale-down removes pods; scale-up adds pending ones
	}
	w.minAvail = min(w.minAvail, w.available())
	sort.Strings(hashes)
	for _, h := range hashes {
		if r := w.rs[h]; r.Available < r.Current {
			r.Available++
			changed = true
			break
		}
	}
	w.minAvail = min(w.minAvail, w.available())
	return changed
}

func (w *slowWorld) settle(t *testing.T, hash string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if !w.step(hash) {
			return
		}
	}
	t.Fatal("plan did not converge")
}

// A hot-fix (a third revision) or a rollback arriving while the canary
// serves half the pods must never take the replaced version to zero before
// the pods replacing it are available: 5 replicas, maxUnavailable 25% → at
// least 4 available throughout.
func TestReplacedCanaryDrainsWithinMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name, next string
		canary     int32 // pods of next at its first pause
	}{
		{"hot-fix v3 during the 50% pause", "v3", 1},
		{"rollback to the stable v1 during the 50% pause", "v1", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &slowWorld{world: newWorld(t, seedStrategy()), minAvail: 1 << 30}
			w.settle(t, "v1")
			w.settle(t, "v2")
			w.status.PauseConditions = nil
			w.settle(t, "v2")
			if w.rs["v2"].Available != 3 || w.rs["v1"].Available != 3 {
				t.Fatalf("setup: want 3+3 at the 50%% pause, have v2=%+v v1=%+v", *w.rs["v2"], *w.rs["v1"])
			}
			w.minAvail = w.available()
			w.settle(t, tc.next)
			if w.minAvail < 4 {
				t.Fatalf("available pods dropped to %d, below the floor 4", w.minAvail)
			}
			if w.rs["v2"].Replicas != 0 || w.rs[tc.next].Replicas != tc.canary {
				t.Fatalf("want v2 drained and %s at %d; have v2=%+v %s=%+v (%s %q)", tc.next, tc.canary,
					*w.rs["v2"], tc.next, *w.rs[tc.next], w.last.Phase, w.last.Message)
			}
			if tc.next == "v1" && w.last.Phase != v1alpha1.RolloutPhaseHealthy {
				t.Fatalf("a rollback to the stable ends Healthy, is %s %q", w.last.Phase, w.last.Message)
			}
		})
	}
}

// A Rollout held on a spec problem walks no step and creates no
// ReplicaSet, but follows spec.replicas and abort.
func TestHoldScalesAndAbortsButWalksNoStep(t *testing.T) {
	s := seedStrategy()
	status := func(step int32) v1alpha1.RolloutStatus {
		return v1alpha1.RolloutStatus{StableRS: "v1", CurrentPodHash: "v2", CurrentStepHash: StepsHash(s.Steps), CurrentStepIndex: ptr32(step)}
	}
	t.Run("at rest, the template changed to one that is held: the stable follows spec.replicas", func(t *testing.T) {
		st := status(4)
		st.CurrentPodHash = "v1"
		d := Plan(Input{Replicas: 8, Strategy: s, Status: st, NewHash: "v2", Hold: true,
			Stable: &ReplicaSet{Hash: "v1", Replicas: 5, Current: 5, Available: 5}})
		if _, ok := d.Scale["v2"]; ok || d.Scale["v1"] != 8 {
			t.Fatalf("want v1 scaled to 8 and no v2; scale %v", d.Scale)
		}
	})
	t.Run("mid-canary: an HPA scale-up keeps the step's split, no step is walked", func(t *testing.T) {
		d := Plan(Input{Replicas: 10, Strategy: s, Status: status(2), NewHash: "v2", Hold: true,
			New:    &ReplicaSet{Hash: "v2", Replicas: 1, Current: 1, Available: 1},
			Stable: &ReplicaSet{Hash: "v1", Replicas: 4, Current: 4, Available: 4}})
		if *d.Status.CurrentStepIndex != 2 || d.Scale["v1"] <= 4 {
			t.Fatalf("want step 2 kept and the stable growing toward 10; step %d scale %v", *d.Status.CurrentStepIndex, d.Scale)
		}
	})
	t.Run("abort still aborts", func(t *testing.T) {
		st := status(1)
		st.Abort = true
		d := Plan(Input{Replicas: 5, Strategy: s, Status: st, NewHash: "v2", Hold: true,
			New:    &ReplicaSet{Hash: "v2", Replicas: 1, Current: 1, Available: 1},
			Stable: &ReplicaSet{Hash: "v1", Replicas: 4, Current: 4, Available: 4}})
		if d.Scale["v1"] != 5 || d.Status.AbortedAt == nil {
			t.Fatalf("want the stable back at 5 and abortedAt set; scale %v status %+v", d.Scale, d.Status)
		}
	})
	t.Run("a new Rollout held creates nothing and records no stable", func(t *testing.T) {
		d := Plan(Input{Replicas: 5, Strategy: s, NewHash: "v1", Hold: true})
		if len(d.Scale) != 0 || d.Status.StableRS != "" {
			t.Fatalf("want nothing; scale %v stableRS %q", d.Scale, d.Status.StableRS)
		}
	})
}

// A held canary without steps never completes: the update has not started.
func TestHoldNeverCompletes(t *testing.T) {
	st := v1alpha1.RolloutStatus{StableRS: "v1", CurrentPodHash: "v1"}
	d := Plan(Input{Replicas: 5, Strategy: &v1alpha1.CanaryStrategy{}, Status: st, NewHash: "v2", Hold: true,
		Stable: &ReplicaSet{Hash: "v1", Replicas: 5, Current: 5, Available: 5}})
	if d.Status.StableRS != "v1" || d.Completed {
		t.Fatalf("held: stableRS %q completed %v, want v1 and not completed", d.Status.StableRS, d.Completed)
	}
	if _, ok := d.Scale["v2"]; ok || d.Scale["v1"] != 5 {
		t.Fatalf("held: want v1 kept at 5 and no v2, scale %v", d.Scale)
	}
}
