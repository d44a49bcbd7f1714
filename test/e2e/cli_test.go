package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// cli runs the real sluice binary, installed as the kubectl plugin
// kubectl-sluice, against the sandbox.
type cli struct {
	t   *testing.T
	env *testenv.Env
	dir string // holds sluice and the kubectl-sluice link
	ns  string
}

func newCLI(t *testing.T, env *testenv.Env, ns string) *cli {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "sluice"), "./cmd/sluice")
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sluice: %v\n%s", err, out)
	}
	if err := os.Symlink("sluice", filepath.Join(dir, "kubectl-sluice")); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, env: env, dir: dir, ns: ns}
}

func (c *cli) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.dir, "kubectl-sluice"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.env.Kubeconfig, "PATH="+c.dir+":"+os.Getenv("PATH"), "NO_COLOR=")
	return cmd
}

// run runs `kubectl sluice ARGS -n NS` and returns stdout+stderr and the exit code.
func (c *cli) run(args ...string) (string, int) {
	c.t.Helper()
	cmd := c.cmd(append(args, "-n", c.ns)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	c.t.Fatalf("running %v: %v", args, err)
	return "", -1
}

// must runs a verb that must succeed and print want.
func (c *cli) must(want string, args ...string) string {
	c.t.Helper()
	out, code := c.run(args...)
	if code != 0 || !strings.Contains(out, want) {
		c.t.Fatalf("kubectl sluice %s: exit %d, want %q in:\n%s", strings.Join(args, " "), code, want, out)
	}
	return out
}

// status runs `status` and checks its exit code and output.
func (c *cli) status(wantCode int, want string, args ...string) string {
	c.t.Helper()
	out, code := c.run(append([]string{"status", "litellm", "--timeout", "60s"}, args...)...)
	if code != wantCode || !strings.Contains(out, want) {
		c.t.Fatalf("status %v: exit %d (want %d), want %q in:\n%s", args, code, wantCode, want, out)
	}
	return out
}

// get returns `get rollout` output after checking it contains every line of want.
// get runs `get rollout` until its output has every wanted line (pods
// finish terminating a moment after the status says Degraded or Healthy).
func (c *cli) get(name string, want ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := c.must("Name:            "+name, "get", "rollout", name)
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w+"\n") {
				missing = w
				break
			}
		}
		if missing == "" {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("get rollout %s lacks the line %q:\n%s", name, missing, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const (
	imgStable = "ghcr.io/berriai/litellm-database:main-v1.82.3-stable"
	imgCanary = "ghcr.io/berriai/litellm-database:main-v1.83.14-stable"
	imgBroken = "ghcr.io/berriai/litellm-database:main-v1.84.0-stable"
)

// The seeds' runbook, with nothing but the CLI: set image → get → promote →
// promote → status, then abort → retry, undo, pause, restart; `status` exit
// codes; the plugin's usage line.
func TestCLISeedCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	c := newCLI(t, env, ns)

	// Installed as kubectl-sluice, kubectl finds it and its usage says so.
	out, err := c.cmd("--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kubectl sluice [command]") {
		t.Fatalf("kubectl-sluice --help: %v\n%s", err, out)
	}
	kubectl := exec.Command("kubectl", "sluice", "version", "--client")
	kubectl.Env = c.cmd().Env
	if out, err := kubectl.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "sluice: ") {
		t.Fatalf("kubectl sluice version: %v\n%s", err, out)
	}

	if out, err := env.Kubectl("apply", "-n", ns, "-f", filepath.Join(env.Root, "examples/litellm-canary.yaml")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c.status(0, "Healthy")
	c.get("litellm", "Status:          ✔ Healthy", "  Step:          4/4", "Images:          "+imgStable+" (stable)")

	// set image on a workloadRef Rollout patches the Deployment.
	c.must(`deployment "litellm" (spec.workloadRef of rollout "litellm") image updated: litellm=`+imgCanary,
		"set", "image", "litellm", "litellm="+imgCanary)
	c.status(0, "Paused - CanaryPauseStep")
	c.status(2, "Paused - CanaryPauseStep", "--fail-on-pause")
	c.get("litellm",
		"Status:          ॥ Paused", "Message:         CanaryPauseStep", "  Step:          1/4",
		"  SetWeight:     20", "  ActualWeight:  20",
		"Images:          "+imgStable+" (stable)", "                 "+imgCanary+" (canary)",
		"  Desired:       5", "  Current:       5", "  Updated:       1", "  Available:     5")

	c.must(`rollout "litellm" promoted (was at step 1/4, Paused: CanaryPauseStep)`, "promote", "litellm")
	c.status(0, "Paused - CanaryPauseStep")
	c.get("litellm", "  Step:          3/4", "  SetWeight:     50", "  ActualWeight:  50", "  Current:       6", "  Updated:       3")

	c.must(`rollout "litellm" promoted`, "promote", "litellm")
	c.status(0, "Healthy")
	got := c.get("litellm", "Status:          ✔ Healthy", "  Step:          4/4", "  ActualWeight:  100",
		"Images:          "+imgCanary+" (stable)")
	if !strings.Contains(got, "• ScaledDown") {
		t.Fatalf("the old revision should show ScaledDown:\n%s", got)
	}
	if out, code := c.run("promote", "litellm"); code != 1 || !strings.Contains(out, "nothing to promote") {
		t.Fatalf("promote on a Healthy rollout: exit %d\n%s", code, out)
	}
	if out, code := c.run("abort", "litellm"); code != 1 || !strings.Contains(out, "nothing to abort") {
		t.Fatalf("abort on a Healthy rollout: exit %d\n%s", code, out)
	}
	if out, code := c.run("get", "rollout", "nope"); code != 1 || !strings.Contains(out, `rollout "nope" not found in namespace`) {
		t.Fatalf("get of a missing rollout: exit %d\n%s", code, out)
	}
	c.must("litellm  Canary    Healthy  4/4   100         100            5/5", "list", "rollouts")

	// Abort, then retry.
	c.must("image updated", "set", "image", "litellm", "litellm="+imgBroken)
	c.status(0, "Paused - CanaryPauseStep")
	c.must(`rollout "litellm" aborted`, "abort", "litellm")
	c.status(1, "Degraded - RolloutAborted: Rollout aborted update to revision 3")
	c.get("litellm", "Status:          ✖ Degraded", "  Step:          0/4", "  SetWeight:     0", "  ActualWeight:  0")
	c.must(`rollout "litellm" retried`, "retry", "rollout", "litellm")
	c.status(0, "Paused - CanaryPauseStep")
	c.get("litellm", "  Step:          1/4")

	// Undo goes back to the stable template; pause and restart patch the spec.
	c.must("promoted", "promote", "litellm", "--full")
	c.status(0, "Healthy")
	c.must(`rollout "litellm" rolled back to revision 2`, "undo", "litellm")
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "litellm"}, &d); err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != imgCanary {
		t.Fatalf("undo should put %s back in the Deployment, it has %s", imgCanary, img)
	}
	c.status(0, "Paused - CanaryPauseStep")
	c.must(`rollout "litellm" paused`, "pause", "litellm")
	c.must(`rollout "litellm" restarts its pods from`, "restart", "litellm")
	ro := getRollout(t, env, ns, "litellm")
	if !ro.Spec.Paused || ro.Spec.RestartAt == nil {
		t.Fatalf("pause/restart not in the spec: paused %v restartAt %v", ro.Spec.Paused, ro.Spec.RestartAt)
	}
}

