package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The crash test's sampler is only worth its green if it goes red: with no
// controller running, the test itself writes the states the invariants
// forbid (a skipped pause, an analysis passed without a run, a step going
// back, an unproven promotion, a lost stable ReplicaSet, churn, duplicate
// templates, a measurement judged against the evidence, a blue-green switch
// nobody promoted) and expects the sampler to report each one.
func TestCrashSamplerCatchesViolations(t *testing.T) {
	env := testenv.Get(t)
	env.StopController() // the test plays the controller
	ns := env.Namespace(t)
	steps := []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))}, {Pause: &v1alpha1.RolloutPause{}},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}},
		{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
	}
	s := newCrashSampler(t, env, ns)
	s.canary, s.bg, s.canarySteps, s.canaryReplicas, s.canaryFloor = "seed", "bg", steps, 5, 4
	s.bgReplicas, s.bgActive = 3, "bg-active"
	s.served = func(v string) (bool, bool) { return v == "ok-1" || v == "bad-1", v == "ok-1" }
	s.start()
	defer s.stop()
	s.arm()

	ro := templateRollout(ns, "seed", "seed:0", 5, steps)
	create(t, env, ro)
	owned := func(hash, image string) *appsv1.ReplicaSet {
		tmpl := podTemplate("seed", image)
		tmpl.Labels[hashLabel] = hash
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "seed-" + hash, Labels: map[string]string{"app": "seed", hashLabel: hash},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(0)), Template: tmpl,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "seed", hashLabel: hash}}},
		}
	}
	create(t, env, owned("h0", "seed:0"), owned("h1", "seed:1"), owned("h2", "seed:1"))
	status := func(patch string) {
		patchStatus(t, env, ns, "seed", patch)
		time.Sleep(300 * time.Millisecond) // one sample each
	}
	status(`{"status":{"currentPodHash":"h1","stableRS":"h0","currentStepIndex":0}}`)
	status(`{"status":{"currentStepIndex":3}}`) // past setWeight 20 with no pods, a pause nobody promoted, an analysis with no run
	status(`{"status":{"currentStepIndex":1}}`) // back, without an abort
	status(`{"status":{"stableRS":"h1"}}`)      // promoted without its analysis
	status(`{"status":{"stableRS":"gone"}}`)    // names no ReplicaSet

	for _, n := range []int{2, 1, 2} { // the new revision shrinks and grows back, with no abort, retry or new image
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "seed-h1"}}
		patchSpec(t, env, rs, fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
		time.Sleep(300 * time.Millisecond)
	}

	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "seed-h1-2-2"},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "health", SuccessCondition: "true",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://127.0.0.1:1"}}}}}}
	create(t, env, run)
	if err := env.Client.Status().Patch(ctx, run, client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Successful",`+
		`"metricResults":[{"name":"health","phase":"Successful","measurements":[{"phase":"Successful","value":"bad-1"}]}]}}`))); err != nil {
		t.Fatal(err)
	}
	svc := service(ns, "bg-active", "bg")
	svc.Spec.Selector[hashLabel] = "b1"
	create(t, env, svc)

	want := []string{
		"have the same pod template",
		"canary availability 0 < floor 4",
		"passed step 0 at resourceVersion",           // setWeight 20 ...
		"with 0 canary pods available, want 1",       // ... without its pod
		"(pause) without a promote from the test",    // step 1
		"(analysis) with no AnalysisRun for it",      // step 2
		"canary step went back from 3 to 1",          //
		"became stable without passing its analysis", //
		"which is not the current revision",          // stableRS "gone"
		"but no ReplicaSet of it has that hash",      //
		`measurement "bad-1" is Successful but the server answered it as not ok`,
		"is Successful with 0 Successful measurements",
		"to b1 while that ReplicaSet had -1 of 3 pods available",
		"which the test had not promoted",
		"shrank 2→1 at resourceVersion",
		"grew back 1→2",
	}
	var got []string
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		s.mu.Lock()
		got = append(got[:0], s.violations...)
		s.mu.Unlock()
		all := strings.Join(got, "\n")
		for _, w := range want {
			if !strings.Contains(all, w) {
				return false, "the sampler did not report " + w + "; it reported:\n" + all
			}
		}
		return true, ""
	})
	t.Logf("the sampler reported all %d planted violations (in %d reports)", len(want), len(got))
}
