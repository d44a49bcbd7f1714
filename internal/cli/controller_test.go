package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: https://a.example:6443}
- name: b
  cluster: {server: https://b.example:6443}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx-a
  context: {cluster: a, user: u}
- name: ctx-b
  context: {cluster: b, user: u}
current-context: ctx-a
`

const envOnly = `apiVersion: v1
kind: Config
clusters:
- name: e
  cluster: {server: https://env.example:6443}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx-e
  context: {cluster: e, user: u}
current-context: ctx-e
`

// sluice controller finds its cluster as kubectl does: --kubeconfig wins
// over $KUBECONFIG, --context picks a context of whichever file is used.
func TestControllerKubeconfigFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "two")
	env := filepath.Join(dir, "env")
	if err := os.WriteFile(file, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env, []byte(envOnly), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", env)
	for _, c := range []struct{ kubeconfig, context, host, err string }{
		{"", "", "https://env.example:6443", ""},
		{file, "", "https://a.example:6443", ""},
		{file, "ctx-b", "https://b.example:6443", ""},
		{file, "nope", "", `context "nope" does not exist`},
		{filepath.Join(dir, "missing"), "", "", "missing"},
	} {
		cfg, err := restConfig(c.kubeconfig, c.context)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("--kubeconfig=%q --context=%q: want error containing %q, got %v", c.kubeconfig, c.context, c.err, err)
		case c.err == "" && err != nil:
			t.Errorf("--kubeconfig=%q --context=%q: %v", c.kubeconfig, c.context, err)
		case c.err == "" && cfg.Host != c.host:
			t.Errorf("--kubeconfig=%q --context=%q: host %s, want %s", c.kubeconfig, c.context, cfg.Host, c.host)
		}
	}
}

// The flags are the ones kubectl users type.
func TestControllerHasKubeconfigFlags(t *testing.T) {
	cmd := newControllerCmd()
	for _, name := range []string{"kubeconfig", "context"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("sluice controller has no --%s", name)
		}
	}
}