// `status` gives up with exit code 3, and undo of a template Rollout brings
// the old ReplicaSet back instead of making an identical new one.
func TestCLIStatusTimeoutAndUndo(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	c := newCLI(t, env, ns)

	create(t, env, templateRollout(ns, "web", "nginx:1.27", 3, seedSteps()))
	out, code := c.run("status", "web", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "Healthy") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	first := getRollout(t, env, ns, "web").Status.CurrentPodHash
	c.must(`rollout "web" image updated: web=nginx:1.28`, "set", "image", "web", "web=nginx:1.28")
	c.must("fully promoted", "promote", "web", "--full")
	if out, code := c.run("status", "web", "--timeout", "30s"); code != 0 || !strings.Contains(out, "Healthy") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	c.must(`rollout "web" rolled back to revision 1 (web=nginx:1.27)`, "undo", "web")
	if out, code := c.run("status", "web", "--timeout", "30s"); code != 0 || !strings.Contains(out, "Paused") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if got := getRollout(t, env, ns, "web").Status.CurrentPodHash; got != first {
		t.Fatalf("undo made a new revision %s instead of going back to %s: %s", got, first, describeRS(replicaSets(t, env, ns, "web")))
	}

	// An update whose pods never schedule stays Progressing: timeout.
	patchSpec(t, env, getRollout(t, env, ns, "web"), `{"spec":{"template":{"spec":{"nodeSelector":{"no-such-node":"true"}}}}}`)
	start := time.Now()
	out, code = c.run("status", "web", "--timeout", "2s")
	if code != 3 || !strings.Contains(out, "did not become Healthy, Degraded or Paused within 2s") || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d after %v\n%s", code, time.Since(start), out)
	}
	if out, code := c.run("status", "web", "--watch=false"); code != 3 || !strings.Contains(out, "Progressing") {
		t.Fatalf("--watch=false while progressing: exit %d\n%s", code, out)
	}
}

