package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

const nginxPrefix = "nginx.ingress.kubernetes.io/"

func ingressPath(p, svc string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
	prefix := networkingv1.PathTypePrefix
	return networkingv1.HTTPIngressPath{Path: p, PathType: &prefix, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}}
}

// nginxIngress is a stable Ingress: shop.example's / goes to the stable
// Service and /admin elsewhere; other.example never sees the stable.
func nginxIngress(ns, name, stable string) *networkingv1.Ingress {
	class := "nginx"
	http := func(paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRuleValue {
		return networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}
	}
	port := networkingv1.ServiceBackendPort{Number: 8080}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"shop.example"}, SecretName: "shop-tls"}},
			Rules: []networkingv1.IngressRule{
				{Host: "shop.example", IngressRuleValue: http(ingressPath("/", stable, port), ingressPath("/admin", "admin", port))},
				{Host: "other.example", IngressRuleValue: http(ingressPath("/", "other", port))},
			},
		},
	}
}

func nginxRollout(ns, name, config string) *v1alpha1.Rollout {
	ro := routedRollout(ns, name, "")
	ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.TrafficRouting{Nginx: &runtime.RawExtension{Raw: []byte(config)}}
	return ro
}

func getIngress(t *testing.T, env *testenv.Env, ns, name string) (*networkingv1.Ingress, error) {
	t.Helper()
	var ing networkingv1.Ingress
	err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &ing)
	return &ing, err
}

// expectNginxWeight waits until the canary Ingress says canary-weight w
// (and canary: "true", routing shop.example's / to the canary Service with
// the stable's TLS and class), and the Rollout's status says so too.
func expectNginxWeight(t *testing.T, env *testenv.Env, ns, name, canaryIngress string, w int32) *networkingv1.Ingress {
	t.Helper()
	var ing *networkingv1.Ingress
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		var err error
		if ing, err = getIngress(t, env, ns, canaryIngress); err != nil {
			return false, err.Error()
		}
		a := ing.Annotations
		rules := ing.Spec.Rules
		shaped := len(rules) == 1 && rules[0].Host == "shop.example" && len(rules[0].HTTP.Paths) == 2 &&
			rules[0].HTTP.Paths[0].Backend.Service.Name == name+"-canary" && rules[0].HTTP.Paths[1].Backend.Service.Name == "admin" &&
			len(ing.Spec.TLS) == 1 && *ing.Spec.IngressClassName == "nginx"
		st := getRollout(t, env, ns, name).Status.Canary.Weights
		ok := a[nginxPrefix+"canary"] == "true" && a[nginxPrefix+"canary-weight"] == fmt.Sprint(w) && shaped &&
			st != nil && st.Canary.Weight == w && st.Stable.Weight == 100-w
		return ok, fmt.Sprintf("canary Ingress annotations %v, rules %+v, status weights %+v; want canary-weight %d", a, rules, st, w)
	})
	return ing
}

