package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/testenv"
)

// The chart ships what controller-gen generates: the same CRDs and the same
// ClusterRole rules as config/ (make manifests copies them).
func TestChartMatchesGeneratedManifests(t *testing.T) {
	root := testenv.Get(t).Root
	crds, _ := filepath.Glob(filepath.Join(root, "config/crd/argoproj.io_*.yaml"))
	if len(crds) != 5 {
		t.Fatalf("want 5 generated CRDs (rollouts, analysis templates/runs, experiments), found %v", crds)
	}
	for _, f := range crds {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(root, "charts/sluice/crds", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("charts/sluice/crds/%s differs from config/crd (run make manifests): %v", filepath.Base(f), err)
		}
	}
	role, _ := os.ReadFile(filepath.Join(root, "config/rbac/role.yaml"))
	rules, _ := os.ReadFile(filepath.Join(root, "charts/sluice/files/rules.yaml"))
	_, wantRules, _ := strings.Cut(string(role), "rules:\n")
	if _, gotRules, _ := strings.Cut(string(rules), "\n"); gotRules != wantRules {
		t.Errorf("charts/sluice/files/rules.yaml differs from config/rbac/role.yaml (run make manifests)")
	}
}

// `helm template` renders an install whose ServiceAccount has the same least
// privilege as the kustomize one, with its leader-election Lease in the
// release's namespace, and a Deployment the API server accepts.
func TestHelmChartInstalls(t *testing.T) {
	env := testenv.Get(t)
	helm := env.Bin("helm")
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("helm not built (%v): make sandbox-bins builds it", err)
	}
	ns := env.Namespace(t)
	render := exec.Command(helm, "template", "sluice", filepath.Join(env.Root, "charts/sluice"), "--namespace", ns,
		"--skip-crds", "--set", "image.tag=test", "--set", "replicaCount=3", "--set", "extraArgs={--zap-log-level=debug}")
	var out, errb bytes.Buffer
	render.Stdout, render.Stderr = &out, &errb
	if err := render.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, errb.String())
	}
	manifest := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(manifest, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err := env.Kubectl("apply", "--server-side", "-f", manifest); err != nil {
		t.Fatalf("applying the rendered chart: %v\n%s", err, o)
	}
	t.Cleanup(func() {
		_, _ = env.Kubectl("delete", "--ignore-not-found", "-f", manifest)
	})
	got, err := env.Kubectl("get", "deployment", "sluice-controller", "-n", ns, "-o",
		"jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].args}")
	if err != nil || !strings.HasPrefix(got, "3 ghcr.io/sluice-dev/sluice:test ") ||
		!strings.Contains(got, "--leader-election-namespace="+ns) || !strings.Contains(got, "--zap-log-level=debug") {
		t.Fatalf("rendered Deployment: %q %v", got, err)
	}
	expectLeastPrivilege(t, env, ns, "sluice-controller")
}
