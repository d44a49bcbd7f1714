package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// A newer Sluice applied over the CRDs a cluster already has (Sluice's of
// 8528283, or upstream Argo Rollouts') takes over with plain kubectl apply
// and with server-side apply, whichever way the old ones were installed
// (upstream's own analysisruns and rollouts CRDs are too large for a
// client-side kubectl apply, "metadata.annotations: Too long", so they are
// installed server-side or with kubectl create): the apply succeeds, the live schema is
// exactly the new one (nothing of the old one is left behind), Rollouts
// created under the old CRDs are kept, and the controller drives them.
func TestCRDUpgrade(t *testing.T) {
	env := testenv.Get(t)
	env.StopController() // the CRDs are deleted and recreated under it
	defer env.StartController()

	current, _ := filepath.Glob(filepath.Join(env.Root, "config/crd/argoproj.io_*.yaml"))
	sluiceOld, _ := filepath.Glob(filepath.Join(env.Root, "test/e2e/testdata/crd-upgrade/sluice-8528283/*.yaml"))
	upstream, _ := filepath.Glob(filepath.Join(env.Root, "test/e2e/testdata/crd-upgrade/argo-rollouts-9f8d111/*.yaml"))
	// Today's set adds experiments.argoproj.io (carried for upstream's
	// controller) to the four the old sets have: the upgrade creates it.
	if len(current) != 5 || len(sluiceOld) != 4 || len(upstream) != 4 {
		t.Fatalf("want 5 current CRDs and 4 in each old set: %v %v %v", current, sluiceOld, upstream)
	}
	want := map[string]apiextensionsv1.CustomResourceDefinitionSpec{}
	for _, f := range current {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatal(err)
		}
		want[crd.Name] = crd.Spec
	}
	// Leave the sandbox with the current CRDs whatever happens.
	defer func() {
		kubectlFiles(t, env, false, "replace", current)
		if err := env.InstallCRDs(current...); err != nil {
			t.Fatal(err)
		}
	}()

	apply, ssa, kcreate := []string{"apply"}, []string{"apply", "--server-side"}, []string{"create"}
	for _, c := range []struct {
		name             string
		old              []string
		install, upgrade []string
	}{
		{"sluice 8528283, kubectl apply", sluiceOld, apply, apply},
		{"sluice 8528283, server-side apply", sluiceOld, ssa, ssa},
		{"sluice 8528283 kubectl apply, then server-side", sluiceOld, apply, ssa},
		{"argo-rollouts server-side, then server-side", upstream, ssa, ssa},
		{"argo-rollouts created, then kubectl apply", upstream, kcreate, apply},
		{"argo-rollouts server-side, then kubectl apply", upstream, ssa, apply},
	} {
		t.Run(c.name, func(t *testing.T) {
			deleteCRDs(t, env, current)
			kubectlFiles(t, env, true, strings.Join(c.install, " "), c.old)
			if err := env.InstallCRDs(c.old...); err != nil { // waits until served
				t.Fatal(err)
			}
			differ := 0 // the comparison below can tell old from new
			for name, spec := range want {
				var live apiextensionsv1.CustomResourceDefinition
				if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &live); apierrors.IsNotFound(err) {
					differ++ // not in the old set: the upgrade adds it
					continue
				} else if err != nil {
					t.Fatal(err)
				}
				if schemaDiff(spec, live.Spec) != "" {
					differ++
				}
			}
			if differ == 0 {
				t.Fatal("the old CRDs already equal the new ones; nothing to test")
			}
			ns := env.Namespace(t)
			create(t, env, templateRollout(ns, "web", "web:1", 2, seedSteps()))

			out := kubectlFiles(t, env, true, strings.Join(c.upgrade, " "), current)
			t.Logf("%s over %s:\n%s", strings.Join(c.upgrade, " "), strings.Join(c.install, " "), out)
			for name, spec := range want {
				var live apiextensionsv1.CustomResourceDefinition
				if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &live); err != nil {
					t.Fatal(err)
				}
				if d := schemaDiff(spec, live.Spec); d != "" {
					t.Errorf("%s: the live CRD is not the new one after the upgrade: %s", name, d)
				}
			}
			if ro := getRollout(t, env, ns, "web"); ro.Spec.Strategy.Canary == nil {
				t.Fatalf("the Rollout created under the old CRDs lost its strategy: %+v", ro.Spec)
			}
			// The Rollout created under the old CRDs runs under the new ones.
			env.StartController()
			defer env.StopController()
			expectCanary(t, env, ns, "web", 2, 0, v1alpha1.RolloutPhaseHealthy, 4)
		})
	}
}

// kubectlFiles runs kubectl verb (e.g. "apply --server-side") on files.
func kubectlFiles(t *testing.T, env *testenv.Env, mustSucceed bool, verb string, files []string) string {
	t.Helper()
	args := strings.Fields(verb)
	for _, f := range files {
		args = append(args, "-f", f)
	}
	out, err := env.Kubectl(args...)
	if err != nil && mustSucceed {
		t.Fatalf("kubectl %s: %v\n%s", verb, err, out)
	}
	return out
}

// deleteCRDs deletes the argoproj.io CRDs (and so every object of theirs)
// and waits until they are gone.
func deleteCRDs(t *testing.T, env *testenv.Env, files []string) {
	t.Helper()
	env.StripRolloutFinalizers("") // Rollouts left by other tests would hold their CRD
	args := []string{"delete", "--ignore-not-found", "--wait", "--timeout=60s"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if out, err := env.Kubectl(args...); err != nil {
		t.Fatalf("deleting CRDs: %v\n%s", err, out)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		var list apiextensionsv1.CustomResourceDefinitionList
		if err := env.Client.List(ctx, &list); err != nil {
			return false, err.Error()
		}
		for _, c := range list.Items {
			if c.Spec.Group == "argoproj.io" {
				return false, c.Name + " still there"
			}
		}
		return true, ""
	})
}

// schemaDiff compares what an upgrade must replace: names, scope and each
// version's schema, subresources and printer columns.
func schemaDiff(want, got apiextensionsv1.CustomResourceDefinitionSpec) string {
	if len(want.Versions) != len(got.Versions) {
		return "versions differ"
	}
	j := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	if j(want.Names.ShortNames) != j(got.Names.ShortNames) || want.Scope != got.Scope {
		return "names or scope differ: " + j(got.Names) + " " + string(got.Scope)
	}
	for i := range want.Versions {
		w, g := want.Versions[i], got.Versions[i]
		if a, b := j(w.Schema), j(g.Schema); a != b {
			return w.Name + ": schema differs (" + firstDifference(a, b) + ")"
		}
		if j(w.Subresources) != j(g.Subresources) || j(w.AdditionalPrinterColumns) != j(g.AdditionalPrinterColumns) {
			return w.Name + ": subresources or printer columns differ"
		}
	}
	return ""
}

func firstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return "want …" + a[from:min(len(a), i+80)] + "…, have …" + b[from:min(len(b), i+80)] + "…"
}
