package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The seeds' canary, step by step, with the numbers their runbook shows:
// 1+4 at step 1, 3+3 (6 pods) at step 3, 5+0 Healthy; scaleDown: onsuccess
// leaves the Helm-style Deployment at 0; a Deployment template change starts
// each revision.
func TestSeedCanaryWithWorkloadRef(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	dep := deployment(ns, "litellm", "litellm:v1.82.3", 1)
	create(t, env, dep, workloadRollout(ns, "litellm", "litellm", "onsuccess", 5, seedSteps()))

	ro := expectCanary(t, env, ns, "litellm", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	firstHash := ro.Status.CurrentPodHash
	if ro.Status.StableRS != firstHash {
		t.Fatalf("first revision must be stable at once: stableRS %q, current %q", ro.Status.StableRS, firstHash)
	}
	waitDeploymentReplicas(t, env, ns, "litellm", 0)
	sampler := sampleAvailability(t, env, ns, "litellm")

	patchSpec(t, env, dep, `{"spec":{"template":{"spec":{"containers":[{"name":"litellm","image":"litellm:v1.83.14"}]}}}}`)
	ro = expectCanary(t, env, ns, "litellm", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	st := ro.Status
	if st.CurrentPodHash == firstHash || st.StableRS != firstHash {
		t.Fatalf("image bump must be a new revision next to the old stable: current %q stable %q", st.CurrentPodHash, st.StableRS)
	}
	if st.Message != "CanaryPauseStep" || !st.ControllerPause || len(st.PauseConditions) != 1 ||
		st.PauseConditions[0].Reason != v1alpha1.PauseReasonCanaryPauseStep {
		t.Fatalf("paused status wrong: message %q controllerPause %v pauseConditions %+v", st.Message, st.ControllerPause, st.PauseConditions)
	}
	if st.Replicas != 5 || st.UpdatedReplicas != 1 || st.AvailableReplicas != 5 || st.ReadyReplicas != 5 || st.HPAReplicas != 5 {
		t.Fatalf("counts at step 1: replicas %d updated %d ready %d available %d", st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas)
	}
	if rss := replicaSets(t, env, ns, "litellm"); rss[st.CurrentPodHash].Revision != "2" {
		t.Fatalf("canary ReplicaSet should be revision 2: %s", describeRS(rss))
	}
	expectStepEvents(t, env, ns, "litellm", st.CurrentPodHash)

	promote(t, env, ns, "litellm")
	ro = expectCanary(t, env, ns, "litellm", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	if st := ro.Status; st.Replicas != 6 || st.UpdatedReplicas != 3 || st.AvailableReplicas != 6 {
		t.Fatalf("counts at step 3 must be the 6-pod state: replicas %d updated %d available %d", st.Replicas, st.UpdatedReplicas, st.AvailableReplicas)
	}
	time.Sleep(2 * time.Second) // the 3+3 state holds for the whole pause
	expectCanary(t, env, ns, "litellm", 3, 3, v1alpha1.RolloutPhasePaused, 3)

	promote(t, env, ns, "litellm")
	ro = expectCanary(t, env, ns, "litellm", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if ro.Status.StableRS != ro.Status.CurrentPodHash || ro.Status.Message != "" {
		t.Fatalf("after the last promote the canary must be stable: %+v", ro.Status)
	}
	if rss := replicaSets(t, env, ns, "litellm"); rss[firstHash].Spec != 0 {
		t.Fatalf("old ReplicaSet not scaled to 0: %s", describeRS(rss))
	}
	waitDeploymentReplicas(t, env, ns, "litellm", 0)
	sampler.check(t, 4)
}

// Abort at step 1 sends every pod back to stable and says so; retry starts
// the steps again.
func TestAbortAndRetry(t *testing.T) {
	env, ns, sampler := startSeedUpdate(t)
	expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhasePaused, 1)

	abort(t, env, ns, "web")
	got := expectCanary(t, env, ns, "web", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)
	if !strings.HasPrefix(got.Status.Message, "RolloutAborted: ") || !got.Status.Abort || got.Status.AbortedAt == nil {
		t.Fatalf("aborted status wrong: message %q abort %v abortedAt %v", got.Status.Message, got.Status.Abort, got.Status.AbortedAt)
	}
	if c := condition(got, v1alpha1.RolloutProgressing); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "RolloutAborted" {
		t.Fatalf("Progressing condition after abort: %+v", c)
	}

	retry(t, env, ns, "web")
	got = expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if got.Status.AbortedAt != nil {
		t.Fatalf("retry must clear abortedAt")
	}
	sampler.check(t, 4)
}

// promote --full skips the remaining steps.
func TestPromoteFull(t *testing.T) {
	env, ns, sampler := startSeedUpdate(t)
	first := expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	promoteFull(t, env, ns, "web")
	got := expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if got.Status.StableRS != first.Status.CurrentPodHash || got.Status.PromoteFull {
		t.Fatalf("promote full must end on the new revision with promoteFull cleared: %+v", got.Status)
	}
	sampler.check(t, 4)
}

// A timed pause moves on by itself; spec.paused holds the Rollout until unset.
func TestTimedPauseAndSpecPaused(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	steps := []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(40))}, {Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("2s"))}},
		{SetWeight: ptr(int32(80))}, {Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromInt32(1))}},
	}
	ro := templateRollout(ns, "web", "web:1", 5, steps)
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	sampler := sampleAvailability(t, env, ns, "web")

	start := time.Now()
	patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:2"}]}}}}`)
	expectCanary(t, env, ns, "web", 2, 3, v1alpha1.RolloutPhasePaused, 1)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("timed pauses of 2s and 1s were skipped: whole update took %v", took)
	}

	patchSpec(t, env, ro, `{"spec":{"paused":true,"template":{"spec":{"containers":[{"name":"web","image":"web:3"}]}}}}`)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "web")
		return got.Status.Phase == v1alpha1.RolloutPhasePaused && got.Status.Message == "manually paused" &&
			got.Status.ObservedGeneration == "3", "phase " + string(got.Status.Phase) + " " + got.Status.Message
	})
	time.Sleep(3 * time.Second) // longer than the timed pause: spec.paused must hold it
	if got := getRollout(t, env, ns, "web"); *got.Status.CurrentStepIndex != 0 || got.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("spec.paused did not hold the Rollout: step %d phase %s", *got.Status.CurrentStepIndex, got.Status.Phase)
	}
	patchSpec(t, env, ro, `{"spec":{"paused":false}}`)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	sampler.check(t, 4)
}

