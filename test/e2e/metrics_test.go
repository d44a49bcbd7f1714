package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The controller's metrics carry upstream's names and labels, so the
// dashboards and alerts people have for Argo Rollouts keep working.
func TestControllerMetricsUseUpstreamNames(t *testing.T) {
	env := testenv.Get(t)
	env.StopController()
	defer env.StartController()
	ns := env.Namespace(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	stop := env.RunControllerWith(env.Config, manager.Options{Namespace: ns, MetricsAddr: addr})
	defer stop()

	passingTemplate(t, env, ns, "health")
	ro := templateRollout(ns, "app", "app:1", 3, []v1alpha1.CanaryStep{{SetWeight: ptr(int32(30))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}}, {Pause: &v1alpha1.RolloutPause{}}})
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 3, 0, v1alpha1.RolloutPhaseHealthy, 3)
	setImage(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 2, v1alpha1.RolloutPhasePaused, 2)

	want := []string{
		fmt.Sprintf(`rollout_info{name="app",namespace="%s",phase="Paused",strategy="canary",traffic_router=""} 1`, ns),
		fmt.Sprintf(`rollout_info_replicas_desired{name="app",namespace="%s"} 3`, ns),
		fmt.Sprintf(`rollout_info_replicas_available{name="app",namespace="%s"} 3`, ns),
		fmt.Sprintf(`rollout_info_replicas_updated{name="app",namespace="%s"} 1`, ns),
		fmt.Sprintf(`rollout_phase{name="app",namespace="%s",phase="Paused",strategy="canary"} 1`, ns),
		fmt.Sprintf(`rollout_phase{name="app",namespace="%s",phase="Completed",strategy="canary"} 0`, ns),
		`analysis_run_info{name="app-`,
		`analysis_run_metric_type{metric="health",name="app-`,
		`analysis_run_metric_phase{dry_run="false",metric="health",name="app-`,
		fmt.Sprintf(`analysis_template_info{name="health",namespace="%s"} 1`, ns),
		fmt.Sprintf(`rollout_events_total{name="app",namespace="%s",reason="RolloutPaused",type="Normal"}`, ns),
		fmt.Sprintf(`rollout_reconcile_count{name="app",namespace="%s"}`, ns),
		fmt.Sprintf(`sluice_rollout_paused_seconds{name="app",namespace="%s"}`, ns),
		`controller_clientset_k8s_request_total{kind="replicasets",name="N/A",namespace="` + ns + `",status_code="201",verb="Create"}`,
	}
	var body string
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		for _, w := range want {
			if !strings.Contains(body, w) {
				var have []string
				for _, line := range strings.Split(body, "\n") {
					if strings.HasPrefix(line, strings.SplitN(w, "{", 2)[0]+"{") {
						have = append(have, line)
					}
				}
				return false, "missing " + w + "; have:\n" + strings.Join(have, "\n")
			}
		}
		return true, ""
	})
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "rollout_info{") || strings.HasPrefix(line, "analysis_run_info{") || strings.HasPrefix(line, "rollout_phase{") {
			t.Log(line)
		}
	}
}
