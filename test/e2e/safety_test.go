package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/controller/rollout"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// Issue 16's "what operators actually do", each on the real API server.

// slowSeedRollout is the seeds' canary (5 replicas, default 25% surge and
// unavailability: floor 4) whose pods become available only 2 s after they
// are Ready, so every window where pods are missing is visible to the
// availability sampler.
func slowSeedRollout(t *testing.T, env *testenv.Env, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	ro := templateRollout(ns, name, name+":1", 5, seedSteps())
	ro.Spec.MinReadySeconds = 2
	create(t, env, ro)
	expectCanary(t, env, ns, name, 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	return ro
}

func setImage(t *testing.T, env *testenv.Env, ro *v1alpha1.Rollout, image string) {
	t.Helper()
	patchSpec(t, env, ro, fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, ro.Name, image))
}

// A hot-fix arriving during the 50% pause, and an undo during it: the
// replaced canary drains only as fast as the new pods become available.
func TestHotFixAndRollbackMidCanaryKeepAvailability(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	for _, tc := range []struct{ name, next string }{{"hot-fix", "app:3"}, {"undo", "app:1"}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			ro := slowSeedRollout(t, env, ns, "app")
			stable := getRollout(t, env, ns, "app").Status.StableRS
			sampler := sampleAvailability(t, env, ns, "app")
			setImage(t, env, ro, "app:2")
			expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
			promote(t, env, ns, "app")
			expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)

			setImage(t, env, ro, tc.next)
			if tc.next == "app:1" {
				got := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
				if got.Status.StableRS != stable {
					t.Fatalf("undo must return to the stable ReplicaSet %s, stable is %s", stable, got.Status.StableRS)
				}
			} else {
				expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
			}
			sampler.check(t, 4)
		})
	}
}

// The stable ReplicaSet deleted mid-canary: status.stableRS is repaired to
// what serves (condition + Event), and the next release walks its steps
// instead of skipping them all and scaling the serving version to 0.
func TestStableReplicaSetDeletedMidCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := slowSeedRollout(t, env, ns, "app")
	setImage(t, env, ro, "app:2")
	paused := expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	lost, canary := paused.Status.StableRS, paused.Status.CurrentPodHash
	rss := replicaSets(t, env, ns, "app")
	bg := metav1.DeletePropagationBackground
	if err := env.Client.Delete(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rss[lost].Name}},
		&client.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	// Only the canary is left: it is the one version that serves, so it is
	// taken as stable and scaled up, loudly.
	got := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	c := condition(got, v1alpha1.RolloutStableRepaired)
	if got.Status.StableRS != canary || c == nil || c.Status != "True" || !strings.Contains(c.Message, lost) {
		t.Fatalf("stableRS %q (want %q), condition %+v", got.Status.StableRS, canary, c)
	}
	if !hasWarning(t, env, ns, "app", "StableReplicaSetRepaired", lost) {
		t.Fatal("no StableReplicaSetRepaired Warning Event")
	}

	// The next release walks its steps against a stable that exists.
	sampler := sampleAvailability(t, env, ns, "app")
	setImage(t, env, ro, "app:3")
	next := expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if next.Status.StableRS != canary {
		t.Fatalf("the release must run against stable %s, has %s", canary, next.Status.StableRS)
	}
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	promote(t, env, ns, "app")
	done := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if condition(done, v1alpha1.RolloutStableRepaired) != nil {
		t.Fatal("the repair note must go once an update completes")
	}
	sampler.check(t, 4)
}

