package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// apply writes manifest to a file and applies it with kubectl (client-side,
// then server-side: both must keep every field).
func apply(t *testing.T, env *testenv.Env, ns, manifest string, serverSide bool) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"apply", "-n", ns, "-f", f}
	if serverSide {
		args = append(args, "--server-side")
	}
	if out, err := env.Kubectl(args...); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// kept fails unless `kubectl get -o json` of the object has every path (dot
// separated, as the API server stored it: nothing pruned).
func kept(t *testing.T, env *testenv.Env, ns, kind, name string, paths ...string) {
	t.Helper()
	out, err := env.Kubectl("get", kind, name, "-n", ns, "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get %s %s: %v\n%s", kind, name, err, out)
	}
	var obj any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		cur := obj
		for _, k := range strings.Split(p, ".") {
			switch c := cur.(type) {
			case map[string]any:
				cur = c[k]
			case []any:
				var i int
				fmt.Sscan(k, &i)
				if i < len(c) {
					cur = c[i]
				} else {
					cur = nil
				}
			default:
				cur = nil
			}
		}
		if cur == nil {
			t.Errorf("%s %s: %s was pruned by the API server", kind, name, p)
		}
	}
}

// The CRDs install with kubectl apply, client-side and server-side.
func TestCRDsApplyClientAndServerSide(t *testing.T) {
	env := testenv.Get(t)
	crds, _ := filepath.Glob(filepath.Join(env.Root, "config/crd/argoproj.io_*.yaml"))
	for _, mode := range [][]string{{"--dry-run=server"}, {"--server-side", "--force-conflicts", "--dry-run=server"}} {
		args := []string{"apply"}
		for _, f := range crds {
			args = append(args, "-f", f)
		}
		args = append(args, mode...)
		if out, err := env.Kubectl(args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// An upstream-style Rollout with what Helm charts and Deployments write —
// maxSurge "1" (quoted), cpu: 0.5 as a number, an emptyDir sizeLimit — is
// accepted and rolls out; one setting fields Sluice does not implement is
// kept verbatim and held Degraded, naming each field.
func TestUpstreamRolloutFieldsAreKeptAndWorkOrAreRefused(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)

	apply(t, env, ns, `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: lenient}
spec:
  replicas: 4
  selector: {matchLabels: {app: lenient}}
  template:
    metadata: {labels: {app: lenient}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 0.5, memory: 64Mi}
          limits: {cpu: 1}
        volumeMounts: [{name: scratch, mountPath: /tmp}]
      volumes:
      - name: scratch
        emptyDir: {sizeLimit: 1Gi}
  strategy:
    canary:
      maxSurge: "1"
      maxUnavailable: "0"
      steps:
      - setWeight: 50
      - pause: {}
`, false)
	kept(t, env, ns, "rollout", "lenient", "spec.template.spec.containers.0.resources.requests.cpu",
		"spec.template.spec.volumes.0.emptyDir.sizeLimit", "spec.strategy.canary.maxSurge")
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		ro := getRollout(t, env, ns, "lenient")
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.AvailableReplicas == 4,
			fmt.Sprintf("phase %s (%s), available %d", ro.Status.Phase, ro.Status.Message, ro.Status.AvailableReplicas)
	})
	var rsList appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &rsList, client.InNamespace(ns)); err != nil || len(rsList.Items) != 1 {
		t.Fatalf("ReplicaSets: %d, %v", len(rsList.Items), err)
	}
	if cpu := rsList.Items[0].Spec.Template.Spec.Containers[0].Resources.Requests["cpu"]; cpu.Cmp(resource.MustParse("500m")) != 0 {
		t.Fatalf("cpu: 0.5 reached the ReplicaSet as %s", cpu.String())
	}

	apply(t, env, ns, `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: unimplemented}
spec:
  replicas: 2
  selector: {matchLabels: {app: unimplemented}}
  template:
    metadata: {labels: {app: unimplemented}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
  strategy:
    canary:
      canaryMetadata: {labels: {role: canary}}
      stableMetadata: {labels: {role: stable}}
      antiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution: {weight: 50}
      replicaProgressThreshold: {type: Percent, value: 90}
      minPodsPerReplicaSet: 2
      dynamicStableScale: true
      steps:
      - setWeight: 20
      - pause: {}
`, true)
	kept(t, env, ns, "rollout", "unimplemented", "spec.strategy.canary.canaryMetadata.labels.role",
		"spec.strategy.canary.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight",
		"spec.strategy.canary.replicaProgressThreshold.value", "spec.strategy.canary.minPodsPerReplicaSet")
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		ro := getRollout(t, env, ns, "unimplemented")
		m := ro.Status.Message
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && strings.HasPrefix(m, "FieldNotSupported") &&
				// canaryMetadata, stableMetadata and antiAffinity work; minPodsPerReplicaSet
				// needs a traffic router; the other two are not carried.
				!strings.Contains(m, "canaryMetadata") && !strings.Contains(m, "antiAffinity") &&
				strings.Contains(m, "spec.strategy.canary.minPodsPerReplicaSet") && strings.Contains(m, "spec.strategy.canary.dynamicStableScale") &&
				strings.Contains(m, "spec.strategy.canary.replicaProgressThreshold") && strings.Contains(m, "not implemented"),
			fmt.Sprintf("phase %s: %s", ro.Status.Phase, m)
	})

	// lint says the same offline.
	out, err := env.Kubectl("get", "rollout", "unimplemented", "-n", ns, "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "ro.yaml")
	_ = os.WriteFile(f, []byte(out), 0o600)
	c := newCLI(t, env, ns)
	lintOut, _ := c.cmd("lint", "-f", f).CombinedOutput()
	if lint, code := string(lintOut), len(lintOut); code == 0 || !strings.Contains(lint, "spec.strategy.canary.minPodsPerReplicaSet: Forbidden: is not implemented by this version of Sluice") {
		t.Fatalf("lint (exit %d):\n%s", code, lint)
	}
	if doc, _ := c.run("doctor", "--no-metrics"); !strings.Contains(doc, "spec.strategy.canary.replicaProgressThreshold is not implemented") ||
		!strings.Contains(doc, "[fields]") {
		t.Fatalf("doctor:\n%s", doc)
	}
}