// A canary split by the NGINX Ingress controller: Sluice creates the canary
// Ingress from the stable one, owned by the Rollout, and moves its
// canary-weight with the steps; the stable Ingress is never written.
func TestNginxCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	const config = `{"stableIngress":"web","additionalIngressAnnotations":{"canary-by-header":"X-Canary"}}`

	t.Run("missing stable Ingress, then created", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), nginxRollout(ns, "app", config))
		expectDegraded(t, env, ns, "app", "TrafficRouteNotFound",
			`Ingress "web" named by spec.strategy.canary.trafficRouting.nginx.stableIngress was not found in namespace "`+ns+`"`)
		logCondition(t, env, ns, "app")
		if _, err := getIngress(t, env, ns, "app-web-canary"); !apierrors.IsNotFound(err) {
			t.Fatalf("a canary Ingress exists although the stable one does not: %v", err)
		}
		create(t, env, nginxIngress(ns, "web", "app-stable"))
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		ing := expectNginxWeight(t, env, ns, "app", "app-web-canary", 0)
		if ref := metav1.GetControllerOf(ing); ref == nil || ref.Kind != "Rollout" || ref.Name != "app" {
			t.Fatalf("canary Ingress controller %+v, want Rollout app", ref)
		}
	})

	t.Run("stable Ingress without a path to the stable Service", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"),
			nginxIngress(ns, "web", "somebody-else"), nginxRollout(ns, "app", config))
		expectDegraded(t, env, ns, "app", "TrafficRouteUnusable",
			`no rule of Ingress "web" has a path whose backend is the stable Service "app-stable"`)
	})

	t.Run("canary Ingress name taken by another", func(t *testing.T) {
		ns := env.Namespace(t)
		taken := nginxIngress(ns, "app-web-canary", "hand-made")
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), nginxIngress(ns, "web", "app-stable"),
			taken, nginxRollout(ns, "app", config))
		expectDegraded(t, env, ns, "app", "TrafficRouteUnusable",
			`Ingress "app-web-canary" in namespace "`+ns+`" exists but is not the canary Ingress of Rollout "app" (it has no controller)`)
		if ing, _ := getIngress(t, env, ns, "app-web-canary"); ing.Annotations[nginxPrefix+"canary"] != "" ||
			ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "hand-made" {
			t.Fatalf("another's Ingress was overwritten: %+v", ing)
		}
	})

	t.Run("steps, reset, abort, promote --full, deletion", func(t *testing.T) {
		ns := env.Namespace(t)
		stable := nginxIngress(ns, "web", "app-stable")
		create(t, env, service(ns, "app-stable", "app"), service(ns, "app-canary", "app"), stable)
		ro := nginxRollout(ns, "app", config)
		create(t, env, ro)
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 0)
		stableBefore, err := getIngress(t, env, ns, "web")
		if err != nil {
			t.Fatal(err)
		}

		bump(t, env, ro, "app:2")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
		ing := expectNginxWeight(t, env, ns, "app", "app-web-canary", 20)
		if ing.Annotations[nginxPrefix+"canary-by-header"] != "X-Canary" {
			t.Fatalf("additionalIngressAnnotations not on the canary Ingress: %v", ing.Annotations)
		}
		ing.ManagedFields = nil
		out, _ := yaml.Marshal(ing)
		t.Logf("canary Ingress at 20%%:\n%s", out)

		// Someone (a GitOps sync) writes the weight back: rewritten at once.
		patchSpec(t, env, ing, `{"metadata":{"annotations":{"`+nginxPrefix+`canary-weight":"0"}}}`)
		start := time.Now()
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 20)
		t.Logf("canary-weight reset to 0 by hand was rewritten to 20 in %s", time.Since(start).Round(time.Millisecond))

		// The stable Ingress gains a host: the canary Ingress follows.
		patchSpec(t, env, stable, `{"spec":{"tls":[{"hosts":["shop.example","www.shop.example"],"secretName":"shop-tls"}]}}`)
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			ing, _ := getIngress(t, env, ns, "app-web-canary")
			return len(ing.Spec.TLS) == 1 && len(ing.Spec.TLS[0].Hosts) == 2, fmt.Sprintf("canary TLS %+v", ing.Spec.TLS)
		})

		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 3, 5, v1alpha1.RolloutPhasePaused, 3)
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 50)

		// Last promote: 100%, the canary becomes the stable, back to 0.
		promote(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 0)
		expectWeightEvents(t, env, ns, "app", "20%", "50%", "100%", "0%")

		// Abort: back to 0 at once.
		bump(t, env, ro, "app:3")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 20)
		abort(t, env, ns, "app")
		start = time.Now()
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 0)
		t.Logf("abort: canary-weight 0 after %s", time.Since(start).Round(time.Millisecond))
		expectCanary(t, env, ns, "app", 0, 5, v1alpha1.RolloutPhaseDegraded, 0)

		// promote --full from 20%: all traffic to the new version, then it is the stable.
		bump(t, env, ro, "app:4")
		expectCanary(t, env, ns, "app", 1, 5, v1alpha1.RolloutPhasePaused, 1)
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 20)
		promoteFull(t, env, ns, "app")
		expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
		expectNginxWeight(t, env, ns, "app", "app-web-canary", 0)

		stableAfter, err := getIngress(t, env, ns, "web")
		if err != nil {
			t.Fatal(err)
		}
		if stableAfter.Generation != stableBefore.Generation+1 || len(stableAfter.Annotations) != 0 {
			t.Fatalf("the stable Ingress was written by Sluice: generation %d → %d (one edit by the test), annotations %v",
				stableBefore.Generation, stableAfter.Generation, stableAfter.Annotations)
		}

		// Deleting the Rollout takes its canary Ingress with it (owner reference).
		if err := env.Client.Delete(ctx, ro); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 60*time.Second, func() (bool, string) {
			_, err := getIngress(t, env, ns, "app-web-canary")
			return apierrors.IsNotFound(err), fmt.Sprintf("canary Ingress still there: %v", err)
		})
		if _, err := getIngress(t, env, ns, "web"); err != nil {
			t.Fatalf("the stable Ingress went with the Rollout: %v", err)
		}
	})
}

// expectWeightEvents checks the Rollout's TrafficWeightUpdated Events
// include each weight, in that order.
func expectWeightEvents(t *testing.T, env *testenv.Env, ns, name string, weights ...string) {
	t.Helper()
	list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=TrafficWeightUpdated"})
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(list.Items, func(i, j int) bool {
		return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp)
	})
	var msgs []string
	for _, e := range list.Items {
		msgs = append(msgs, e.Message)
	}
	all := strings.Join(msgs, "\n")
	i := 0
	for _, m := range msgs {
		if i < len(weights) && strings.Contains(m, "sends "+weights[i]+" of traffic") {
			i++
		}
	}
	if i < len(weights) {
		t.Fatalf("want TrafficWeightUpdated Events for %v in order, got:\n%s", weights, all)
	}
}

// logCondition logs the Rollout's phase and Progressing condition, for the docs.
func logCondition(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	ro := getRollout(t, env, ns, name)
	if c := condition(ro, v1alpha1.RolloutProgressing); c != nil {
		t.Logf("phase %s, Progressing %s/%s: %s", ro.Status.Phase, c.Status, c.Reason, c.Message)
	}
}
