package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/testenv"
)

// run executes the CLI in-process and returns its output and exit code.
func run(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		return out.String(), ExitCode(err)
	}
	return out.String(), 0
}

// Every broken manifest of the corpus is rejected, and the problem names the
// field its "# want:" line gives.
func TestLintRejectsTheCorpusNamingTheField(t *testing.T) {
	testenv.EachBrokenManifest(t, "testdata/lint/invalid/*.yaml", 15, func(t *testing.T, f, want string) {
		out, code := run(t, "", "lint", "-f", f)
		if code != 1 {
			t.Fatalf("exit code %d, want 1:\n%s", code, out)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("the problem does not name %q:\n%s", want, out)
		}
		if !strings.Contains(out, filepath.Base(f)+":") {
			t.Fatalf("the problem does not name the file:\n%s", out)
		}
	})
}

// lint accepts every file in examples/ (and skips their Deployments and Services).
func TestLintAcceptsExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		out, code := run(t, "", "lint", "-f", f)
		if code != 0 || !strings.Contains(out, "no problems") {
			t.Errorf("%s: exit %d\n%s", f, code, out)
		}
	}
	out, code := run(t, "", "lint", "-f", "../../examples")
	if code != 0 || !strings.Contains(out, "skipped") {
		t.Errorf("examples/ as a directory: exit %d\n%s", code, out)
	}
}

// The manifests the API server refuses (test/e2e/testdata/invalid) are
// refused offline too.
func TestLintRejectsWhatTheAPIServerRefuses(t *testing.T) {
	files, _ := filepath.Glob("../../test/e2e/testdata/invalid/*.yaml")
	for _, f := range files {
		if out, code := run(t, "", "lint", "-f", f); code != 1 {
			t.Errorf("%s: exit %d\n%s", f, code, out)
		}
	}
}

// Standard input, multi-document, with a List and other kinds skipped.
func TestLintStdin(t *testing.T) {
	in := `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
  - apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata: {name: ok}
    spec:
      args: [{name: service}]
      metrics:
        - name: error-rate
          interval: 1m
          count: "{{args.count}}"
          successCondition: result[0] < 0.05
          provider:
            prometheus: {address: "http://prometheus:9090", query: "up{service='{{args.service}}'}"}
`
	out, code := run(t, in, "lint", "-f", "-")
	if code != 1 || !strings.Contains(out, `<stdin>:1 (items[1]): AnalysisTemplate "ok": spec.metrics[0].count`) ||
		!strings.Contains(out, `argument "count" is not declared`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, code = run(t, strings.Replace(in, "args: [{name: service}]", "args: [{name: service}, {name: count, value: \"5\"}]", 1), "lint", "-f", "-")
	if code != 0 || !strings.Contains(out, "1 object(s) checked, no problems; skipped 1 Service") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// Traffic routing and a Deployment left serving are warnings, not errors.
func TestLintWarnings(t *testing.T) {
	in := `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: litellm}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: litellm}
  strategy:
    canary:
      stableService: litellm
      canaryService: litellm-canary
      trafficRouting:
        plugins:
          argoproj-labs/cilium: {}
`
	out, code := run(t, in, "lint", "-f", "-")
	if code != 0 || !strings.Contains(out, "warning: spec.strategy.canary.trafficRouting") ||
		!strings.Contains(out, "warning: spec.workloadRef.scaleDown is unset (never)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// The Gateway API router is carried: no warning, and its config is checked.
	gw := strings.Replace(in, "argoproj-labs/cilium: {}", "argoproj-labs/gatewayAPI: {httpRoute: litellm}", 1)
	gw = strings.Replace(gw, "apps/v1, kind: Deployment, name: litellm}", "apps/v1, kind: Deployment, name: litellm, scaleDown: onsuccess}", 1)
	if out, code := run(t, gw, "lint", "-f", "-"); code != 0 || strings.Contains(out, "warning") {
		t.Fatalf("gatewayAPI: exit %d\n%s", code, out)
	}
	bad := strings.Replace(gw, "{httpRoute: litellm}", "{route: litellm}", 1)
	if out, code := run(t, bad, "lint", "-f", "-"); code == 0 || !strings.Contains(out, `plugins[argoproj-labs/gatewayAPI]`) || !strings.Contains(out, `unknown field "route"`) {
		t.Fatalf("bad gatewayAPI config: exit %d\n%s", code, out)
	}
}
