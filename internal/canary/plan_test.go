package canary

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func ptr32(v int32) *int32 { return &v }

func seedStrategy() *v1alpha1.CanaryStrategy {
	return &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{SetWeight: ptr32(20)}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr32(50)}, {Pause: &v1alpha1.RolloutPause{}},
	}}
}

// world is a fake cluster in which scaled pods become available at once.
type world struct {
	t        *testing.T
	now      time.Time
	strategy *v1alpha1.CanaryStrategy
	status   v1alpha1.RolloutStatus
	rs       map[string]*ReplicaSet
	paused   bool
	gate     StepGate
	last     Decision
	// route, when set, is a traffic router that applies what Plan asks at
	// once; scaleDownAt are the deadlines stamped on ReplicaSets.
	route       *Route
	scaleDownAt map[string]time.Time
}

func newWorld(t *testing.T, s *v1alpha1.CanaryStrategy) *world {
	return &world{t: t, now: time.Unix(1_000_000, 0), strategy: s, rs: map[string]*ReplicaSet{}}
}

// settle reconciles until nothing changes, as the controller would.
func (w *world) settle(hash string) Decision {
	for i := 0; i < 50; i++ {
		in := Input{Now: w.now, Replicas: 5, Strategy: w.strategy, Status: w.status, NewHash: hash, Revision: 2,
			SpecPaused: w.paused, New: w.rs[hash], Gate: w.gate, ScaleDownAt: w.scaleDownAt}
		if w.route != nil {
			in.Route = &Route{Weight: w.route.Weight, Max: w.route.Max}
		}
		if s := w.rs[w.status.StableRS]; s != nil && w.status.StableRS != hash {
			in.Stable = s
		}
		for h, r := range w.rs {
			if h != hash && (in.Stable == nil || h != in.Stable.Hash) {
				in.Older = append(in.Older, *r)
			}
		}
		d := Plan(in)
		changed := false
		for h, n := range d.Scale {
			r := w.rs[h]
			if r == nil {
				r = &ReplicaSet{Hash: h}
				w.rs[h] = r
			}
			if r.Replicas != n || r.Available != n {
				changed = true
			}
			r.Replicas, r.Current, r.Available = n, n, n
		}
		if r := d.RouteWeight; r != nil && w.route != nil && *r != w.route.Weight {
			w.route.Weight, changed = *r, true
		}
		for h, at := range d.ScaleDownAt {
			if w.scaleDownAt == nil {
				w.scaleDownAt = map[string]time.Time{}
			}
			w.scaleDownAt[h], changed = at, true
		}
		stChanged := !equalStatus(w.status, d.Status)
		w.status, w.last = d.Status, d
		if !changed && !stChanged {
			return d
		}
	}
	w.t.Fatal("plan did not converge")
	return Decision{}
}

func equalStatus(a, b v1alpha1.RolloutStatus) bool {
	ai, bi := int32(-1), int32(-1)
	if a.CurrentStepIndex != nil {
		ai = *a.CurrentStepIndex
	}
	if b.CurrentStepIndex != nil {
		bi = *b.CurrentStepIndex
	}
	return ai == bi && a.StableRS == b.StableRS && a.CurrentPodHash == b.CurrentPodHash &&
		len(a.PauseConditions) == len(b.PauseConditions) && a.ControllerPause == b.ControllerPause && a.Abort == b.Abort
}

func (w *world) expect(hashNew, hashOld string, canary, stable int32, phase v1alpha1.RolloutPhase, step int32) {
	w.t.Helper()
	d := w.last
	if got := w.rs[hashNew].Replicas; got != canary {
		w.t.Fatalf("canary %d, want %d", got, canary)
	}
	if hashOld != "" && w.rs[hashOld].Replicas != stable {
		w.t.Fatalf("stable %d, want %d", w.rs[hashOld].Replicas, stable)
	}
	if d.Phase != phase || *d.Status.CurrentStepIndex != step {
		w.t.Fatalf("phase %s step %d (%q), want %s step %d", d.Phase, *d.Status.CurrentStepIndex, d.Message, phase, step)
	}
}

