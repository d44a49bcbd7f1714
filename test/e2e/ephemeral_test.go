package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// canaryMetadata / stableMetadata, as upstream: canary pods carry the
// canary's labels, stable pods the stable's, and on promotion the pods that
// become stable are relabelled in place (same pods, no restart), so a
// Service or dashboard selecting role=stable follows the promotion.
func TestEphemeralMetadataFollowsTheRole(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "app", "app:1", 5, seedSteps())
	ro.Spec.Strategy.Canary.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
	ro.Spec.Strategy.Canary.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	waitRoles(t, env, ns, map[string]int{"stable": 5})

	setImage(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	waitRoles(t, env, ns, map[string]int{"canary": 1, "stable": 4})
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	canaryPods := podsWithRole(t, env, ns, "canary")
	waitRoles(t, env, ns, map[string]int{"canary": 3, "stable": 3})

	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	waitRoles(t, env, ns, map[string]int{"stable": 5})
	stable := podsWithRole(t, env, ns, "stable")
	for _, p := range strings.Split(canaryPods, ",") {
		if !strings.Contains(stable, p) {
			t.Fatalf("canary pod %s was replaced instead of relabelled in place (stable pods now: %s)", p, stable)
		}
	}
}

func podsWithRole(t *testing.T, env *testenv.Env, ns, role string) string {
	t.Helper()
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"role": role}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func waitRoles(t *testing.T, env *testenv.Env, ns string, want map[string]int) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		var pods corev1.PodList
		if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		have := map[string]int{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				have[p.Labels["role"]]++
			}
		}
		return fmt.Sprint(have) == fmt.Sprint(want), fmt.Sprintf("pods by role: have %v, want %v", have, want)
	})
}

// spec.rollbackWindow: going back to a revision within the window skips the
// steps (the pods are there to be scaled up again), as upstream; going back
// further walks them.
func TestRollbackWindowSkipsSteps(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "app", "app:1", 4, seedSteps())
	ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 4, 0, v1alpha1.RolloutPhaseHealthy, 4)
	release := func(image string) {
		t.Helper()
		time.Sleep(1100 * time.Millisecond) // creation times a second apart, as upstream orders by them
		setImage(t, env, ro, image)
		expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
		promoteFull(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 4, 0, v1alpha1.RolloutPhaseHealthy, 4)
	}
	release("app:2")
	release("app:3")
	// Back to app:1: app:2 was made between it and the stable app:3, so it
	// is outside a window of 1 revision: the steps are walked.
	setImage(t, env, ro, "app:1")
	expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	// Back to app:2 instead, the revision just before the stable: within
	// the window, the steps are skipped.
	setImage(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 4, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if !hasEvent(t, env, ns, "app", "SkipSteps", "rollbackWindow") {
		t.Fatal("no SkipSteps event")
	}
}

// spec.strategy.canary.antiAffinity: the new version's pods avoid the
// stable version's nodes (the rule upstream writes), and the injected rule
// never makes the template look changed (no extra ReplicaSet).
func TestAntiAffinityOnTheCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "app", "app:1", 3, seedSteps())
	ro.Spec.Strategy.Canary.AntiAffinity = &v1alpha1.AntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredAntiAffinity{Weight: 50}}
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 3, 0, v1alpha1.RolloutPhaseHealthy, 4)
	for i, image := range []string{"app:2", "app:3"} {
		setImage(t, env, ro, image)
		got := expectCanary(t, env, ns, "app", 1, 3, v1alpha1.RolloutPhasePaused, 1)
		var rs appsv1.ReplicaSet
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-" + got.Status.CurrentPodHash}, &rs); err != nil {
			t.Fatal(err)
		}
		a := rs.Spec.Template.Spec.Affinity
		if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
			a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchExpressions[0].Values[0] != got.Status.StableRS {
			t.Fatalf("canary template affinity: %+v", a)
		}
		promoteFull(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 3, 0, v1alpha1.RolloutPhaseHealthy, 4)
		time.Sleep(time.Second) // and nothing more is created
		if n := len(replicaSets(t, env, ns, "app")); n != i+2 {
			t.Fatalf("want %d ReplicaSets, have %d: %s", i+2, n, describeRS(replicaSets(t, env, ns, "app")))
		}
	}
}

// rollbackWindow on a blue-green: rolling back to the version just before
// the active one switches without waiting for a promote, as upstream.
func TestBlueGreenRollbackWindowSkipsThePause(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	create(t, env, service(ns, "active", "app"), service(ns, "preview", "app"))
	ro := blueGreenRollout(ns, "app", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview",
		AutoPromotionEnabled: ptr(false), ScaleDownDelaySeconds: ptr(int32(60))})
	ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
	create(t, env, ro)
	only := func(r *v1alpha1.Rollout) map[string]int32 { return map[string]int32{r.Status.CurrentPodHash: 2} }
	v1 := waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, only).Status.StableRS
	time.Sleep(1100 * time.Millisecond) // creation times a second apart
	setImage(t, env, ro, "app:2")
	waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhasePaused, only)
	promote(t, env, ns, "app")
	v2 := waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, only).Status.StableRS
	// Back to app:1 (its pods are still up for the scale-down delay): no pause.
	setImage(t, env, ro, "app:1")
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "app")
		if r.Status.Phase == v1alpha1.RolloutPhasePaused {
			t.Fatalf("a rollback within the window paused: %q", r.Status.Message)
		}
		return selectedHash(t, env, ns, "active") == v1 && r.Status.StableRS == v1, fmt.Sprintf("active %s (v1 %s, v2 %s)", selectedHash(t, env, ns, "active"), v1, v2)
	})
	if !hasEvent(t, env, ns, "app", "SkipSteps", "rollbackWindow") {
		t.Fatal("no SkipSteps event")
	}
}
