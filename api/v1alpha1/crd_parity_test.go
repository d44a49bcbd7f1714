package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// upstreamCRDs pairs each of upstream Argo Rollouts' CRDs (testdata, copied
// verbatim from argoproj/argo-rollouts manifests/crds) with the CRD Sluice
// generates from this package.
var upstreamCRDs = map[string]string{
	"rollout-crd.yaml":                   "argoproj.io_rollouts.yaml",
	"analysis-template-crd.yaml":         "argoproj.io_analysistemplates.yaml",
	"cluster-analysis-template-crd.yaml": "argoproj.io_clusteranalysistemplates.yaml",
	"analysis-run-crd.yaml":              "argoproj.io_analysisruns.yaml",
}

// TestCRDParityWithUpstream walks every property path of upstream's
// openAPIV3Schema and fails naming each one Sluice's CRD would prune or
// refuse: a manifest written for upstream must survive an apply to Sluice
// intact, so switching back to upstream loses nothing.
//
// A path is accepted when Sluice's schema has it, or when it lies under a
// Sluice node that preserves unknown fields (the API server keeps it
// verbatim). A node upstream types as int-or-string must be int-or-string in
// Sluice too (cpu: 0.5 is a number), and a node upstream preserves
// unknown fields under must preserve them in Sluice as well.
func TestCRDParityWithUpstream(t *testing.T) {
	for up, ours := range upstreamCRDs {
		t.Run(up, func(t *testing.T) {
			upSchema := loadSchema(t, filepath.Join("testdata", "upstream-crds", up))
			ourSchema := loadSchema(t, filepath.Join("..", "..", "config", "crd", ours))
			var problems []string
			compareSchema("", upSchema, ourSchema, &problems)
			sort.Strings(problems)
			for _, p := range problems {
				t.Error(p)
			}
			if len(problems) > 0 {
				t.Logf("%d field path(s) of upstream's %s are not accepted by Sluice's %s", len(problems), up, ours)
			}
		})
	}
}

func loadSchema(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	versions, _ := dig(crd, "spec", "versions").([]any)
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		if vm["name"] == "v1alpha1" {
			s, _ := dig(vm, "schema", "openAPIV3Schema").(map[string]any)
			if s == nil {
				t.Fatalf("%s: v1alpha1 has no openAPIV3Schema", path)
			}
			return s
		}
	}
	t.Fatalf("%s: no v1alpha1 version", path)
	return nil
}

func dig(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func truthy(m map[string]any, key string) bool {
	b, _ := m[key].(bool)
	return b
}

// compareSchema records in problems every path under up that ours does not accept.
func compareSchema(path string, up, ours map[string]any, problems *[]string) {
	if ours == nil {
		*problems = append(*problems, fmt.Sprintf("%s: missing from Sluice's CRD", show(path)))
		return
	}
	if truthy(ours, "x-kubernetes-preserve-unknown-fields") && ours["properties"] == nil && ours["items"] == nil {
		return // kept verbatim, whatever is under it
	}
	if truthy(up, "x-kubernetes-int-or-string") && !truthy(ours, "x-kubernetes-int-or-string") {
		*problems = append(*problems, fmt.Sprintf("%s: upstream accepts an int or a string, Sluice's CRD only type %v", show(path), ours["type"]))
	}
	if ut, ot := up["type"], ours["type"]; ut != nil && ot != nil && ut != ot && !truthy(ours, "x-kubernetes-int-or-string") {
		*problems = append(*problems, fmt.Sprintf("%s: upstream's type is %v, Sluice's %v", show(path), ut, ot))
	}
	if truthy(up, "x-kubernetes-preserve-unknown-fields") && !truthy(ours, "x-kubernetes-preserve-unknown-fields") {
		*problems = append(*problems, fmt.Sprintf("%s: upstream keeps unknown fields here, Sluice's CRD would prune them", show(path)))
	}
	if props, ok := up["properties"].(map[string]any); ok {
		ourProps, _ := ours["properties"].(map[string]any)
		for name, sub := range props {
			subUp, _ := sub.(map[string]any)
			subOurs, _ := ourProps[name].(map[string]any)
			if subOurs == nil && truthy(ours, "x-kubernetes-preserve-unknown-fields") {
				continue // not typed by Sluice, but kept
			}
			compareSchema(path+"."+name, subUp, subOurs, problems)
		}
	}
	if items, ok := up["items"].(map[string]any); ok {
		ourItems, _ := ours["items"].(map[string]any)
		compareSchema(path+"[]", items, ourItems, problems)
	}
	if ap, ok := up["additionalProperties"].(map[string]any); ok {
		ourAP, _ := ours["additionalProperties"].(map[string]any)
		compareSchema(path+"{}", ap, ourAP, problems)
	}
}

func show(path string) string {
	if path == "" {
		return "<root>"
	}
	return strings.TrimPrefix(path, ".")
}