// After a rollback the version that serves again must not keep its old,
// expired scale-down deadline: the next switch away from it waits out
// scaleDownDelaySeconds like any other.
func TestScaleDownDeadlineClearedAfterRollback(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	create(t, env, service(ns, "active", "app"), service(ns, "preview", "app"))
	ro := blueGreenRollout(ns, "app", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "active", PreviewService: "preview",
		AutoPromotionEnabled: ptr(false), ScaleDownDelaySeconds: ptr(int32(4))})
	create(t, env, ro)
	only := func(r *v1alpha1.Rollout) map[string]int32 { return map[string]int32{r.Status.CurrentPodHash: 2} }
	v1 := waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, only).Status.StableRS

	switchTo := func(image string) string {
		t.Helper()
		setImage(t, env, ro, image)
		waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhasePaused, only)
		promote(t, env, ns, "app")
		return waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, only).Status.StableRS
	}
	v2 := switchTo("app:2")
	waitSpec(t, env, ns, "app", v1, 0) // v1 waited out its delay and went
	if got := switchTo("app:1"); got != v1 {
		t.Fatalf("rollback must reuse %s, active is %s", v1, got)
	}
	if at := rsAnnotation(t, env, ns, "app", v1, "scale-down-deadline"); at != "" {
		t.Fatalf("the active ReplicaSet still carries scale-down-deadline %s", at)
	}
	waitSpec(t, env, ns, "app", v2, 0)

	// The next switch away from v1: it keeps its pods for the delay.
	setImage(t, env, ro, "app:3")
	waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhasePaused, only)
	promote(t, env, ns, "app")
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		return selectedHash(t, env, ns, "active") != v1, "waiting for the switch"
	})
	if rs := replicaSets(t, env, ns, "app")[v1]; rs.Spec != 2 {
		t.Fatalf("right after the switch the old active must keep its 2 pods for scaleDownDelaySeconds, has %d", rs.Spec)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		at, err := time.Parse(time.RFC3339, rsAnnotation(t, env, ns, "app", v1, "scale-down-deadline"))
		return err == nil && time.Until(at) > 0, fmt.Sprintf("the old active needs a fresh deadline in the future: %v %v", at, err)
	})
	waitSpec(t, env, ns, "app", v1, 0)
}

