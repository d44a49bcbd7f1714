package e2e

import (
	"fmt"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

const (
	albAction    = "alb.ingress.kubernetes.io/actions.app-stable"
	albRouteAct  = "alb.ingress.kubernetes.io/actions.canary-header"
	albRouteCond = "alb.ingress.kubernetes.io/conditions.canary-header"
)

// albIngress routes shop.example's / through the action of the stable
// Service (port name use-annotation) and /admin straight to a Service.
func albIngress(ns, name string, actionPort networkingv1.ServiceBackendPort) *networkingv1.Ingress {
	class := "alb"
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Annotations: map[string]string{"alb.ingress.kubernetes.io/scheme": "internet-facing"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					ingressPath("/admin", "admin", networkingv1.ServiceBackendPort{Number: 80}),
					ingressPath("/", "app-stable", actionPort),
				}}}}},
		},
	}
}

var useAnnotation = networkingv1.ServiceBackendPort{Name: "use-annotation"}

// albRollout: 20%, a header route for X-Canary: yes, pause, 50%, pause.
func albRollout(ns, name string) *v1alpha1.Rollout {
	ro := routedRollout(ns, name, "")
	c := ro.Spec.Strategy.Canary
	c.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))},
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Canary", HeaderValue: v1alpha1.StringMatch{Exact: "yes"}}}}},
		{Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
	}
	c.TrafficRouting = &v1alpha1.TrafficRouting{
		ALB:           &runtime.RawExtension{Raw: []byte(`{"ingress":"web","servicePort":8080}`)},
		ManagedRoutes: []v1alpha1.ManagedRoute{{Name: "canary-header"}},
	}
	return ro
}

func albSplit(w int32) string {
	return fmt.Sprintf(`{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"app-canary","ServicePort":"8080","Weight":%d},`+
		`{"ServiceName":"app-stable","ServicePort":"8080","Weight":%d}]}}`, w, 100-w)
}

// expectALB waits until the Ingress's action splits w to the canary, the
// header route is there or not, the rest of the Ingress is untouched, and
// the Rollout's status says w.
func expectALB(t *testing.T, env *testenv.Env, ns, name string, w int32, headerRoute bool) *networkingv1.Ingress {
	t.Helper()
	var ing *networkingv1.Ingress
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		var err error
		if ing, err = getIngress(t, env, ns, "web"); err != nil {
			return false, err.Error()
		}
		a := ing.Annotations
		paths := ing.Spec.Rules[0].HTTP.Paths
		var names []string
		for _, p := range paths {
			names = append(names, p.Path+"→"+p.Backend.Service.Name)
		}
		route := a[albRouteAct] == `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"app-canary","ServicePort":"8080","Weight":100}]}}` &&
			a[albRouteCond] == `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["yes"]}}]` &&
			fmt.Sprint(names) == "[/*→canary-header /admin→admin /→app-stable]"
		noRoute := a[albRouteAct] == "" && a[albRouteCond] == "" && fmt.Sprint(names) == "[/admin→admin /→app-stable]"
		st := getRollout(t, env, ns, name).Status.Canary.Weights
		ok := a[albAction] == albSplit(w) && a["alb.ingress.kubernetes.io/scheme"] == "internet-facing" &&
			((headerRoute && route) || (!headerRoute && noRoute)) && st != nil && st.Canary.Weight == w
		return ok, fmt.Sprintf("annotations %v, paths %v, status weights %+v; want weight %d, header route %v", a, names, st, w, headerRoute)
	})
	return ing
}

// A canary split by the AWS Load Balancer Controller's action annotation,
// with a header route while the update runs. Nothing here talks to AWS:
// what is checked is the Ingress the AWS controller would read.
func TestALBCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()

	t.Run("missing Ingress, then created", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), albRollout(ns, "app"))
		expectDegraded(t, env, ns, "app", "TrafficRouteNotFound",
			`Ingress "web" named by spec.strategy.canary.trafficRouting.alb.ingress was not found in namespace "`+ns+`"`)
		logCondition(t, env, ns, "app")
		create(t, env, albIngress(ns, "web", useAnnotation))
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 5)
		expectALB(t, env, ns, "app", 0, false)
	})

	t.Run("path not on port use-annotation", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"),
			albIngress(ns, "web", networkingv1.ServiceBackendPort{Number: 8080}), albRollout(ns, "app"))
		expectDegraded(t, env, ns, "app", "TrafficRouteUnusable",
			`the paths of Ingress "web" to Service "app-stable" do not use port name "use-annotation"`)
		logCondition(t, env, ns, "app")
		if ing, _ := getIngress(t, env, ns, "web"); ing.Annotations[albAction] != "" {
			t.Fatalf("an unusable Ingress was written: %v", ing.Annotations)
		}
	})

	t.Run("steps, header route, reset, abort, promote --full", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), albIngress(ns, "web", useAnnotation))
		ro := albRollout(ns, "app")
		create(t, env, ro)
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 5)
		expectALB(t, env, ns, "app", 0, false)

		bump(t, env, ro, "app:2")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 2)
		ing := expectALB(t, env, ns, "app", 20, true)
		t.Logf("Ingress at 20%% with the header route:\n%s: %s\n%s: %s\n%s: %s\nmanaged: %s", albAction, ing.Annotations[albAction],
			albRouteAct, ing.Annotations[albRouteAct], albRouteCond, ing.Annotations[albRouteCond],
			ing.Annotations["rollouts.argoproj.io/managed-alb-annotations"])

		// Someone writes the action back to all-stable: rewritten at the next resync.
		patchSpec(t, env, ing, `{"metadata":{"annotations":{"`+albAction+`":`+fmt.Sprintf("%q", albSplit(0))+`}}}`)
		start := time.Now()
		expectALB(t, env, ns, "app", 20, true)
		t.Logf("action reset to 0 by hand was rewritten to 20 in %s", time.Since(start).Round(time.Millisecond))

		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 4)
		expectALB(t, env, ns, "app", 50, true)

		// Last promote: 100%, the canary becomes the stable, back to 0 and
		// the header route goes.
		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 5)
		expectALB(t, env, ns, "app", 0, false)
		expectWeightEvents(t, env, ns, "app", "20%", "50%", "100%", "0%")

		// Abort: weight and header route off the canary at once.
		bump(t, env, ro, "app:3")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 2)
		expectALB(t, env, ns, "app", 20, true)
		abort(t, env, ns, "app")
		start = time.Now()
		expectALB(t, env, ns, "app", 0, false)
		t.Logf("abort: action at 0 and header route gone after %s", time.Since(start).Round(time.Millisecond))
		expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)

		// promote --full from 20%.
		bump(t, env, ro, "app:4")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 2)
		expectALB(t, env, ns, "app", 20, true)
		promoteFull(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 5)
		expectALB(t, env, ns, "app", 0, false)
	})
}
