package bluegreen

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
)

func ptr[T any](v T) *T { return &v }

// cluster is a fake in which scaled pods become available at once.
type cluster struct {
	t        *testing.T
	now      time.Time
	strategy *v1alpha1.BlueGreenStrategy
	status   v1alpha1.RolloutStatus
	rs       map[string]*canary.ReplicaSet
	downAt   map[string]time.Time
	last     Decision
	post     canary.Verdict // what postPromotionAnalysis says, when configured
}

func (c *cluster) settle(hash string) {
	for i := 0; i < 20; i++ {
		in := Input{Now: c.now, Replicas: 3, Strategy: c.strategy, Status: c.status, NewHash: hash, Revision: 2, New: c.rs[hash]}
		if c.strategy.PostPromotionAnalysis != nil {
			in.PostPromotion = func() (canary.Verdict, string) { return c.post, "AnalysisRun \"post\" says so" }
		}
		if a := c.rs[c.status.StableRS]; a != nil && c.status.StableRS != hash {
			in.Active = a
		}
		for h, r := range c.rs {
			if h != hash && (in.Active == nil || h != in.Active.Hash) {
				in.Older = append(in.Older, Older{ReplicaSet: *r, ScaleDownAt: c.downAt[h]})
			}
		}
		d := Plan(in)
		for h, n := range d.Scale {
			if c.rs[h] == nil {
				c.rs[h] = &canary.ReplicaSet{Hash: h}
			}
			c.rs[h].Replicas, c.rs[h].Current, c.rs[h].Available = n, n, n
		}
		for h, at := range d.ScaleDownAt {
			if _, ok := c.downAt[h]; !ok {
				c.downAt[h] = at
			}
		}
		c.status, c.last = d.Status, d
		c.status.BlueGreen.ActiveSelector = d.ActiveHash // as the reconciler records the switch
	}
}

func TestBlueGreenSequence(t *testing.T) {
	c := &cluster{t: t, now: time.Unix(1000, 0), rs: map[string]*canary.ReplicaSet{}, downAt: map[string]time.Time{},
		strategy: &v1alpha1.BlueGreenStrategy{ActiveService: "a", AutoPromotionEnabled: ptr(false), PreviewReplicaCount: ptr(int32(1))}}
	c.settle("blue")
	if c.last.Phase != v1alpha1.RolloutPhaseHealthy || c.last.ActiveHash != "blue" || c.rs["blue"].Replicas != 3 {
		t.Fatalf("first revision: %+v", c.last)
	}
	c.settle("green")
	if c.last.Phase != v1alpha1.RolloutPhasePaused || c.last.Message != "BlueGreenPause" || c.rs["green"].Replicas != 1 ||
		c.last.ActiveHash != "blue" || c.last.PreviewHash != "green" {
		t.Fatalf("preview paused: %s %q green=%d active=%s", c.last.Phase, c.last.Message, c.rs["green"].Replicas, c.last.ActiveHash)
	}
	c.status.PauseConditions = nil // promote
	c.settle("green")
	if c.last.ActiveHash != "green" || c.rs["green"].Replicas != 3 || c.rs["blue"].Replicas != 3 {
		t.Fatalf("switched, blue kept for the delay: active=%s green=%d blue=%d", c.last.ActiveHash, c.rs["green"].Replicas, c.rs["blue"].Replicas)
	}
	// As upstream: green serves fully available, so the Rollout is Healthy
	// while blue waits out its delay, and the message says it waits.
	if c.last.Phase != v1alpha1.RolloutPhaseHealthy || !c.last.Completed || c.last.Message != "old replicas scale down after scaleDownDelaySeconds" {
		t.Fatalf("during the delay: %s %q completed=%v", c.last.Phase, c.last.Message, c.last.Completed)
	}
	c.now = c.now.Add(DefaultScaleDownDelay)
	c.settle("green")
	if c.rs["blue"].Replicas != 0 || c.last.Phase != v1alpha1.RolloutPhaseHealthy || c.last.Message != "" {
		t.Fatalf("after the delay blue goes: blue=%d %s %q", c.rs["blue"].Replicas, c.last.Phase, c.last.Message)
	}
}

