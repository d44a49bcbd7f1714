package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/instance"
	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// Taking over from another controller: ReplicaSets that run the Rollout's
// templates under hashes Sluice would not compute (upstream Argo Rollouts up
// to v1.8 hashed templates differently) are adopted, not replaced.

// legacyReplicaSet is a ReplicaSet as another controller made it for ro:
// owned by the Rollout, labelled with hash, running template.
func legacyReplicaSet(ro *v1alpha1.Rollout, hash string, tmpl corev1.PodTemplateSpec, replicas int32, revision string) *appsv1.ReplicaSet {
	t := tmpl.DeepCopy()
	t.Labels["rollouts-pod-template-hash"] = hash
	sel := ro.Spec.Selector.DeepCopy()
	sel.MatchLabels["rollouts-pod-template-hash"] = hash
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: ro.Name + "-" + hash, Labels: t.Labels,
		Annotations:     map[string]string{"rollout.argoproj.io/revision": revision},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: sel, Template: *t}}
}

// podUIDs lists the pods of the namespace, to prove none was replaced.
func podUIDs(t *testing.T, env *testenv.Env, ns string) string {
	t.Helper()
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, string(p.UID))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func waitPods(t *testing.T, env *testenv.Env, ns string, n int) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		have := len(strings.Split(podUIDs(t, env, ns), ","))
		return have == n, fmt.Sprintf("want %d pods, have %d", n, have)
	})
}

func TestTakeOverPausedCanaryWithOtherHashes(t *testing.T) {
	env := testenv.Get(t)
	env.StopController()
	defer env.StartController()
	ns := env.Namespace(t)

	// What another controller left: v1 stable and v2 at the seeds' 50% pause
	// (3 + 3 pods), under hashes of its own. A takeover that restarted the
	// steps would shrink the canary to 1; one that missed the template would
	// start a third ReplicaSet.
	ro := templateRollout(ns, "app", "app:2", 5, seedSteps())
	create(t, env, ro)
	v1 := podTemplate("app", "app:1")
	create(t, env, legacyReplicaSet(ro, "legacy1", v1, 3, "1"), legacyReplicaSet(ro, "legacy2", *ro.Spec.Template, 3, "2"))
	patchStatus(t, env, ns, "app", fmt.Sprintf(`{"status":{"stableRS":"legacy1","currentPodHash":"legacy2","currentStepIndex":3,`+
		`"controllerPause":true,"pauseConditions":[{"reason":"CanaryPauseStep","startTime":"2026-01-01T00:00:00Z"}],`+
		`"currentStepHash":%q}}`, canary.StepsHash(seedSteps())))
	waitPods(t, env, ns, 6)
	before := podUIDs(t, env, ns)

	// The preflight, before anything is switched: read-only, exit 0.
	c := newCLI(t, env, ns)
	out := c.must(`ReplicaSet "app-legacy2" runs the same pod template under hash legacy2`, "doctor", "--migrate")
	for _, want := range []string{"compared with the API server's defaults (a dry run)", "in flight at step 3/4", "0 error(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor --migrate: want %q in:\n%s", want, out)
		}
	}
	t.Logf("$ kubectl sluice doctor --migrate -n %s\n%s", ns, out)

	env.StartController()
	got := expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	time.Sleep(2 * time.Second) // and it stays so
	got = expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	rss := replicaSets(t, env, ns, "app")
	if len(rss) != 2 || got.Status.CurrentPodHash != "legacy2" || got.Status.StableRS != "legacy1" {
		t.Fatalf("want the two ReplicaSets adopted as they are; have %s, current %s stable %s",
			describeRS(rss), got.Status.CurrentPodHash, got.Status.StableRS)
	}
	if after := podUIDs(t, env, ns); after != before {
		t.Fatalf("pods were replaced on takeover")
	}
	t.Logf("taken over: %s, %s %q, step %d", describeRS(rss), got.Status.Phase, got.Status.Message, *got.Status.CurrentStepIndex)
	promote(t, env, ns, "app")
	done := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if done.Status.StableRS != "legacy2" {
		t.Fatalf("the adopted canary must become stable, stable is %s", done.Status.StableRS)
	}
	if !hasEvent(t, env, ns, "app", "ReplicaSetAdopted", "legacy2") {
		t.Fatal("no ReplicaSetAdopted event")
	}
}

// A Rollout deleted with --cascade=orphan and created again: its
// ReplicaSets are adopted, nothing is redeployed.
func TestOrphanedReplicaSetsAreAdopted(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "app", "app:1", 3, seedSteps())
	create(t, env, ro)
	first := expectCanary(t, env, ns, "app", 3, 0, v1alpha1.RolloutPhaseHealthy, 4)
	before := podUIDs(t, env, ns)

	// What `kubectl delete rollout app --cascade=orphan` leaves: the
	// ReplicaSets without an owner, serving, and no Rollout.
	env.StopController()
	for _, r := range replicaSets(t, env, ns, "app") {
		patchSpec(t, env, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: r.Name}}, `{"metadata":{"ownerReferences":null}}`)
	}
	if err := env.Client.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	env.StartController()
	create(t, env, templateRollout(ns, "app", "app:1", 3, seedSteps()))
	again := expectCanary(t, env, ns, "app", 3, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if again.Status.StableRS != first.Status.StableRS {
		t.Fatalf("stable %s, want the adopted %s", again.Status.StableRS, first.Status.StableRS)
	}
	if after := podUIDs(t, env, ns); after != before {
		t.Fatal("pods were replaced: the orphan was not adopted as it was")
	}
	if !hasEvent(t, env, ns, "app", "ReplicaSetAdopted", "orphaned") {
		t.Fatal("no ReplicaSetAdopted event")
	}
	// It is the Rollout's now: the next release walks its steps from it.
	setImage(t, env, again, "app:2")
	expectCanary(t, env, ns, "app", 1, 3, v1alpha1.RolloutPhasePaused, 1)
}

