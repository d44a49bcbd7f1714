package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The CRDs must install with plain (client-side) kubectl apply, which the
// upstream CRDs fail ("metadata.annotations: Too long"), and server-side.
func TestCRDsInstallWithKubectlApply(t *testing.T) {
	env := testenv.Get(t)
	files, _ := filepath.Glob(filepath.Join(env.Root, "config/crd/argoproj.io_*.yaml"))
	if len(files) != 5 {
		t.Fatalf("want 5 CRDs (rollouts, analysis templates/runs, experiments), found %v", files)
	}
	for _, f := range files {
		if out, err := env.Kubectl("apply", "-f", f); err != nil {
			t.Errorf("kubectl apply -f %s: %v\n%s", filepath.Base(f), err, out)
		}
		if out, err := env.Kubectl("apply", "--server-side", "--force-conflicts", "-f", f); err != nil {
			t.Errorf("kubectl apply --server-side -f %s: %v\n%s", filepath.Base(f), err, out)
		}
	}
	out, err := env.Kubectl("get", "crd", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"rollouts", "analysistemplates", "clusteranalysistemplates", "analysisruns"} {
		if !strings.Contains(out, kind+".argoproj.io") {
			t.Errorf("CRD %s.argoproj.io not installed:\n%s", kind, out)
		}
	}
}

// Every broken manifest in testdata/invalid is refused by the API server with
// a message naming the field (its "# want:" line).
func TestInvalidManifestsAreRefusedNamingTheField(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	testenv.EachBrokenManifest(t, "testdata/invalid/*.yaml", 5, func(t *testing.T, f, want string) {
		out, err := env.Kubectl("apply", "-n", ns, "-f", f)
		if err == nil {
			t.Fatalf("kubectl apply accepted a broken manifest:\n%s", out)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("error does not name the field: want %q in\n%s", want, out)
		}
	})
}

// A good manifest from examples/ is accepted and the controller reports it
// has seen each generation.
func TestControllerSetsObservedGeneration(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "gen", "nginx:1", 2, nil)
	create(t, env, ro)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "gen")
		return got.Status.ObservedGeneration == "1" && got.Status.Phase == v1alpha1.RolloutPhaseHealthy,
			"observedGeneration " + got.Status.ObservedGeneration + " phase " + string(got.Status.Phase)
	})
	patchSpec(t, env, ro, `{"spec":{"replicas":3}}`)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "gen")
		return got.Status.ObservedGeneration == "2" && got.Status.AvailableReplicas == 3,
			"observedGeneration " + got.Status.ObservedGeneration
	})
}

// Seed lesson "fail loudly": a workloadRef to a missing Deployment puts the
// Rollout in Degraded with a condition and a Warning Event naming the
// Deployment, touching nothing; creating the Deployment clears it.
func TestMissingWorkloadRefIsLoudAndRecovers(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	create(t, env, workloadRollout(ns, "app", "app-deploy", "onsuccess", 2, seedSteps()))

	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		ro := getRollout(t, env, ns, "app")
		c := condition(ro, v1alpha1.RolloutProgressing)
		ok := ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && c != nil && c.Status == corev1.ConditionFalse &&
			c.Reason == "WorkloadRefNotFound" && strings.Contains(c.Message, `Deployment "app-deploy"`) &&
			strings.HasPrefix(ro.Status.Message, "WorkloadRefNotFound: ")
		return ok, "phase " + string(ro.Status.Phase) + ": " + ro.Status.Message
	})
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, e := range warningEvents(t, env, ns, "app") {
			if e.Reason == "WorkloadRefNotFound" && strings.Contains(e.Message, `"app-deploy"`) {
				return true, ""
			}
		}
		return false, "no Warning event WorkloadRefNotFound naming the Deployment"
	})
	if rss := replicaSets(t, env, ns, "app"); len(rss) != 0 {
		t.Fatalf("a Degraded Rollout created ReplicaSets: %s", describeRS(rss))
	}

	create(t, env, deployment(ns, "app-deploy", "app:1", 1))
	ro := expectCanary(t, env, ns, "app", 2, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if c := condition(ro, v1alpha1.RolloutProgressing); c.Reason == "WorkloadRefNotFound" || c.Status != corev1.ConditionTrue {
		t.Fatalf("Progressing condition not cleared: %+v", c)
	}
}

