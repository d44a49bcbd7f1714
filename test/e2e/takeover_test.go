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
