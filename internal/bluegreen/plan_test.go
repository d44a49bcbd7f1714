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
}

func (c *cluster) settle(hash string) {
	for i := 0; i < 20; i++ {
		in := Input{Now: c.now, Replicas: 3, Strategy: c.strategy, Status: c.status, NewHash: hash, Revision: 2, New: c.rs[hash]}
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
	c.now = c.now.Add(DefaultScaleDownDelay)
	c.settle("green")
	if c.rs["blue"].Replicas != 0 || c.last.Phase != v1alpha1.RolloutPhaseHealthy {
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
	if c.last.Phase != v1alpha1.RolloutPhaseDegraded || c.rs["green"].Replicas != 0 || c.last.ActiveHash != "blue" {
		t.Fatalf("abort: %s green=%d active=%s", c.last.Phase, c.rs["green"].Replicas, c.last.ActiveHash)
	}
	c.status.Abort = false // retry: the preview comes back and the timer starts again
	c.settle("green")
	c.now = c.now.Add(time.Minute)
	c.settle("green")
	if c.last.ActiveHash != "green" {
		t.Fatalf("retry then timer: active=%s %s %q", c.last.ActiveHash, c.last.Phase, c.last.Message)
	}
}