// Killing the controller mid-pause and starting it again resumes at the same
// step with the same pods and no extra ReplicaSet.
func TestControllerRestartMidPause(t *testing.T) {
	env, ns, sampler := startSeedUpdate(t)
	before := expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	rsBefore := describeRS(replicaSets(t, env, ns, "web"))

	env.StopController()
	time.Sleep(time.Second)
	env.StartController()
	time.Sleep(2 * time.Second)
	after := expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if rsAfter := describeRS(replicaSets(t, env, ns, "web")); rsAfter != rsBefore {
		t.Fatalf("ReplicaSets changed across a restart:\nbefore %s\nafter  %s", rsBefore, rsAfter)
	}
	if !after.Status.PauseConditions[0].StartTime.Equal(&before.Status.PauseConditions[0].StartTime) {
		t.Fatalf("pause start time changed across a restart")
	}
	promote(t, env, ns, "web")
	expectCanary(t, env, ns, "web", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	sampler.check(t, 4)
}

// Seed bug #3: with the default scaleDown (never) the Deployment keeps
// serving next to the Rollout; Sluice says so in a condition and an Event.
func TestWorkloadStillServingWarning(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	create(t, env, deployment(ns, "litellm", "litellm:1", 1), workloadRollout(ns, "litellm", "litellm", "", 5, seedSteps()))
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		ro := getRollout(t, env, ns, "litellm")
		c := condition(ro, v1alpha1.RolloutWorkloadStillServing)
		if c == nil || c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, `Deployment "litellm"`) ||
			!strings.Contains(c.Message, "spec.workloadRef.scaleDown") {
			return false, "no WorkloadStillServing condition yet: " + ro.Status.Message
		}
		for _, e := range warningEvents(t, env, ns, "litellm") {
			if e.Reason == "WorkloadStillServing" {
				return true, ""
			}
		}
		return false, "no WorkloadStillServing Warning event yet"
	})
	// Scaling the Deployment away by hand clears the warning.
	var dep appsv1.Deployment
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "litellm"}, &dep); err != nil {
		t.Fatal(err)
	}
	patchSpec(t, env, &dep, `{"spec":{"replicas":0}}`)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		c := condition(getRollout(t, env, ns, "litellm"), v1alpha1.RolloutWorkloadStillServing)
		return c != nil && c.Status == corev1.ConditionFalse, "condition still True"
	})
}

// An update that cannot progress (canary pods never schedule) is reported
// as ProgressDeadlineExceeded, and with progressDeadlineAbort it aborts.
func TestProgressDeadline(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "web", "web:1", 4, seedSteps())
	ro.Spec.ProgressDeadlineSeconds = ptr(int32(3))
	ro.Spec.ProgressDeadlineAbort = true
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 4, 0, v1alpha1.RolloutPhaseHealthy, 4)
	patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"nodeSelector":{"no-such-node":"true"}}}}}`)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "web")
		return got.Status.Abort && strings.Contains(got.Status.Message, "progress deadline exceeded"), got.Status.Message
	})
	got := expectCanary(t, env, ns, "web", 0, 4, v1alpha1.RolloutPhaseDegraded, 0)
	if !strings.HasPrefix(got.Status.Message, "RolloutAborted: ") {
		t.Fatalf("message %q", got.Status.Message)
	}
	found := false
	for _, e := range warningEvents(t, env, ns, "web") {
		found = found || e.Reason == "ProgressDeadlineExceeded"
	}
	if !found {
		t.Fatal("no ProgressDeadlineExceeded Warning event")
	}
}

func waitDeploymentReplicas(t *testing.T, env *testenv.Env, ns, name string, want int32) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
			return false, err.Error()
		}
		return *d.Spec.Replicas == want && d.Status.AvailableReplicas == want, "deployment replicas " + string(rune('0'+*d.Spec.Replicas))
	})
}

// Old revisions beyond revisionHistoryLimit are deleted with their AnalysisRuns.
func TestRevisionHistoryLimit(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "web", "web:1", 2, nil)
	ro.Spec.RevisionHistoryLimit = ptr(int32(1))
	create(t, env, ro)
	for i := 2; i <= 4; i++ {
		expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, -1)
		patchSpec(t, env, ro, `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:`+string(rune('0'+i))+`"}]}}}}`)
		time.Sleep(300 * time.Millisecond)
	}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		rss := replicaSets(t, env, ns, "web")
		return len(rss) == 2, "want the current and 1 old ReplicaSet, have " + describeRS(rss)
	})
}

