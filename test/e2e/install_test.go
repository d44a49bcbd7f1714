package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// config/default installs with plain `kubectl apply -k`, and the controller's
// ServiceAccount can do exactly what the reconcilers need and no more.
func TestInstallManifestsGrantLeastPrivilege(t *testing.T) {
	env := testenv.Get(t)
	dir := filepath.Join(env.Root, "config/default")
	if out, err := env.Kubectl("apply", "-k", dir); err != nil {
		t.Fatalf("kubectl apply -k config/default: %v\n%s", err, out)
	}
	t.Cleanup(func() { // the Deployment's pods are kwok's fakes; RBAC and namespace stay for the next test
		_, _ = env.Kubectl("delete", "--ignore-not-found", "deployment", "sluice-controller", "-n", "sluice-system")
	})
	out, err := env.Kubectl("get", "deployment", "sluice-controller", "-n", "sluice-system",
		"-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].args}")
	if err != nil || !strings.HasPrefix(out, "2 ") || !strings.Contains(out, "--leader-elect") {
		t.Fatalf("controller Deployment should run 2 replicas with leader election: %q %v", out, err)
	}
	expectLeastPrivilege(t, env, "sluice-system", "sluice-controller")
}

// expectLeastPrivilege checks that ServiceAccount ns/sa may do exactly what
// the reconcilers need, and not more. It asks the API server with
// SubjectAccessReviews, which need no discovery (the Gateway API CRDs may not
// be installed).
func expectLeastPrivilege(t *testing.T, env *testenv.Env, ns, sa string) {
	t.Helper()
	user := "system:serviceaccount:" + ns + ":" + sa
	for _, tc := range []struct {
		verb, group, resource, sub, ns string
		want                           bool
	}{
		{"create", "apps", "replicasets", "", "team-a", true},
		{"patch", "argoproj.io", "rollouts", "status", "team-a", true},
		{"create", "argoproj.io", "analysisruns", "", "team-b", true},
		{"create", "", "pods", "eviction", "team-a", true}, // spec.restartAt evicts (PodDisruptionBudgets hold)
		{"delete", "", "pods", "", "team-a", false},        // and never deletes pods directly
		{"patch", "", "services", "", "team-a", true},      // blue-green switch, routed canary
		{"create", "batch", "jobs", "", "team-a", true},
		{"update", "gateway.networking.k8s.io", "httproutes", "", "team-a", true}, // Gateway API weights
		{"create", "networking.k8s.io", "ingresses", "", "team-a", true},          // NGINX canary Ingress
		{"watch", "networking.k8s.io", "ingresses", "", "team-a", false},          // read with a GET, not watched: no cluster-wide cache
		{"update", "networking.istio.io", "virtualservices", "", "team-a", true},  // Istio weights and managed routes
		{"update", "networking.istio.io", "destinationrules", "", "team-a", true}, // Istio subset hash labels
		{"create", "split.smi-spec.io", "trafficsplits", "", "team-a", true},      // SMI: Sluice creates the TrafficSplit
		{"update", "traefik.io", "traefikservices", "", "team-a", true},           // Traefik weights
		{"update", "traefik.containo.us", "traefikservices", "", "team-a", true},  // Traefik v2 before 2.10
		{"update", "coordination.k8s.io", "leases", "", ns, true},
		// Not needed, so not granted:
		{"update", "coordination.k8s.io", "leases", "", "kube-system", false},
		{"create", "apps", "deployments", "", "team-a", false},
		{"delete", "", "services", "", "team-a", false},
		{"list", "", "secrets", "", "team-a", false},
		{"create", "gateway.networking.k8s.io", "httproutes", "", "team-a", false},
		{"delete", "networking.k8s.io", "ingresses", "", "team-a", false},       // canary Ingresses go by owner reference
		{"list", "networking.istio.io", "virtualservices", "", "team-a", false}, // read with a GET, never listed
		{"delete", "split.smi-spec.io", "trafficsplits", "", "team-a", false},   // TrafficSplits go by owner reference
		{"create", "traefik.io", "traefikservices", "", "team-a", false},
		{"list", "traefik.io", "traefikservices", "", "team-a", false}, // read with a GET, not watched
		{"delete", "", "nodes", "", "", false},
		{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tc.verb, Group: tc.group, Resource: tc.resource,
				Subresource: tc.sub, Namespace: tc.ns}}}
		got, err := env.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != tc.want {
			t.Errorf("may %s %s %s.%s/%s in %q? %v, want %v", sa, tc.verb, tc.resource, tc.group, tc.sub, tc.ns, got.Status.Allowed, tc.want)
		}
	}
}

// The controller runs its workflows with nothing but the installed
// ClusterRole: a canary gated by analysis whose URL comes from a Secret, and
// a blue-green switching a Service. (In-process tests otherwise run as admin,
// which would hide a missing permission.)
func TestWorkflowsRunWithTheInstalledRBAC(t *testing.T) {
	env := testenv.Get(t)
	if out, err := env.Kubectl("apply", "-k", filepath.Join(env.Root, "config/default")); err != nil {
		t.Fatalf("kubectl apply -k config/default: %v\n%s", err, out)
	}
	t.Cleanup(func() { // the Deployment's pods are kwok's fakes; RBAC and namespace stay for the next test
		_, _ = env.Kubectl("delete", "--ignore-not-found", "deployment", "sluice-controller", "-n", "sluice-system")
	})
	env.StopController()
	defer env.StartController()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:sluice-system:sluice-controller"}
	stop := env.RunController(cfg, "")
	defer stop()

	ns := env.Namespace(t)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) }))
	create(t, env,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "health"}, StringData: map[string]string{"url": url}},
		&v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "health"},
			Spec: v1alpha1.AnalysisTemplateSpec{
				Args: []v1alpha1.Argument{{Name: "url", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "health", Key: "url"}}}},
				Metrics: []v1alpha1.Metric{{Name: "health", SuccessCondition: `result == "ok"`,
					Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "{{args.url}}", JSONPath: "{$.status}"}}}}}},
		service(ns, "bg-active", "bg"))
	ro := templateRollout(ns, "web", "web:1", 2, []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(50))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}},
	})
	bg := blueGreenRollout(ns, "bg", 2, &v1alpha1.BlueGreenStrategy{ActiveService: "bg-active", ScaleDownDelaySeconds: ptr(int32(1))})
	create(t, env, ro, bg)
	expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, 2)
	bump(t, env, ro, "web:2")
	got := expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, 2)
	if runs := analysisRuns(t, env, ns); len(runs) != 1 || runs[0].Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("the analysis (Secret argument) should have passed: %+v", runs)
	}
	if got.Status.StableRS != got.Status.CurrentPodHash {
		t.Fatal("canary not promoted")
	}

	waitBlueGreen(t, env, ns, "bg", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 2}
	})
	bump(t, env, bg, "bg:2")
	green := waitBlueGreen(t, env, ns, "bg", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 2}
	}).Status.CurrentPodHash
	if selectedHash(t, env, ns, "bg-active") != green {
		t.Fatal("the active Service was not switched")
	}
}