func TestBlueGreenAutoPromotionSecondsAndAbort(t *testing.T) {
	c := &cluster{t: t, now: time.Unix(1000, 0), rs: map[string]*canary.ReplicaSet{}, downAt: map[string]time.Time{},
		strategy: &v1alpha1.BlueGreenStrategy{ActiveService: "a", AutoPromotionSeconds: 60}}
	c.settle("blue")
	c.settle("green")
	if c.last.Phase != v1alpha1.RolloutPhasePaused || c.last.RequeueAfter != time.Minute {
		t.Fatalf("auto promotion waits 60s: %s requeue %v", c.last.Phase, c.last.RequeueAfter)
	}
	c.status.Abort = true
	c.settle("green")
	if c.last.Phase != v1alpha1.RolloutPhaseDegraded || c.rs["green"].Replicas != 3 || c.last.ActiveHash != "blue" ||
		c.last.RequeueAfter != DefaultAbortScaleDownDelay {
		t.Fatalf("abort: %s green=%d active=%s requeue %v; want the preview kept for 30s", c.last.Phase, c.rs["green"].Replicas, c.last.ActiveHash, c.last.RequeueAfter)
	}
	c.now = c.now.Add(DefaultAbortScaleDownDelay)
	c.settle("green")
	if c.last.Phase != v1alpha1.RolloutPhaseDegraded || c.rs["green"].Replicas != 0 || c.last.ActiveHash != "blue" {
		t.Fatalf("abort after the delay: %s green=%d active=%s", c.last.Phase, c.rs["green"].Replicas, c.last.ActiveHash)
	}
	c.status.Abort = false // retry: the preview comes back and the timer starts again
	c.settle("green")
	c.now = c.now.Add(time.Minute)
	c.settle("green")
	if c.last.ActiveHash != "green" {
		t.Fatalf("retry then timer: active=%s %s %q", c.last.ActiveHash, c.last.Phase, c.last.Message)
	}
}

func postCluster(t *testing.T, v canary.Verdict) *cluster {
	c := &cluster{t: t, now: time.Unix(1000, 0), rs: map[string]*canary.ReplicaSet{}, downAt: map[string]time.Time{}, post: canary.Wait,
		strategy: &v1alpha1.BlueGreenStrategy{ActiveService: "a", PostPromotionAnalysis: &v1alpha1.RolloutAnalysis{}}}
	c.settle("blue")
	c.settle("green")
	if c.last.ActiveHash != "green" || c.status.StableRS != "blue" || c.last.Message != waitingForPostPromotion ||
		c.rs["blue"].Replicas != 3 || c.rs["green"].Replicas != 3 || len(c.downAt) != 0 {
		t.Fatalf("on trial: active %s stable %s %q blue=%d green=%d deadlines %v; want green active, blue kept at 3 as stable",
			c.last.ActiveHash, c.status.StableRS, c.last.Message, c.rs["blue"].Replicas, c.rs["green"].Replicas, c.downAt)
	}
	c.post = v
	c.settle("green")
	return c
}

// postPromotionAnalysis runs with the new version already active; the old
// one stays up, and stable, until the analysis passes.
func TestPostPromotionSuccess(t *testing.T) {
	c := postCluster(t, canary.Advance)
	if c.status.StableRS != "green" || c.last.ActiveHash != "green" || c.downAt["blue"].IsZero() {
		t.Fatalf("success: stable %s active %s blue deadline %v", c.status.StableRS, c.last.ActiveHash, c.downAt["blue"])
	}
	c.now = c.now.Add(DefaultScaleDownDelay)
	c.settle("green")
	if c.last.Phase != v1alpha1.RolloutPhaseHealthy || c.rs["blue"].Replicas != 0 {
		t.Fatalf("after the delay: %s blue=%d", c.last.Phase, c.rs["blue"].Replicas)
	}
}

// A failed postPromotionAnalysis switches the active Service back; the new
// version's pods go after abortScaleDownDelaySeconds.
func TestPostPromotionFailureSwitchesBack(t *testing.T) {
	c := postCluster(t, canary.Abort)
	if c.last.Phase != v1alpha1.RolloutPhaseDegraded || c.last.ActiveHash != "blue" || c.status.StableRS != "blue" ||
		c.rs["green"].Replicas != 3 || c.rs["blue"].Replicas != 3 {
		t.Fatalf("failure: %s %q active %s stable %s green=%d blue=%d", c.last.Phase, c.last.Message, c.last.ActiveHash,
			c.status.StableRS, c.rs["green"].Replicas, c.rs["blue"].Replicas)
	}
	c.now = c.now.Add(DefaultAbortScaleDownDelay)
	c.settle("green")
	if c.rs["green"].Replicas != 0 || c.last.ActiveHash != "blue" {
		t.Fatalf("after the abort delay: green=%d active %s", c.rs["green"].Replicas, c.last.ActiveHash)
	}
}

