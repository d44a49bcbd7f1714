package cli

import (
	"os"
	"strings"
	"testing"
)

// The operator's commands, each with --help examples.
var operatorVerbs = []string{
	"get", "get rollout", "list", "list rollouts", "status", "promote", "abort", "retry", "retry rollout",
	"pause", "restart", "set", "set image", "undo", "lint", "version",
}

func TestEveryVerbHasExamples(t *testing.T) {
	root := NewRoot()
	for _, path := range operatorVerbs {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd == root {
			t.Errorf("no command %q", path)
			continue
		}
		if strings.TrimSpace(cmd.Example) == "" {
			t.Errorf("%q has no examples", path)
		}
		if cmd.Short == "" {
			t.Errorf("%q has no short help", path)
		}
	}
}

// Installed as kubectl-sluice, usage and examples say "kubectl sluice", and
// completion scripts are for kubectl-sluice, never kubectl.
func TestKubectlPluginName(t *testing.T) {
	saved := os.Args[0]
	defer func() { os.Args[0] = saved }()
	os.Args[0] = "/usr/local/bin/kubectl-sluice"
	root := NewRoot()
	if got := root.UseLine(); !strings.HasPrefix(got, "kubectl sluice") {
		t.Fatalf("usage line %q", got)
	}
	promote, _, _ := root.Find([]string{"promote"})
	if !strings.Contains(promote.UseLine(), "kubectl sluice promote NAME") || !strings.Contains(promote.Example, "kubectl sluice promote litellm") {
		t.Fatalf("promote usage %q, examples %q", promote.UseLine(), promote.Example)
	}
	var b strings.Builder
	if err := root.GenBashCompletionV2(&b, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "complete -o default -F __start_kubectl-sluice kubectl-sluice") {
		t.Fatalf("bash completion is not for kubectl-sluice:\n%s", b.String()[:300])
	}
	os.Args[0] = "sluice"
	if got := NewRoot().UseLine(); !strings.HasPrefix(got, "sluice") {
		t.Fatalf("usage line %q", got)
	}
}

// Verbs refuse a missing Rollout name with an error that says what is missing.
func TestArgsErrors(t *testing.T) {
	out, code := run(t, "", "promote")
	if code != 1 || !strings.Contains(out, "promote takes NAME; got 0 argument(s)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, code = run(t, "", "set", "image", "web")
	if code != 1 || !strings.Contains(out, "NAME CONTAINER=IMAGE") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, code = run(t, "", "lint")
	if code != 1 || !strings.Contains(out, "at least one -f") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, code = run(t, "", "get", "rollout", "x", "-o", "wide")
	if code != 1 || !strings.Contains(out, `unknown output format "wide"`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