// ptyOutput collects what a program writes to its terminal, remembering
// when each piece arrived.
type ptyOutput struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marks  map[string]time.Time
	closed chan struct{}
}

func (p *ptyOutput) seen(s string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.marks[s]
	if !ok && strings.Contains(p.buf.String(), s) {
		at, ok = time.Now(), true
		p.marks[s] = at
	}
	return at, ok
}

// `get rollout --watch` on a terminal redraws in place and shows the step
// change within a second of the controller writing it; Ctrl-C ends it.
// Without a terminal (--no-color) it appends plain views.
func TestCLIWatch(t *testing.T) {
	env := testenv.Get(t)
	env.StartController()
	ns := env.Namespace(t)
	c := newCLI(t, env, ns)
	if out, err := env.Kubectl("apply", "-n", ns, "-f", filepath.Join(env.Root, "examples/litellm-canary.yaml")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c.status(0, "Healthy")
	c.must("image updated", "set", "image", "litellm", "litellm="+imgCanary)
	c.status(0, "Paused - CanaryPauseStep")

	cmd := c.cmd("get", "rollout", "litellm", "-n", ns, "--watch")
	cmd.Env = append(cmd.Env, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 220})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	out := &ptyOutput{marks: map[string]time.Time{}, closed: make(chan struct{})}
	go func() {
		defer close(out.closed)
		b := make([]byte, 4096)
		for {
			n, err := tty.Read(b)
			if n > 0 {
				out.mu.Lock()
				out.buf.Write(b[:n])
				out.mu.Unlock()
				for _, s := range []string{"Step:          1/4", "Step:          3/4"} {
					out.seen(s)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		_, ok := out.seen("Step:          1/4")
		return ok, "no view with Step 1/4 yet"
	})

	// Promote, and note when the controller writes step 3.
	stepAt := make(chan time.Time, 1)
	go func() {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var ro v1alpha1.Rollout
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "litellm"}, &ro); err == nil &&
				ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 3 {
				stepAt <- time.Now()
				return
			}
		}
		close(stepAt)
	}()
	c.must("promoted", "promote", "litellm")
	written, ok := <-stepAt
	if !ok {
		t.Fatal("the controller never reached step 3")
	}
	var shown time.Time
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		shown, ok = out.seen("Step:          3/4")
		return ok, "the watch never showed Step 3/4"
	})
	if lag := shown.Sub(written); lag > time.Second {
		t.Fatalf("the watch showed step 3/4 %v after the controller wrote it (want < 1s)", lag)
	} else {
		t.Logf("step change shown %v after the controller's write", lag)
	}
	out.mu.Lock()
	raw := out.buf.String()
	out.mu.Unlock()
	if !strings.Contains(raw, "\x1b[K") || !strings.Contains(raw, "A\r") || strings.Count(raw, "Name:            litellm") < 2 {
		t.Fatalf("no in-place redraw (cursor up, clear line) on the terminal:\n%q", raw[:min(len(raw), 600)])
	}

	// Ctrl-C ends the watch cleanly.
	if _, err := tty.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch ended with %v after Ctrl-C", err)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the watch did not end on Ctrl-C")
	}

	// Not a terminal: plain views appended, no cursor control, no color.
	plain, code := c.run("get", "rollout", "litellm", "--watch", "--no-color", "--timeout", "2s")
	if code != 0 || strings.Contains(plain, "\x1b") || !strings.Contains(plain, "Step:          3/4") {
		t.Fatalf("plain watch: exit %d\n%q", code, plain)
	}
}
