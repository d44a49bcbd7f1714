package canary

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary/replicas"
)

func (d *Decision) event(warning bool, reason, msg string) {
	d.Events = append(d.Events, Event{Warning: warning, Reason: reason, Message: msg})
}

// resetUpdate starts the steps again from the first.
func resetUpdate(st *v1alpha1.RolloutStatus) {
	st.CurrentStepIndex = ptr(int32(0))
	st.PauseConditions, st.ControllerPause = nil, false
	st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
}

// StepsHash identifies a list of steps, so an edit of the steps restarts them.
func StepsHash(steps []v1alpha1.CanaryStep) string {
	b, _ := json.Marshal(steps)
	h := fnv.New32a()
	_, _ = h.Write(b)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func setWeightAt(steps []v1alpha1.CanaryStep, idx int32) *int32 {
	for i := min(int(idx), len(steps)-1); i >= 0; i-- {
		if steps[i].SetWeight != nil {
			return steps[i].SetWeight
		}
	}
	return nil
}

func replicaInput(in Input, weight int32, noStable bool) replicas.Input {
	ri := replicas.Input{
		Replicas: in.Replicas, Weight: weight, NoStable: noStable || in.Stable == nil,
		MaxSurge: intOrPercent(in.Strategy.MaxSurge), MaxUnavailable: intOrPercent(in.Strategy.MaxUnavailable),
	}
	if in.New != nil {
		ri.Canary = replicas.RSState{Replicas: in.New.Replicas, Current: in.New.Current, Available: in.New.Available}
	}
	if in.Stable != nil && !ri.NoStable {
		ri.Stable = replicas.RSState{Replicas: in.Stable.Replicas, Current: in.Stable.Current, Available: in.Stable.Available}
	}
	for _, o := range in.Older {
		ri.Older.Replicas += o.Replicas
		ri.Older.Current += o.Current
		ri.Older.Available += o.Available
	}
	if ri.NoStable && in.Stable != nil && in.Stable.Hash != in.NewHash {
		// The previous stable is finished with: it drains like any older set.
		ri.Older.Replicas += in.Stable.Replicas
		ri.Older.Current += in.Stable.Current
		ri.Older.Available += in.Stable.Available
	}
	return ri
}

func intOrPercent(v *intstr.IntOrString) *replicas.IntOrPercent {
	if v == nil {
		return nil
	}
	if v.Type == intstr.Int {
		p := replicas.Pods(v.IntVal)
		return &p
	}
	// Upstream reads every string as a percentage, "25" as well as "25%".
	n, _ := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	p := replicas.Percent(int32(n))
	return &p
}

// olderGone reports that no ReplicaSet but the new one has pods left,
// counting the one that was stable until this decision made stable the new
// one (a routed canary keeps it at full size until then).
func olderGone(in Input, stable string) bool {
	for _, o := range in.Older {
		if o.Replicas > 0 || o.Current > 0 {
			return false
		}
	}
	if in.Stable != nil && in.Stable.Hash != in.NewHash && stable == in.NewHash {
		return in.Stable.Replicas == 0 && in.Stable.Current == 0
	}
	return true
}

// FindPause returns the pause condition with reason r, or nil.
func FindPause(st *v1alpha1.RolloutStatus, r v1alpha1.PauseReason) *v1alpha1.PauseCondition {
	for i := range st.PauseConditions {
		if st.PauseConditions[i].Reason == r {
			return &st.PauseConditions[i]
		}
	}
	return nil
}

func removePause(st *v1alpha1.RolloutStatus, r v1alpha1.PauseReason) {
	out := st.PauseConditions[:0]
	for _, c := range st.PauseConditions {
		if c.Reason != r {
			out = append(out, c)
		}
	}
	st.PauseConditions = out
	if len(out) == 0 {
		st.PauseConditions = nil
	}
}

// DescribeStep names a step in a few words: "setWeight 20", "pause 30s".
func DescribeStep(s *v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight %d", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration != nil:
		return "pause " + s.Pause.Duration.String()
	case s.Pause != nil:
		return "pause"
	case s.Analysis != nil:
		return "analysis"
	case s.SetCanaryScale != nil:
		return "setCanaryScale"
	}
	return "step"
}

// StatusTime is t as status timestamps hold it (whole seconds).
func StatusTime(t time.Time) metav1.Time { return metav1.NewTime(t.Truncate(time.Second)) }

// AddPause pauses the Rollout for reason r from now (the controller's own
// pause: a person's promote removes the condition) and returns the condition.
func AddPause(st *v1alpha1.RolloutStatus, r v1alpha1.PauseReason, now time.Time) *v1alpha1.PauseCondition {
	st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: r, StartTime: StatusTime(now)})
	st.ControllerPause = true
	return &st.PauseConditions[len(st.PauseConditions)-1]
}

func ptr[T any](v T) *T { return &v }