// progressDeadlineSeconds counts pods that do not progress, not an analysis
// that takes its time: with progressDeadlineAbort, a passing analysis
// longer than the deadline must not abort the update.
func TestProgressDeadlineDoesNotCountAnalysis(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) }))
	create(t, env, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slow"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
			Name: "health", Interval: "2s", Count: ptr(intstr.FromInt32(5)), SuccessCondition: `result == "ok"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.status}"}},
		}}}})
	ro := templateRollout(ns, "app", "app:1", 5, []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "slow"}}}},
	})
	ro.Spec.ProgressDeadlineSeconds, ro.Spec.ProgressDeadlineAbort = ptr(int32(3)), true
	create(t, env, ro)
	first := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 2).Status.StableRS
	setImage(t, env, ro, "app:2")
	start := time.Now()
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "app")
		if r.Status.Abort {
			t.Fatalf("aborted while the analysis was passing: %q", r.Status.Message)
		}
		return r.Status.Phase == v1alpha1.RolloutPhaseHealthy && r.Status.StableRS == r.Status.CurrentPodHash && r.Status.StableRS != first,
			fmt.Sprintf("%s %q", r.Status.Phase, r.Status.Message)
	})
	if took := time.Since(start); took < 8*time.Second {
		t.Fatalf("the analysis (5 measurements 2 s apart) cannot have run in %s", took)
	}
}

// A Rollout Degraded for a spec reason (here a step Sluice does not carry,
// added mid-update) still follows spec.replicas and abort, and says so.
func TestHeldRolloutStillScalesAndAborts(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := slowSeedRollout(t, env, ns, "app")
	setImage(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	patchSpec(t, env, ro, `{"spec":{"strategy":{"canary":{"steps":[{"setWeight":20},{"pause":{}},{"setWeight":50},{"pause":{}},`+
		`{"experiment":{"templates":[{"name":"x","specRef":"canary"}]}}]}}}}`)
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "app")
		return r.Status.Phase == v1alpha1.RolloutPhaseDegraded && strings.Contains(r.Status.Message, "StepNotSupported") &&
			strings.Contains(r.Status.Message, "abort still apply"), r.Status.Message
	})
	sampler := sampleAvailability(t, env, ns, "app")
	patchSpec(t, env, ro, `{"spec":{"replicas":10}}`) // what an HPA's /scale does
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		rss := replicaSets(t, env, ns, "app")
		var total, avail int32
		for _, r := range rss {
			total += r.Spec
			avail += r.Available
		}
		return total == 10 && avail == 10, describeRS(rss)
	})
	abort(t, env, ns, "app")
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "app")
		rss := replicaSets(t, env, ns, "app")
		return rss[r.Status.StableRS].Spec == 10 && rss[r.Status.StableRS].Available == 10 && rss[r.Status.CurrentPodHash].Spec == 0 &&
			r.Status.AbortedAt != nil, describeRS(rss)
	})
	sampler.check(t, 4)
}

func hasWarning(t *testing.T, env *testenv.Env, ns, name, reason, contains string) bool {
	t.Helper()
	var found bool
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, e := range warningEvents(t, env, ns, name) {
			if e.Reason == reason && strings.Contains(e.Message, contains) {
				found = true
			}
		}
		return found, "waiting for a " + reason + " Warning Event"
	})
	return found
}

func rsAnnotation(t *testing.T, env *testenv.Env, ns, rollout, hash, key string) string {
	t.Helper()
	var rs appsv1.ReplicaSet
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: replicaSets(t, env, ns, rollout)[hash].Name}, &rs); err != nil {
		t.Fatal(err)
	}
	return rs.Annotations[key]
}

func waitSpec(t *testing.T, env *testenv.Env, ns, rollout, hash string, want int32) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		rss := replicaSets(t, env, ns, rollout)
		return rss[hash].Spec == want, fmt.Sprintf("want %s at %d: %s", hash, want, describeRS(rss))
	})
}

// spec.restartAt evicts pods through the Eviction API, so a
// PodDisruptionBudget holds: a budget that allows no disruption blocks the
// restart (loudly), and relaxing it lets the restart finish.
func TestRestartAtRespectsDisruptionBudget(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "web", "web:1", 3, nil)
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 3, 0, v1alpha1.RolloutPhaseHealthy, -1)
	minAvail := intstr.FromInt32(3)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	create(t, env, pdb)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		var got policyv1.PodDisruptionBudget
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(pdb), &got)
		return got.Status.ObservedGeneration == got.Generation && got.Status.CurrentHealthy == 3, "waiting for the budget's status"
	})
	time.Sleep(1100 * time.Millisecond) // pods created strictly before restartAt
	at := metav1.Now().Rfc3339Copy()
	patchSpec(t, env, ro, `{"spec":{"restartAt":"`+at.UTC().Format(time.RFC3339)+`"}}`)
	hasWarning(t, env, ns, "web", "RestartBlockedByDisruptionBudget", "PodDisruptionBudget")
	if got := getRollout(t, env, ns, "web"); got.Status.RestartedAt != nil {
		t.Fatal("the restart finished although the budget allowed no eviction")
	}
	pods, err := env.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !p.CreationTimestamp.Before(&at) {
			t.Fatalf("pod %s was restarted through the budget", p.Name)
		}
	}

	patchSpec(t, env, pdb, `{"spec":{"minAvailable":2}}`)
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "web")
		return got.Status.RestartedAt != nil && got.Status.RestartedAt.Equal(&at), "restartedAt not set yet"
	})
	expectCanary(t, env, ns, "web", 3, 0, v1alpha1.RolloutPhaseHealthy, -1)
}

// A ReplicaSet already carrying the hash of the new template but running
// another one (a hash collision) is never reused: the template gets a new
// name (status.collisionCount), the other ReplicaSet is left as it is, and
// the Rollout says so.
func TestHashCollisionGetsANewName(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "app", "app:1", 5, seedSteps())
	// A template with what the API server defaults, to show no false collision.
	c := &ro.Spec.Template.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	create(t, env, ro)
	first := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)

	next := first.Spec.Template.DeepCopy()
	next.Spec.Containers[0].Image = "app:2"
	delete(next.Labels, rollout.PodTemplateHashLabel)
	hash := rollout.TemplateHash(next)
	impostor := next.DeepCopy()
	impostor.Spec.Containers[0].Image = "impostor:6.6.6"
	impostor.Labels[rollout.PodTemplateHashLabel] = hash
	sel := first.Spec.Selector.DeepCopy()
	sel.MatchLabels[rollout.PodTemplateHashLabel] = hash
	create(t, env, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-" + hash, Labels: impostor.Labels,
		Annotations:     map[string]string{"rollout.argoproj.io/revision": "1"},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(first, v1alpha1.GroupVersion.WithKind("Rollout"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(0)), Selector: sel, Template: *impostor}})

	// A CRD takes merge patches, which would replace the container list: update.
	cur := getRollout(t, env, ns, "app")
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := env.Client.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	got := expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	if got.Status.CurrentPodHash == hash || got.Status.CollisionCount == nil || *got.Status.CollisionCount != 1 {
		t.Fatalf("want a new name and collisionCount 1; current %s (colliding %s), collisionCount %v",
			got.Status.CurrentPodHash, hash, got.Status.CollisionCount)
	}
	var rs appsv1.ReplicaSet
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app-" + got.Status.CurrentPodHash}, &rs); err != nil {
		t.Fatal(err)
	}
	if img := rs.Spec.Template.Spec.Containers[0].Image; img != "app:2" {
		t.Fatalf("the canary runs %s, want app:2", img)
	}
	if other := replicaSets(t, env, ns, "app")[hash]; other.Spec != 0 {
		t.Fatalf("the colliding ReplicaSet must be left alone, has %d replicas", other.Spec)
	}
	hasWarning(t, env, ns, "app", "HashCollision", hash)
	promote(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)
}
