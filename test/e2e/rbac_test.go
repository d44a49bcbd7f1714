package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// Missing RBAC is a reason the controller cannot make progress, so it is
// loud: a controller whose identity may not create ReplicaSets puts the
// Rollout in Degraded with reason Forbidden and a Warning Event; with the
// permission back, the Rollout recovers.
func TestMissingRBACIsLoud(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	env.StopController()
	defer env.StartController()

	read := []string{"get", "list", "watch"}
	stop := runLimitedController(t, env, ns,
		rule("argoproj.io", []string{"get", "list", "watch", "update", "patch"}, "rollouts", "rollouts/status", "analysisruns", "analysistemplates"),
		rule("apps", read, "replicasets", "deployments"), // no create: the missing permission
		rule("", read, "pods"),
		rule("batch", read, "jobs"),
		rule("events.k8s.io", []string{"create", "patch"}, "events"),
	)

	create(t, env, templateRollout(ns, "web", "web:1", 2, nil))
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		ro := getRollout(t, env, ns, "web")
		c := condition(ro, v1alpha1.RolloutProgressing)
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && c != nil && c.Reason == "Forbidden" &&
			strings.Contains(c.Message, "create ReplicaSet") && strings.Contains(c.Message, "ClusterRole"), ro.Status.Message
	})
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, e := range warningEvents(t, env, ns, "web") {
			if e.Reason == "Forbidden" {
				return true, ""
			}
		}
		return false, "no Forbidden Warning event"
	})
	stop()

	env.StartController()
	expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, -1)
}

// An AnalysisRun whose status the controller may not write cannot record
// its verdict; its Rollout waits (fail closed), and a Warning Event on the
// run says why instead of a log line only.
func TestAnalysisRunStatusWriteFailureIsLoud(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	env.StopController()
	defer env.StartController()
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"ok":true}`) }))

	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	create(t, env, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ok"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "ok", SuccessCondition: "result == true",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.ok}"}}}}}})
	stop := runLimitedController(t, env, ns,
		rule("argoproj.io", all, "rollouts", "rollouts/status", "analysisruns", "analysistemplates"), // no analysisruns/status
		rule("apps", all, "replicasets", "deployments"),
		rule("", all, "pods", "services", "secrets"),
		rule("batch", all, "jobs"),
		rule("events.k8s.io", []string{"create", "patch"}, "events"),
	)
	defer stop()

	ro := templateRollout(ns, "web", "web:1", 2, []v1alpha1.CanaryStep{{SetWeight: ptr(int32(50))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "ok"}}}}})
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, 2)
	bump(t, env, ro, "web:2")
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=AnalysisRun,type=Warning"})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range list.Items {
			if e.Reason == "StatusWriteFailed" && strings.Contains(e.Message, "grant update on analysisruns/status") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d Warning events on AnalysisRuns, none StatusWriteFailed", len(list.Items))
	})
	if r := getRollout(t, env, ns, "web"); *r.Status.CurrentStepIndex != 1 || r.Status.StableRS == r.Status.CurrentPodHash {
		t.Fatalf("the Rollout must wait at the analysis step (fail closed): step %d, stable %s", *r.Status.CurrentStepIndex, r.Status.StableRS)
	}
}

// runLimitedController runs the controller, for namespace ns only, as a
// ServiceAccount that has exactly rules there, and returns how to stop it.
func runLimitedController(t *testing.T, env *testenv.Env, ns string, rules ...rbacv1.PolicyRule) func() {
	t.Helper()
	create(t, env,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "limited"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "limited"}, Rules: rules},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "limited"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "limited"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "limited"}}},
	)
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":limited"}
	return env.RunController(cfg, ns)
}

func rule(group string, verbs []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: resources, Verbs: verbs}
}