// Seed bug #1, the 39-day silent canary: a traffic-router plugin Sluice
// cannot use makes the Rollout Degraded, with a condition and a Warning Event
// naming the plugin, within 5 seconds — and no ReplicaSet is created or scaled.
func TestUnknownTrafficRouterPluginIsLoud(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "litellm", "litellm:1", 5, seedSteps())
	ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "litellm", "litellm-canary"
	ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.TrafficRouting{
		Plugins: map[string]runtime.RawExtension{"argoproj-labs/cilium": {Raw: []byte(`{}`)}},
	}
	start := time.Now()
	create(t, env, ro)
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "litellm")
		c := condition(got, v1alpha1.RolloutProgressing)
		if got.Status.Phase != v1alpha1.RolloutPhaseDegraded || c == nil || !strings.Contains(c.Message, `"argoproj-labs/cilium"`) {
			return false, "phase " + string(got.Status.Phase) + ": " + got.Status.Message
		}
		for _, e := range warningEvents(t, env, ns, "litellm") {
			if e.Reason == "TrafficRouterUnavailable" && strings.Contains(e.Message, "argoproj-labs/cilium") {
				return true, ""
			}
		}
		return false, "no Warning event naming the plugin yet"
	})
	t.Logf("Degraded with condition and Event after %v", time.Since(start).Round(time.Millisecond))
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	for _, rs := range list.Items {
		if rs.Namespace == ns {
			t.Fatalf("ReplicaSet %s created despite the unusable router", rs.Name)
		}
	}
}

// The controller re-checks what the schema cannot: a selector that does not
// match the template's labels is InvalidSpec, naming the field.
func TestControllerRechecksSpecBeyondTheSchema(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "mismatch", "nginx:1", 1, nil)
	ro.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
	create(t, env, ro)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "mismatch")
		c := condition(got, v1alpha1.RolloutInvalidSpec)
		return got.Status.Phase == v1alpha1.RolloutPhaseDegraded && c != nil && c.Status == corev1.ConditionTrue &&
			strings.Contains(c.Message, "spec.template.metadata.labels"), got.Status.Message
	})
	patchSpec(t, env, ro, `{"spec":{"selector":{"matchLabels":{"app":"mismatch"}}}}`)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		got := getRollout(t, env, ns, "mismatch")
		return got.Status.Phase == v1alpha1.RolloutPhaseHealthy && condition(got, v1alpha1.RolloutInvalidSpec) == nil,
			"phase " + string(got.Status.Phase) + ": " + got.Status.Message
	})
}

// At rest the controller writes nothing: no status update that changes
// nothing, no ReplicaSet touched, however often it reconciles.
func TestNoWritesAtRest(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	ro := templateRollout(ns, "quiet", "nginx:1", 3, seedSteps())
	create(t, env, ro)
	expectCanary(t, env, ns, "quiet", 3, 0, v1alpha1.RolloutPhaseHealthy, 4)
	time.Sleep(time.Second) // let the last write's own reconcile pass
	before := getRollout(t, env, ns, "quiet").ResourceVersion
	rsBefore := map[string]string{}
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	for _, rs := range list.Items {
		if rs.Namespace == ns {
			rsBefore[rs.Name] = rs.ResourceVersion
		}
	}
	// Poke the controller: an annotation change makes it reconcile without
	// changing anything it owns. The poke is one write; there must be no other.
	patchSpec(t, env, ro, `{"metadata":{"annotations":{"poke":"1"}}}`)
	poked := getRollout(t, env, ns, "quiet").ResourceVersion
	time.Sleep(3 * time.Second)
	if now := getRollout(t, env, ns, "quiet").ResourceVersion; now != poked {
		t.Fatalf("the controller wrote a Rollout at rest: resourceVersion %s (before poke %s) → %s", poked, before, now)
	}
	if err := env.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	for _, rs := range list.Items {
		if rs.Namespace == ns && rsBefore[rs.Name] != rs.ResourceVersion {
			t.Fatalf("ReplicaSet %s written at rest", rs.Name)
		}
	}
}
