package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

func service(ns, name, app string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": app}, Ports: []corev1.ServicePort{{Port: 8080}}}}
}

func blueGreenRollout(ns, name string, replicas int32, bg *v1alpha1.BlueGreenStrategy) *v1alpha1.Rollout {
	ro := templateRollout(ns, name, name+":1", replicas, nil)
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: bg}
	return ro
}

func selectedHash(t *testing.T, env *testenv.Env, ns, svc string) string {
	t.Helper()
	var s corev1.Service
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: svc}, &s); err != nil {
		t.Fatal(err)
	}
	return s.Spec.Selector["rollouts-pod-template-hash"]
}

// waitBlueGreen waits until the Rollout has the phase and the ReplicaSets
// the given pod counts (by hash), and returns the Rollout.
func waitBlueGreen(t *testing.T, env *testenv.Env, ns, name string, phase v1alpha1.RolloutPhase, counts func(ro *v1alpha1.Rollout) map[string]int32) *v1alpha1.Rollout {
	t.Helper()
	var ro *v1alpha1.Rollout
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		ro = getRollout(t, env, ns, name)
		rss := replicaSets(t, env, ns, name)
		want := counts(ro)
		for h, n := range want {
			if rss[h].Spec != n || rss[h].Available != n {
				return false, fmt.Sprintf("want %v, have %s; phase %s %q", want, describeRS(rss), ro.Status.Phase, ro.Status.Message)
			}
		}
		return ro.Status.Phase == phase && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation),
			fmt.Sprintf("phase %s %q, want %s; have %s", ro.Status.Phase, ro.Status.Message, phase, describeRS(rss))
	})
	return ro
}

// The seeds' sympozium blue-green: the preview comes up beside the active
// version, waits for a person, and promote switches the active Service at
// once; the old version goes after scaleDownDelaySeconds. Abort keeps the
// active version serving.
func TestBlueGreenPromoteAndAbort(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	create(t, env, service(ns, "app-active", "app"), service(ns, "app-preview", "app"))
	ro := blueGreenRollout(ns, "app", 3, &v1alpha1.BlueGreenStrategy{
		ActiveService: "app-active", PreviewService: "app-preview",
		AutoPromotionEnabled: ptr(false), PreviewReplicaCount: ptr(int32(1)), ScaleDownDelaySeconds: ptr(int32(2)),
		AbortScaleDownDelaySeconds: ptr(int32(2)),
	})
	create(t, env, ro)
	blue := waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 3}
	}).Status.StableRS
	if got := selectedHash(t, env, ns, "app-active"); got != blue {
		t.Fatalf("active Service selects %q, want the first revision %q", got, blue)
	}

	bump(t, env, ro, "app:2")
	got := waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhasePaused, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{blue: 3, r.Status.CurrentPodHash: 1}
	})
	green := got.Status.CurrentPodHash
	if got.Status.Message != "BlueGreenPause" || selectedHash(t, env, ns, "app-active") != blue || selectedHash(t, env, ns, "app-preview") != green {
		t.Fatalf("paused with the preview on green, active on blue: message %q, active %q, preview %q",
			got.Status.Message, selectedHash(t, env, ns, "app-active"), selectedHash(t, env, ns, "app-preview"))
	}

	promote(t, env, ns, "app")
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return selectedHash(t, env, ns, "app-active") == green, "active Service not switched yet"
	})
	if rss := replicaSets(t, env, ns, "app"); rss[blue].Spec != 3 {
		t.Fatalf("the old version must stay up for scaleDownDelaySeconds after the switch: %s", describeRS(rss))
	}
	// As upstream: Healthy while the old version waits out its delay, and the message says so.
	waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		if r.Status.Message != "old replicas scale down after scaleDownDelaySeconds" {
			return map[string]int32{"message": 1}
		}
		return map[string]int32{green: 3, blue: 3}
	})
	waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseHealthy, func(*v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{green: 3, blue: 0}
	})

	bump(t, env, ro, "app:3")
	waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhasePaused, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{green: 3, r.Status.CurrentPodHash: 1}
	})
	abort(t, env, ns, "app")
	got = waitBlueGreen(t, env, ns, "app", v1alpha1.RolloutPhaseDegraded, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{green: 3, r.Status.CurrentPodHash: 0}
	})
	if !strings.HasPrefix(got.Status.Message, "RolloutAborted: ") || selectedHash(t, env, ns, "app-active") != green {
		t.Fatalf("abort must keep the active version: %q, active %q", got.Status.Message, selectedHash(t, env, ns, "app-active"))
	}
}