func TestSeedSequence(t *testing.T) {
	w := newWorld(t, seedStrategy())
	w.settle("v1")
	w.expect("v1", "", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if !w.last.Completed || w.status.StableRS != "v1" {
		t.Fatalf("first revision must go straight to stable: %+v", w.status)
	}

	w.settle("v2")
	w.expect("v2", "v1", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if w.last.Message != "CanaryPauseStep" || !w.status.ControllerPause {
		t.Fatalf("pause: %q %+v", w.last.Message, w.status)
	}
	w.status.PauseConditions = nil // promote
	w.settle("v2")
	w.expect("v2", "v1", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	w.status.PauseConditions = nil
	w.settle("v2")
	w.expect("v2", "v1", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if w.status.StableRS != "v2" || !w.last.Completed {
		t.Fatalf("promoted canary must become stable: %+v", w.status)
	}
}

func TestAbortThenRetry(t *testing.T) {
	w := newWorld(t, seedStrategy())
	w.settle("v1")
	w.settle("v2")
	w.status.Abort = true
	w.settle("v2")
	w.expect("v2", "v1", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
	if w.last.Message != "RolloutAborted: Rollout aborted update to revision 2" || w.status.AbortedAt == nil {
		t.Fatalf("abort message %q abortedAt %v", w.last.Message, w.status.AbortedAt)
	}
	w.status.Abort = false // retry
	w.settle("v2")
	w.expect("v2", "v1", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if w.status.AbortedAt != nil {
		t.Fatal("retry keeps abortedAt")
	}
}

func TestNewTemplateMidUpdateRestartsSteps(t *testing.T) {
	w := newWorld(t, seedStrategy())
	w.settle("v1")
	w.settle("v2")
	w.status.PauseConditions = nil
	w.settle("v2")
	w.expect("v2", "v1", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	w.settle("v3")
	w.expect("v3", "v1", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if w.rs["v2"].Replicas != 0 {
		t.Fatalf("the replaced canary must scale to 0, has %d", w.rs["v2"].Replicas)
	}
}

func TestTimedPauseAndSpecPaused(t *testing.T) {
	s := seedStrategy()
	d := intstr.FromString("30s")
	s.Steps[1].Pause.Duration = &d
	w := newWorld(t, s)
	w.settle("v1")
	w.settle("v2")
	w.expect("v2", "v1", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if w.last.RequeueAfter != 30*time.Second {
		t.Fatalf("requeue after %v, want 30s", w.last.RequeueAfter)
	}
	w.now = w.now.Add(10 * time.Second)
	w.settle("v2")
	if w.last.RequeueAfter != 20*time.Second {
		t.Fatalf("requeue after %v, want 20s", w.last.RequeueAfter)
	}
	w.paused = true
	w.now = w.now.Add(time.Minute)
	w.settle("v2")
	w.expect("v2", "v1", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if w.last.Message != "manually paused" {
		t.Fatalf("spec.paused message %q", w.last.Message)
	}
	w.paused = false
	w.settle("v2")
	w.expect("v2", "v1", 3, 3, v1alpha1.RolloutPhasePaused, 3)
}

type gate struct{ v Verdict }

func (g gate) Step(int32, *v1alpha1.RolloutAnalysis) (Verdict, string) {
	return g.v, "metric error-rate failed"
}

func TestAnalysisGateVerdicts(t *testing.T) {
	s := &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{SetWeight: ptr32(20)}, {Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "t"}}}},
	}}
	for _, tc := range []struct {
		name  string
		g     StepGate
		phase v1alpha1.RolloutPhase
		step  int32
		c, s  int32
	}{
		{"no gate waits (fail closed)", nil, v1alpha1.RolloutPhaseProgressing, 1, 1, 4},
		{"wait", gate{Wait}, v1alpha1.RolloutPhaseProgressing, 1, 1, 4},
		{"inconclusive pauses", gate{Pause}, v1alpha1.RolloutPhasePaused, 1, 1, 4},
		{"failure aborts", gate{Abort}, v1alpha1.RolloutPhaseDegraded, 0, 0, 5},
		{"success advances", gate{Advance}, v1alpha1.RolloutPhaseHealthy, 2, 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, s)
			w.settle("v1")
			w.gate = tc.g
			w.settle("v2")
			w.expect("v2", "v1", tc.c, tc.s, tc.phase, tc.step)
		})
	}
}

func TestPromoteFullClearsItselfWhenDone(t *testing.T) {
	w := newWorld(t, seedStrategy())
	w.settle("v1")
	w.settle("v2")
	w.status.PromoteFull = true
	w.settle("v2")
	w.expect("v2", "v1", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if w.status.PromoteFull || w.status.StableRS != "v2" {
		t.Fatalf("promote full must end on v2 with promoteFull cleared: %+v", w.status)
	}
}