// spec.restartAt replaces every pod, a few at a time, without an outage.
func TestRestartAt(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "web", "web:1", 4, nil)
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 4, 0, v1alpha1.RolloutPhaseHealthy, -1)
	sampler := sampleAvailability(t, env, ns, "web")
	time.Sleep(1100 * time.Millisecond) // pods created strictly before restartAt
	at := metav1.Now().Rfc3339Copy()
	patchSpec(t, env, ro, `{"spec":{"restartAt":"`+at.UTC().Format(time.RFC3339)+`"}}`)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "web")
		return got.Status.RestartedAt != nil && got.Status.RestartedAt.Equal(&at), "restartedAt not set yet"
	})
	pods, err := env.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live++
			if p.CreationTimestamp.Before(&at) {
				t.Fatalf("pod %s predates restartAt", p.Name)
			}
		}
	}
	if live != 4 {
		t.Fatalf("want 4 live pods after the restart, have %d", live)
	}
	expectCanary(t, env, ns, "web", 4, 0, v1alpha1.RolloutPhaseHealthy, -1)
	sampler.check(t, 3)
}

// startSeedUpdate deploys a 5-replica Rollout with the seed steps, starts the
// availability sampler, and bumps the image so the canary begins.
func startSeedUpdate(t *testing.T) (*testenv.Env, string, *availabilitySampler) {
	t.Helper()
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "web", "web:1", 5, seedSteps())
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	sampler := sampleAvailability(t, env, ns, "web")
	bump(t, env, ro, "web:2")
	return env, ns, sampler
}

// scaleDown: progressively hands serving over as the Rollout's pods become
// available: the Deployment ends at 0 and never drops faster than the
// Rollout comes up.
func TestWorkloadScaleDownProgressively(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	dep := deployment(ns, "app", "app:1", 4)
	create(t, env, dep)
	waitDeploymentReplicas(t, env, ns, "app", 4)
	create(t, env, workloadRollout(ns, "app", "app", "progressively", 4, seedSteps()))
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		// Read the Deployment first: the Rollout's pods can only have become
		// more available by the time their ReplicaSets are read.
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app"}, &d); err != nil {
			return false, err.Error()
		}
		var available int32
		for _, rs := range replicaSets(t, env, ns, "app") {
			available += rs.Available
		}
		if *d.Spec.Replicas+available < 4 {
			t.Fatalf("Deployment scaled to %d while the Rollout's ReplicaSets had only %d available", *d.Spec.Replicas, available)
		}
		ro := getRollout(t, env, ns, "app")
		return *d.Spec.Replicas == 0 && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy,
			fmt.Sprintf("deployment %d, rollout %s with %d available", *d.Spec.Replicas, ro.Status.Phase, ro.Status.AvailableReplicas)
	})
}

// expectStepEvents checks the Events of an update from its start to the
// pause at step 1/4: one per step, upstream's reasons. The canary's
// ReplicaSet is told in the RolloutUpdated Event of the reconcile that
// created it; scaling the stable down towards the step's weight has no
// Event of its own (the status counts and RolloutStepCompleted tell it).
func expectStepEvents(t *testing.T, env *testenv.Env, ns, name, canaryHash string) {
	t.Helper()
	want := map[string]string{
		"RolloutUpdated":       fmt.Sprintf(`Rollout updated to revision 2; created ReplicaSet "%s-%s" (revision 2) with 1 replicas`, name, canaryHash),
		"RolloutStepCompleted": "Rollout step 1/4 completed (setWeight 20)",
		"RolloutPaused":        "Rollout paused at step 1/4 (pause)",
		"NewReplicaSetCreated": "(revision 1) with 5 replicas", // the first revision: no update, its own Event
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Rollout,involvedObject.name=" + name})
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]int{}
		var all []string
		for _, e := range list.Items {
			all = append(all, e.Reason+": "+e.Message)
			if _, ok := want[e.Reason]; ok && strings.Contains(e.Message, want[e.Reason]) {
				seen[e.Reason]++
			}
			if e.Reason == "ScalingReplicaSet" {
				return false, "a ScalingReplicaSet Event during the steps: " + e.Message
			}
		}
		for r := range want {
			if seen[r] != 1 {
				return false, fmt.Sprintf("%d %s Event(s) saying %q; events: %s", seen[r], r, want[r], strings.Join(all, " | "))
			}
		}
		return true, ""
	})
}