// Inconclusive pauses for a person, with the new version active; promote
// completes it.
func TestPostPromotionInconclusivePausesThenPromote(t *testing.T) {
	c := postCluster(t, canary.Pause)
	if c.last.Phase != v1alpha1.RolloutPhasePaused || c.last.ActiveHash != "green" || c.status.StableRS != "blue" {
		t.Fatalf("inconclusive: %s active %s stable %s", c.last.Phase, c.last.ActiveHash, c.status.StableRS)
	}
	c.status.PauseConditions = nil // promote
	c.settle("green")
	if c.status.StableRS != "green" || c.last.ActiveHash != "green" {
		t.Fatalf("promoted past inconclusive: stable %s active %s %s %q", c.status.StableRS, c.last.ActiveHash, c.last.Phase, c.last.Message)
	}
}

// scaleDownDelayRevisionLimit: only that many old versions (newest first,
// the order the reconciler passes them) wait out scaleDownDelaySeconds;
// older ones go at once.
func TestScaleDownDelayRevisionLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	in := Input{Now: now, Replicas: 3, NewHash: "v3", Revision: 3,
		Strategy: &v1alpha1.BlueGreenStrategy{ActiveService: "a", ScaleDownDelayRevisionLimit: ptr(int32(1))},
		Status:   v1alpha1.RolloutStatus{StableRS: "v3", CurrentPodHash: "v3"},
		New:      &canary.ReplicaSet{Hash: "v3", Replicas: 3, Current: 3, Available: 3},
		Older: []Older{
			{ReplicaSet: canary.ReplicaSet{Hash: "v2", Replicas: 3, Current: 3, Available: 3}, ScaleDownAt: now.Add(20 * time.Second)},
			{ReplicaSet: canary.ReplicaSet{Hash: "v1", Replicas: 3, Current: 3, Available: 3}, ScaleDownAt: now.Add(10 * time.Second)},
		}}
	d := Plan(in)
	if d.Scale["v2"] != 3 || d.Scale["v1"] != 0 {
		t.Fatalf("limit 1: want v2 kept (3) and v1 gone (0), have %v", d.Scale)
	}
	in.Strategy.ScaleDownDelayRevisionLimit = nil
	if d := Plan(in); d.Scale["v1"] != 3 {
		t.Fatalf("no limit: every old version waits its delay, have %v", d.Scale)
	}
}

// rollbackWindow: a rollback within the window skips the promotion pause
// (as upstream); prePromotionAnalysis, when configured, still gates it.
func TestFastRollbackSkipsThePause(t *testing.T) {
	in := Input{Now: time.Unix(1000, 0), Replicas: 3, NewHash: "v1", Revision: 3, FastRollback: true,
		Strategy: &v1alpha1.BlueGreenStrategy{ActiveService: "a", AutoPromotionEnabled: ptr(false)},
		Status:   v1alpha1.RolloutStatus{StableRS: "v2", CurrentPodHash: "v1"},
		New:      &canary.ReplicaSet{Hash: "v1", Replicas: 3, Current: 3, Available: 3},
		Active:   &canary.ReplicaSet{Hash: "v2", Replicas: 3, Current: 3, Available: 3}}
	if d := Plan(in); d.ActiveHash != "v1" || d.Phase == v1alpha1.RolloutPhasePaused {
		t.Fatalf("fast rollback: want the switch to v1 without a pause, have active %s, %s %q", d.ActiveHash, d.Phase, d.Message)
	}
	in.PrePromotion = func() (canary.Verdict, string) { return canary.Wait, "" }
	if d := Plan(in); d.ActiveHash != "v2" {
		t.Fatalf("prePromotionAnalysis still gates a fast rollback: active %s", d.ActiveHash)
	}
	in.PrePromotion, in.FastRollback = nil, false
	if d := Plan(in); d.ActiveHash != "v2" || d.Message != "BlueGreenPause" {
		t.Fatalf("outside the window: want the pause, have active %s %q", d.ActiveHash, d.Message)
	}
}
