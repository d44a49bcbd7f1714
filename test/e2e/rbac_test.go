package e2e

import (
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

	rule := func(group string, verbs []string, resources ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: resources, Verbs: verbs}
	}
	read := []string{"get", "list", "watch"}
	create(t, env,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "limited"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "limited"}, Rules: []rbacv1.PolicyRule{
			rule("argoproj.io", []string{"get", "list", "watch", "update", "patch"}, "rollouts", "rollouts/status", "analysisruns", "analysistemplates"),
			rule("apps", read, "replicasets", "deployments"), // no create: the missing permission
			rule("", read, "pods"),
			rule("batch", read, "jobs"),
			rule("events.k8s.io", []string{"create", "patch"}, "events"),
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "limited"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "limited"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "limited"}}},
	)
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":limited"}
	stop := env.RunController(cfg, ns)

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