func hasEvent(t *testing.T, env *testenv.Env, ns, name, reason, contains string) bool {
	t.Helper()
	var found bool
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range list.Items {
			if e.Reason == reason && strings.Contains(e.Message, contains) {
				found = true
			}
		}
		return found, "waiting for a " + reason + " Event"
	})
	return found
}

// Instance ids, with upstream's semantics: the default controller leaves a
// Rollout labelled for another instance alone; the controller started with
// that --instance-id takes it; relabelling a Rollout moves it between them
// without touching its pods (a staged migration).
func TestInstanceIDsRunSideBySide(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	create(t, env, templateRollout(ns, "plain", "app:1", 2, seedSteps()))
	blue := templateRollout(ns, "blue", "app:1", 2, seedSteps())
	blue.Labels = map[string]string{instance.Label: "blue"}
	create(t, env, blue)
	expectCanary(t, env, ns, "plain", 2, 0, v1alpha1.RolloutPhaseHealthy, 4)
	time.Sleep(2 * time.Second)
	if got := getRollout(t, env, ns, "blue"); got.Status.Phase != "" || len(replicaSets(t, env, ns, "blue")) != 0 {
		t.Fatalf("the default controller touched a Rollout labelled for instance blue: %s %q", got.Status.Phase, got.Status.Message)
	}

	stop := env.RunControllerWith(env.Config, manager.Options{InstanceID: "blue", Namespace: ns})
	defer stop()
	expectCanary(t, env, ns, "blue", 2, 0, v1alpha1.RolloutPhaseHealthy, 4)

	// Move "plain" to the blue instance: same pods, now driven by blue.
	before := replicaSets(t, env, ns, "plain")
	plain := getRollout(t, env, ns, "plain")
	patchSpec(t, env, plain, fmt.Sprintf(`{"metadata":{"labels":{%q:"blue"}}}`, instance.Label))
	setImage(t, env, plain, "app:2")
	got := expectCanary(t, env, ns, "plain", 1, 2, v1alpha1.RolloutPhasePaused, 1)
	if rs := replicaSets(t, env, ns, "plain")[got.Status.StableRS]; rs.Name != before[got.Status.StableRS].Name {
		t.Fatalf("the stable ReplicaSet changed on the move: %s", describeRS(replicaSets(t, env, ns, "plain")))
	}
	// The default controller must not fight over it: stop blue, and nothing moves.
	stop()
	promote(t, env, ns, "plain")
	time.Sleep(2 * time.Second)
	if r := replicaSets(t, env, ns, "plain")[got.Status.CurrentPodHash]; r.Spec != 1 {
		t.Fatalf("the default controller acted on a Rollout of instance blue: %s", describeRS(replicaSets(t, env, ns, "plain")))
	}
}

// What upstream's controller and CLI read is written the way upstream
// writes it, so moving back works: run labels (rollout-type, step-index, the
// pod hash, the selector's labels) and desired-replicas on ReplicaSets.
func TestWrittenAsUpstreamWritesIt(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	passingTemplate(t, env, ns, "health")
	ro := templateRollout(ns, "app", "app:1", 3, []v1alpha1.CanaryStep{{SetWeight: ptr(int32(30))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}}, {Pause: &v1alpha1.RolloutPause{}}})
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 3, 0, v1alpha1.RolloutPhaseHealthy, 3)
	setImage(t, env, ro, "app:2")
	got := expectCanary(t, env, ns, "app", 1, 2, v1alpha1.RolloutPhasePaused, 2)
	runs := analysisRuns(t, env, ns)
	if len(runs) != 1 {
		t.Fatalf("want one run, have %d", len(runs))
	}
	want := map[string]string{"rollout-type": "Step", "step-index": "1", "rollouts-pod-template-hash": got.Status.CurrentPodHash, "app": "app"}
	for k, v := range want {
		if runs[0].Labels[k] != v {
			t.Errorf("run label %s=%q, want %q (labels %v)", k, runs[0].Labels[k], v, runs[0].Labels)
		}
	}
	for h, r := range replicaSets(t, env, ns, "app") {
		if v := rsAnnotation(t, env, ns, "app", h, "rollout.argoproj.io/desired-replicas"); v != "3" {
			t.Errorf("ReplicaSet %s: desired-replicas %q, want 3", r.Name, v)
		}
	}
}

