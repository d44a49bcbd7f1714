package rehearsal

import (
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func obs(phase v1alpha1.RolloutPhase, hash, stable string, pauses ...v1alpha1.PauseReason) Observation {
	return Observation{Observed: true, Phase: phase, CurrentPodHash: hash, StableRS: stable, PauseReasons: pauses, NewPods: 1}
}

func TestHappyPathWithAbortOnce(t *testing.T) {
	st := &State{StartHash: "old", AbortOnce: true}
	steps := []struct {
		o    Observation
		want Action
	}{
		{obs(v1alpha1.RolloutPhaseHealthy, "old", "old"), Wait}, // controller not caught up
		{Observation{Observed: false, CurrentPodHash: "new"}, Wait},
		{obs(v1alpha1.RolloutPhaseProgressing, "new", "old"), Wait},
		{obs(v1alpha1.RolloutPhasePaused, "new", "old", v1alpha1.PauseReasonCanaryPauseStep), Abort},
		{func() Observation { o := obs(v1alpha1.RolloutPhaseDegraded, "new", "old"); o.Abort = true; return o }(), Wait}, // pods not gone yet
		{func() Observation {
			o := obs(v1alpha1.RolloutPhaseDegraded, "new", "old")
			o.Abort, o.NewPods = true, 0
			return o
		}(), Retry},
		{obs(v1alpha1.RolloutPhasePaused, "new", "old", v1alpha1.PauseReasonCanaryPauseStep), Promote},
		{obs(v1alpha1.RolloutPhasePaused, "new", "old", v1alpha1.PauseReasonCanaryPauseStep), Promote},
		{obs(v1alpha1.RolloutPhaseHealthy, "new", "new"), Passed},
	}
	for i, s := range steps {
		if got, why := Next(st, s.o); got != s.want {
			t.Fatalf("step %d: %s (%s), want %s", i, got, why, s.want)
		}
	}
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Observation
		says string
	}{
		{"inconclusive analysis", obs(v1alpha1.RolloutPhasePaused, "new", "old", v1alpha1.PauseReasonInconclusiveAnalysis), "no data is not success"},
		{"aborted by analysis", func() Observation {
			o := obs(v1alpha1.RolloutPhaseDegraded, "new", "old")
			o.Abort, o.Message = true, `RolloutAborted: AnalysisRun "x" Failed`
			return o
		}(), "aborted by itself"},
		{"degraded", func() Observation {
			o := obs(v1alpha1.RolloutPhaseDegraded, "new", "old")
			o.Message = "TrafficRouterUnavailable: ..."
			return o
		}(), "Degraded: TrafficRouterUnavailable"},
		{"paused by someone", func() Observation {
			o := obs(v1alpha1.RolloutPhasePaused, "new", "old")
			o.SpecPaused = true
			return o
		}(), "spec.paused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Next(&State{StartHash: "old"}, tc.o)
			if got != Failed || !strings.Contains(why, tc.says) {
				t.Fatalf("%s %q, want failed saying %q", got, why, tc.says)
			}
		})
	}
}

func TestAbortOnceWithoutPauses(t *testing.T) {
	got, why := Next(&State{StartHash: "old", AbortOnce: true}, obs(v1alpha1.RolloutPhaseHealthy, "new", "new"))
	if got != Failed || !strings.Contains(why, "nothing to abort") {
		t.Fatalf("%s %q", got, why)
	}
}