// An upstream AnalysisTemplate with every analysis field Sluice now reads is
// kept verbatim (client- and server-side apply); a run using a provider Sluice
// lacks ends in Error naming spec.metrics[i].provider.<name>; a run with
// templated initialDelay/count/failureLimit and a web metric behind OAuth2
// client credentials (a real token endpoint on 127.0.0.1) succeeds.
func TestUpstreamAnalysisFieldsAreKeptAndWorkOrAreRefused(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)

	tmpl := `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: upstream}
spec:
  args: [{name: delay}, {name: count}, {name: limit}]
  metrics:
  - name: latency
    initialDelay: "{{args.delay}}"
    count: "{{args.count}}"
    failureLimit: "{{args.limit}}"
    interval: 1s
    successCondition: all(result, # < 1000)
    provider:
      prometheus:
        address: https://prometheus.example:9090
        query: latency_ms
        timeout: 5
        insecure: true
        headers: [{key: X-Scope-OrgID, value: team-a}]
        rangeQuery: {start: 'now() - duration("5m")', end: now(), step: 1m}
        authentication:
          oauth2: {tokenUrl: "https://idp.example/token", clientId: sluice, clientSecret: s3cret, scopes: [read]}
  - name: health
    successCondition: result == "ok"
    provider:
      web:
        url: https://api.example/health
        authentication:
          basicAuth: {username: u, password: p}
`
	apply(t, env, ns, tmpl, false)
	apply(t, env, ns, tmpl, true)
	kept(t, env, ns, "analysistemplate", "upstream", "spec.metrics.0.initialDelay", "spec.metrics.0.provider.prometheus.rangeQuery.step",
		"spec.metrics.0.provider.prometheus.authentication.oauth2.tokenUrl", "spec.metrics.0.provider.prometheus.timeout",
		"spec.metrics.1.provider.web.authentication.basicAuth.username")

	apply(t, env, ns, `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: others}
spec:
  templates: [{templateName: upstream}]
  metrics:
  - name: dd
    successCondition: result < 0.05
    provider:
      datadog: {apiVersion: v2, query: "sum:errors{service:web}", aggregator: last}
  - name: nr
    successCondition: result < 0.05
    provider:
      newRelic: {query: "SELECT count(*) FROM Transaction"}
`, true)
	kept(t, env, ns, "analysistemplate", "others", "spec.templates.0.templateName", "spec.metrics.0.provider.datadog.aggregator",
		"spec.metrics.1.provider.newRelic.query")

	apply(t, env, ns, `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: datadog}
spec:
  ttlStrategy: {secondsAfterCompletion: 3600, secondsAfterFailure: 3}
  metrics:
  - name: dd
    successCondition: result < 0.05
    provider:
      datadog: {query: "sum:errors{service:web}"}
`, false)
	kept(t, env, ns, "analysisrun", "datadog", "spec.ttlStrategy.secondsAfterCompletion")
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		var run v1alpha1.AnalysisRun
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "datadog"}, &run); err != nil {
			return false, err.Error()
		}
		msg := run.Status.Message
		for _, r := range run.Status.MetricResults {
			msg += " | " + r.Message
		}
		return run.Status.Phase == v1alpha1.AnalysisPhaseError && strings.Contains(msg, "spec.metrics[0].provider.datadog") &&
			strings.Contains(msg, "not implemented"), fmt.Sprintf("%s: %s", run.Status.Phase, msg)
	})
	// ttlStrategy.secondsAfterFailure deletes the run once it is that old.
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "datadog"}, &v1alpha1.AnalysisRun{})
		return apierrors.IsNotFound(err), fmt.Sprintf("run still there (%v)", err)
	})

	// A web metric behind OAuth2 client credentials, with templated values.
	var grants int
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		_ = r.ParseForm()
		if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" || id != "sluice" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		grants++
		fmt.Fprint(w, `{"access_token":"e2e-token","token_type":"Bearer","expires_in":3600}`)
	}))
	defer idp.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer e2e-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer api.Close()
	apply(t, env, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: oauth2-web}
spec:
  args: [{name: delay, value: 1s}, {name: count, value: "2"}, {name: limit, value: "0"}, {name: secret, value: s3cret}]
  metrics:
  - name: health
    initialDelay: "{{args.delay}}"
    count: "{{args.count}}"
    failureLimit: "{{args.limit}}"
    interval: 1s
    successCondition: result == "ok"
    provider:
      web:
        url: %s
        jsonPath: "{$.status}"
        authentication:
          oauth2: {tokenUrl: %q, clientId: sluice, clientSecret: "{{args.secret}}"}
`, api.URL, idp.URL+"/token"), false)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		var run v1alpha1.AnalysisRun
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "oauth2-web"}, &run); err != nil {
			return false, err.Error()
		}
		var detail string
		for _, r := range run.Status.MetricResults {
			detail = fmt.Sprintf("%s count %d: %s", r.Phase, r.Count, r.Message)
		}
		return run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("%s: %s", run.Status.Phase, detail)
	})
}