// A failing prePromotionAnalysis aborts before the switch; a missing
// Service is loud and touches nothing.
func TestBlueGreenPrePromotionAnalysisAndMissingService(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 500) }))
	create(t, env, service(ns, "api-active", "api"), &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "health"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "healthz", SuccessCondition: "true",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url + "/healthz"}}}}}})
	ro := blueGreenRollout(ns, "api", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "api-active", AbortScaleDownDelaySeconds: ptr(int32(1)),
		PrePromotionAnalysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}})
	create(t, env, ro)
	blue := waitBlueGreen(t, env, ns, "api", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 2}
	}).Status.StableRS
	bump(t, env, ro, "api:2")
	got := waitBlueGreen(t, env, ns, "api", v1alpha1.RolloutPhaseDegraded, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{blue: 2, r.Status.CurrentPodHash: 0}
	})
	if !strings.Contains(got.Status.Message, `Metric "healthz" assessed Failed`) || selectedHash(t, env, ns, "api-active") != blue {
		t.Fatalf("failed pre-promotion analysis must abort with the reason and keep blue active: %q", got.Status.Message)
	}

	create(t, env, blueGreenRollout(ns, "lost", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "nope"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "lost")
		return r.Status.Phase == v1alpha1.RolloutPhaseDegraded && strings.Contains(r.Status.Message, `Service "nope"`) &&
			strings.Contains(r.Status.Message, "spec.strategy.blueGreen.activeService"), r.Status.Message
	})
	if rss := replicaSets(t, env, ns, "lost"); len(rss) != 0 {
		t.Fatalf("ReplicaSets created despite the missing Service: %s", describeRS(rss))
	}
}

// postPromotionAnalysis: the new version takes the active Service, the old
// one stays up as the stable version while the analysis runs; success makes
// the new version stable, failure switches the active Service back.
func TestBlueGreenPostPromotionAnalysis(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	var healthy atomic.Bool
	healthy.Store(true)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			http.Error(w, `{"ok":false}`, 500)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	count := intstr.FromInt32(2)
	create(t, env, service(ns, "shop-active", "shop"), &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smoke"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "smoke", SuccessCondition: "result == true",
			Interval: "2s", Count: &count,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.ok}"}}}}}})
	ro := blueGreenRollout(ns, "shop", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "shop-active",
		ScaleDownDelaySeconds: ptr(int32(1)), AbortScaleDownDelaySeconds: ptr(int32(1)),
		PostPromotionAnalysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}})
	create(t, env, ro)
	blue := waitBlueGreen(t, env, ns, "shop", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 2}
	}).Status.StableRS

	// On trial: green is active, blue is still the stable version, at full size.
	bump(t, env, ro, "shop:2")
	var green string
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		r := getRollout(t, env, ns, "shop")
		green = r.Status.CurrentPodHash
		run := r.Status.BlueGreen.PostPromotionAnalysisRunStatus
		rss := replicaSets(t, env, ns, "shop")
		ok := green != blue && selectedHash(t, env, ns, "shop-active") == green && r.Status.StableRS == blue &&
			run != nil && r.Status.Message == "waiting for postPromotionAnalysis" && rss[blue].Spec == 2
		return ok, fmt.Sprintf("active %s, stable %s, run %+v, %q, %s", selectedHash(t, env, ns, "shop-active"),
			r.Status.StableRS, run, r.Status.Message, describeRS(rss))
	})
	waitBlueGreen(t, env, ns, "shop", v1alpha1.RolloutPhaseHealthy, func(*v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{green: 2, blue: 0}
	})
	if r := getRollout(t, env, ns, "shop"); r.Status.StableRS != green || selectedHash(t, env, ns, "shop-active") != green {
		t.Fatalf("after a passed postPromotionAnalysis green must be stable and active: stable %s", r.Status.StableRS)
	}

	// A failing analysis: the active Service goes back to green.
	healthy.Store(false)
	bump(t, env, ro, "shop:3")
	got := waitBlueGreen(t, env, ns, "shop", v1alpha1.RolloutPhaseDegraded, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{green: 2, r.Status.CurrentPodHash: 0}
	})
	if !strings.Contains(got.Status.Message, "the active Service is switched back") || selectedHash(t, env, ns, "shop-active") != green ||
		got.Status.StableRS != green {
		t.Fatalf("failed postPromotionAnalysis: %q, active %s, stable %s; want green back", got.Status.Message,
			selectedHash(t, env, ns, "shop-active"), got.Status.StableRS)
	}
}