// Deleting a Rollout that took over a Deployment gives the Deployment its
// serving replicas back before the Rollout's pods go (availability never
// below the floor, counting both), and Services stop selecting a pod hash
// that no longer exists.
func TestDeleteHandsBack(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	t.Run("workloadRef", func(t *testing.T) {
		ns := env.Namespace(t)
		dep := deployment(ns, "app", "app:1", 5)
		ro := workloadRollout(ns, "app", "app", "onsuccess", 5, seedSteps())
		ro.Spec.MinReadySeconds = 1
		create(t, env, dep, ro)
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		waitDeploymentReplicas(t, env, ns, "app", 0)
		sampler := samplePods(t, env, ns, "app")
		if err := env.Client.Delete(ctx, getRollout(t, env, ns, "app")); err != nil {
			t.Fatal(err)
		}
		waitDeploymentReplicas(t, env, ns, "app", 5)
		start := time.Now()
		testenv.Eventually(t, 90*time.Second, func() (bool, string) {
			var list appsv1.ReplicaSetList
			_ = env.Client.List(ctx, &list, client.InNamespace(ns))
			left := 0
			for _, rs := range list.Items {
				if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Rollout" {
					left++
				}
			}
			return left == 0, fmt.Sprintf("%d ReplicaSets of the Rollout left", left)
		})
		t.Logf("the garbage collector removed the Rollout's ReplicaSets %s after the hand-back", time.Since(start).Round(time.Second))
		sampler.check(t, 4)
	})
	t.Run("blue-green Services", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "active", "app"), service(ns, "preview", "app"))
		ro := blueGreenRollout(ns, "app", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview"})
		create(t, env, ro)
		waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
			return map[string]int32{r.Status.CurrentPodHash: 2}
		})
		if selectedHash(t, env, ns, "active") == "" {
			t.Fatal("setup: the active Service selects no hash")
		}
		if err := env.Client.Delete(ctx, getRollout(t, env, ns, "app")); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, func() (bool, string) {
			a, p := selectedHash(t, env, ns, "active"), selectedHash(t, env, ns, "preview")
			return a == "" && p == "", fmt.Sprintf("Services still select hashes: active %q preview %q", a, p)
		})
		testenv.Eventually(t, 20*time.Second, func() (bool, string) {
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(ro), &v1alpha1.Rollout{})
			return err != nil, "the Rollout is still there"
		})
	})
}

// Switching a Rollout from blue-green to a replica-count canary takes the
// pod hash out of the Services, so the canary's pods get their share.
func TestBlueGreenToCanaryUnpinsServices(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	create(t, env, service(ns, "active", "app"), service(ns, "preview", "app"))
	ro := blueGreenRollout(ns, "app", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview"})
	create(t, env, ro)
	waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 2}
	})
	patchSpec(t, env, ro, `{"spec":{"strategy":{"blueGreen":null,"canary":{"steps":[{"setWeight":50},{"pause":{}}]}}}}`)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		a, p := selectedHash(t, env, ns, "active"), selectedHash(t, env, ns, "preview")
		return a == "" && p == "", fmt.Sprintf("Services still select hashes: active %q preview %q", a, p)
	})
	setImage(t, env, getRollout(t, env, ns, "app"), "app:2")
	expectCanary(t, env, ns, "app", 1, 1, v1alpha1.RolloutPhasePaused, 1)
}

// The same takeover for a Rollout whose template is a workloadRef
// Deployment's: the ReplicaSet another controller made for it under its own
// hash is adopted, no pod is replaced.
func TestTakeOverWorkloadRefWithOtherHash(t *testing.T) {
	env := testenv.Get(t)
	env.StopController()
	defer env.StartController()
	ns := env.Namespace(t)
	dep := deployment(ns, "app", "app:1", 0)
	create(t, env, dep)
	ro := workloadRollout(ns, "app", "app", "never", 3, seedSteps())
	ro.Spec.Selector = dep.Spec.Selector.DeepCopy()
	create(t, env, ro)
	var live appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(dep), &live); err != nil {
		t.Fatal(err)
	}
	// The Deployment's template as the API server stored it (defaults in), under another hash.
	create(t, env, legacyReplicaSet(ro, "legacy1", live.Spec.Template, 3, "1"))
	patchStatus(t, env, ns, "app", fmt.Sprintf(`{"status":{"stableRS":"legacy1","currentPodHash":"legacy1","currentStepIndex":4,"currentStepHash":%q}}`,
		canary.StepsHash(seedSteps())))
	waitPods(t, env, ns, 3)
	before := podUIDs(t, env, ns)

	env.StartController()
	got := expectCanary(t, env, ns, "app", 3, 0, v1alpha1.RolloutPhaseHealthy, 4)
	time.Sleep(2 * time.Second)
	if rss := replicaSets(t, env, ns, "app"); len(rss) != 1 || got.Status.StableRS != "legacy1" {
		t.Fatalf("want the Deployment-template ReplicaSet adopted as it is; have %s, stable %s", describeRS(rss), got.Status.StableRS)
	}
	if after := podUIDs(t, env, ns); after != before {
		t.Fatal("pods were replaced on takeover")
	}
}
