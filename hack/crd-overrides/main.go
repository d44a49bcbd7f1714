// Command crd-overrides loosens the schema controller-gen writes for pod
// templates, so a Rollout accepts what a Deployment accepts, as upstream Argo
// Rollouts' CRDs do:
//
//   - resources.limits and resources.requests: controller-gen types a
//     quantity as integer-or-string, so `cpu: 0.5` (a YAML number, which a
//     Deployment takes) would be refused. They keep unknown fields instead;
//     the Go types still parse them as resource.Quantity.
//   - a pod's volumes: the same quantities appear deep inside them
//     (emptyDir.sizeLimit, ephemeral volume claims), and upstream keeps the
//     whole list verbatim.
//
// Run by `make manifests` on the CRDs in the directories given.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

func main() {
	for _, dir := range os.Args[1:] {
		files, _ := filepath.Glob(filepath.Join(dir, "argoproj.io_*.yaml"))
		for _, f := range files {
			if err := rewrite(f); err != nil {
				fmt.Fprintf(os.Stderr, "crd-overrides: %s: %v\n", f, err)
				os.Exit(1)
			}
		}
	}
}

func rewrite(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return err
	}
	walk(crd)
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	if bytes.HasPrefix(b, []byte("---\n")) {
		out = append([]byte("---\n"), out...)
	}
	return os.WriteFile(path, out, 0o644)
}

// keepUnknown replaces a schema node by one that accepts any value.
func keepUnknown(node any) map[string]any {
	m := map[string]any{"x-kubernetes-preserve-unknown-fields": true}
	if n, ok := node.(map[string]any); ok && n["description"] != nil {
		m["description"] = n["description"]
	}
	return m
}

func walk(node any) {
	switch n := node.(type) {
	case []any:
		for _, v := range n {
			walk(v)
		}
	case map[string]any:
		if props, ok := n["properties"].(map[string]any); ok {
			if _, pod := props["containers"]; pod && props["volumes"] != nil {
				props["volumes"] = keepUnknown(props["volumes"])
			}
			for _, k := range []string{"limits", "requests"} {
				if isQuantityMap(props[k]) {
					props[k] = keepUnknown(props[k])
				}
			}
		}
		for _, v := range n {
			walk(v)
		}
	}
}

// isQuantityMap is controller-gen's schema of a corev1.ResourceList.
func isQuantityMap(node any) bool {
	n, ok := node.(map[string]any)
	if !ok {
		return false
	}
	ap, _ := n["additionalProperties"].(map[string]any)
	ios, _ := ap["x-kubernetes-int-or-string"].(bool)
	return ios && ap["pattern"] != nil
}
