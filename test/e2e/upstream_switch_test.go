package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/controller/rollout"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// Switching controllers without a redeploy (issue 17, first proof): upstream
// Argo Rollouts' own controller — every version with a wrapper module in
// hack/upstream/, built from the Go module proxy by hack/upstream/build.sh —
// drives Rollouts to Healthy and to a pause; then it is stopped and Sluice
// takes over: no pod replaced, no new ReplicaSet, the Rollout stays at its
// step and resumes from it. And back: Sluice pauses a release, upstream takes
// over and finishes it.

// upstreamVersions are the versions hack/upstream/ has wrapper modules for.
func upstreamVersions(t *testing.T, env *testenv.Env) []string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(env.Root, "hack/upstream/v*"))
	var out []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, filepath.Base(d))
		}
	}
	if len(out) == 0 {
		t.Fatal("no wrapper modules in hack/upstream/")
	}
	return out
}

// upstreamBinary is the controller hack/upstream/build.sh built for
// version, or skips the test with the reason it could not be built here.
func upstreamBinary(t *testing.T, env *testenv.Env, version string) string {
	t.Helper()
	bin := env.Bin("argo-rollouts-" + version)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if why, err := os.ReadFile(bin + ".unbuildable"); err == nil {
		t.Skipf("upstream Argo Rollouts %s cannot be built on this machine, so the switch is not tested for it: %s", version, why)
	}
	t.Fatalf("%s is missing and hack/upstream/build.sh (run by hack/sandbox/build.sh) left no reason in %s.unbuildable", bin, bin)
	return ""
}

// ensureExperimentCRD checks that Sluice's CRDs (installed by testenv from
// config/crd) include experiments.argoproj.io: upstream's controller waits
// for an Experiment informer before it starts any worker, so without the
// kind a switch back to it would never start.
func ensureExperimentCRD(t *testing.T, env *testenv.Env, _ string) {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(ctx, types.NamespacedName{Name: "experiments.argoproj.io"}, &crd); err != nil {
		t.Fatalf("Sluice's CRDs must carry experiments.argoproj.io for upstream's controller to start: %v", err)
	}
}

// upstreamController is upstream's controller running as a subprocess,
// restricted to one namespace.
type upstreamController struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startUpstream(t *testing.T, env *testenv.Env, version, ns string) *upstreamController {
	t.Helper()
	bin := upstreamBinary(t, env, version)
	ensureExperimentCRD(t, env, version)
	// The log outlives a failed test, for the report.
	f, err := os.CreateTemp("", "sluice-upstream-"+version+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	log := f.Name()
	// --namespaced --namespace: only the test's namespace (no cluster-scoped
	// informers); port 0: metrics and healthz on free ports; no leader
	// election, the test itself guarantees one controller at a time.
	cmd := exec.Command(bin, "--kubeconfig", env.Kubeconfig, "--namespaced", "--namespace", ns,
		"--leader-elect=false", "--metricsport", "0", "--healthzPort", "0", "--loglevel", "info")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	u := &upstreamController{t: t, cmd: cmd, log: log, done: make(chan error, 1)}
	go func() { u.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		u.stop()
		if t.Failed() {
			t.Logf("upstream %s log kept in %s, last lines:\n%s", version, log, tail(log, 40))
		} else {
			_ = os.Remove(log)
		}
	})
	// Wait until its rollout workers run: before that nothing it does counts.
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		select {
		case err := <-u.done:
			u.done <- err
			t.Fatalf("upstream's controller %s exited at start: %v\n%s", version, err, tail(log, 30))
		default:
		}
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), "Started rollout workers"),
			"waiting for upstream's controller to start its rollout workers; log ends:\n" + tail(log, 10)
	})
	return u
}

// stop sends SIGTERM and waits for the controller to exit (killing it
// after 30s); it reports errors upstream logged while it ran.
func (u *upstreamController) stop() {
	if u.cmd == nil {
		return
	}
	_ = u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-u.done:
	case <-time.After(30 * time.Second):
		u.t.Errorf("upstream's controller did not exit within 30s of SIGTERM; killed")
		_ = u.cmd.Process.Kill()
		<-u.done
	}
	u.cmd = nil
	var errs []string
	for _, l := range grepLog(u.log, "level=error", "level=fatal", "panic") {
		if !strings.Contains(l, "Server closed") { // its healthz and metrics servers, on shutdown
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		u.t.Logf("upstream's controller logged %d error lines, first ones:\n%s", len(errs), strings.Join(errs[:min(len(errs), 8)], "\n"))
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func grepLog(path string, subs ...string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		for _, s := range subs {
			if strings.Contains(sc.Text(), s) {
				out = append(out, sc.Text())
				break
			}
		}
	}
	return out
}

// promoteUpstream promotes a Rollout upstream's controller drives, as an
// operator would: once the controller has stopped writing it. Upstream up to
// v1.9.x loses a promote that lands while a reconcile of the pause is still
// in flight (writeBackToInformer puts the older object back into its cache;
// argoproj/argo-rollouts#4694, #4073, fixed by #4786): the Rollout stays
// Paused until the next resync, 15 minutes later.
func promoteUpstream(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	last, since := "", time.Now()
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		if rv := getRollout(t, env, ns, name).ResourceVersion; rv != last {
			last, since = rv, time.Now()
		}
		return time.Since(since) >= time.Second, "waiting for upstream's controller to stop writing the Rollout"
	})
	promote(t, env, ns, name)
}

// switchSnapshot is what must not change when the controller is swapped.
type switchSnapshot struct {
	pods     string            // UIDs of the namespace's pods
	rs       map[string]string // ReplicaSet name → "uid hash replicas"
	services map[string]string // Service → selected pod hash
	status   v1alpha1.RolloutStatus
	raw      map[string]any // the Rollout's status as stored, to show what changed
	rsMeta   map[string]string
}

func snapshot(t *testing.T, env *testenv.Env, ns, name string, services ...string) switchSnapshot {
	t.Helper()
	s := switchSnapshot{pods: podUIDs(t, env, ns), rs: map[string]string{}, services: map[string]string{}, rsMeta: map[string]string{}}
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range list.Items {
		s.rs[rs.Name] = fmt.Sprintf("uid %s hash %s replicas %d", rs.UID, rs.Labels["rollouts-pod-template-hash"], *rs.Spec.Replicas)
		b, _ := json.Marshal(map[string]any{"labels": rs.Labels, "annotations": rs.Annotations})
		s.rsMeta[rs.Name] = string(b)
	}
	for _, svc := range services {
		s.services[svc] = selectedHash(t, env, ns, svc)
	}
	s.status = getRollout(t, env, ns, name).Status
	var u map[string]any
	out, err := env.Kubectl("get", "rollouts.argoproj.io", name, "-n", ns, "-o", "json")
	if err == nil && json.Unmarshal([]byte(out), &u) == nil {
		s.raw, _ = u["status"].(map[string]any)
		// The spec and the Rollout's own labels and annotations, to show
		// what the other controller rewrote there too.
		meta, _ := u["metadata"].(map[string]any)
		s.raw["(spec)"] = u["spec"]
		s.raw["(metadata.generation)"] = meta["generation"]
		s.raw["(metadata.labels)"] = meta["labels"]
		s.raw["(metadata.annotations)"] = meta["annotations"]
	}
	return s
}

func (s switchSnapshot) step() int32 {
	if s.status.CurrentStepIndex == nil {
		return -1
	}
	return *s.status.CurrentStepIndex
}

// differences lists how now departs from before in what a switch must keep.
func (s switchSnapshot) differences(now switchSnapshot) []string {
	var d []string
	if now.pods != s.pods {
		d = append(d, fmt.Sprintf("pods replaced: before %s, now %s", s.pods, now.pods))
	}
	for n, v := range now.rs {
		if b, ok := s.rs[n]; !ok {
			d = append(d, fmt.Sprintf("new ReplicaSet %s (%s)", n, v))
		} else if b != v {
			d = append(d, fmt.Sprintf("ReplicaSet %s changed: %s → %s", n, b, v))
		}
	}
	for n, v := range s.rs {
		if _, ok := now.rs[n]; !ok {
			d = append(d, fmt.Sprintf("ReplicaSet %s (%s) deleted", n, v))
		}
	}
	for svc, h := range s.services {
		if now.services[svc] != h {
			d = append(d, fmt.Sprintf("Service %s selects %q, was %q", svc, now.services[svc], h))
		}
	}
	a, b := s.status, now.status
	if a.CurrentPodHash != b.CurrentPodHash || a.StableRS != b.StableRS {
		d = append(d, fmt.Sprintf("hashes: currentPodHash %q → %q, stableRS %q → %q", a.CurrentPodHash, b.CurrentPodHash, a.StableRS, b.StableRS))
	}
	if s.step() != now.step() {
		d = append(d, fmt.Sprintf("currentStepIndex %d → %d", s.step(), now.step()))
	}
	if b.Phase != v1alpha1.RolloutPhasePaused || len(b.PauseConditions) == 0 {
		d = append(d, fmt.Sprintf("not paused any more: phase %s %q, pauseConditions %v", b.Phase, b.Message, b.PauseConditions))
	}
	if a.BlueGreen.ActiveSelector != b.BlueGreen.ActiveSelector || a.BlueGreen.PreviewSelector != b.BlueGreen.PreviewSelector {
		d = append(d, fmt.Sprintf("blueGreen selectors active %q → %q, preview %q → %q",
			a.BlueGreen.ActiveSelector, b.BlueGreen.ActiveSelector, a.BlueGreen.PreviewSelector, b.BlueGreen.PreviewSelector))
	}
	return d
}

// statusChanges describes the status fields the new controller rewrote.
func (s switchSnapshot) statusChanges(now switchSnapshot) string {
	keys := map[string]bool{}
	for k := range s.raw {
		keys[k] = true
	}
	for k := range now.raw {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		a, _ := json.Marshal(s.raw[k])
		b, _ := json.Marshal(now.raw[k])
		if k == "conditions" {
			a, b = []byte(conditionSummary(s.raw[k])), []byte(conditionSummary(now.raw[k]))
		}
		if string(a) != string(b) {
			if strings.HasPrefix(k, "(") {
				out = append(out, fmt.Sprintf("  %s: %s → %s", k, a, b))
			} else {
				out = append(out, fmt.Sprintf("  status.%s: %s → %s", k, a, b))
			}
		}
	}
	for n, m := range s.rsMeta {
		if now.rsMeta[n] != m && now.rsMeta[n] != "" {
			out = append(out, fmt.Sprintf("  ReplicaSet %s metadata: %s → %s", n, m, now.rsMeta[n]))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// conditionSummary is type=status/reason of each condition, without the
// times and messages that change on every write.
func conditionSummary(v any) string {
	list, _ := v.([]any)
	var out []string
	for _, c := range list {
		m, _ := c.(map[string]any)
		out = append(out, fmt.Sprintf("%v=%v/%v", m["type"], m["status"], m["reason"]))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// holdsAfterSwitch checks for hold that nothing the switch must keep moves,
// and reports every difference (once) as a test error.
func holdsAfterSwitch(t *testing.T, env *testenv.Env, ns, name string, before switchSnapshot, hold time.Duration, services ...string) switchSnapshot {
	t.Helper()
	seen := map[string]bool{}
	var now switchSnapshot
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		now = snapshot(t, env, ns, name, services...)
		for _, d := range before.differences(now) {
			if !seen[d] {
				seen[d] = true
				t.Errorf("after the switch: %s", d)
			}
		}
	}
	if c := before.statusChanges(now); c != "" {
		t.Logf("what the new controller rewrote:\n%s", c)
	}
	return now
}

func TestUpstreamSwitch(t *testing.T) {
	env := testenv.Get(t)
	env.StopController()
	defer env.StartController()
	for _, v := range upstreamVersions(t, env) {
		t.Run(v, func(t *testing.T) {
			t.Run("canary", func(t *testing.T) { upstreamSwitchCanary(t, env, v) })
			t.Run("bluegreen", func(t *testing.T) { upstreamSwitchBlueGreen(t, env, v) })
		})
	}
}

// The seeds' canary (5 replicas, 20% / pause / 50% / pause).
func upstreamSwitchCanary(t *testing.T, env *testenv.Env, version string) {
	env.StopController()
	ns := env.Namespace(t)
	up := startUpstream(t, env, version, ns)

	// Upstream: to Healthy, then a release to its 50% pause (3 + 3).
	ro := templateRollout(ns, "app", "app:1", 5, seedSteps())
	create(t, env, ro)
	expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	sampler := sampleAvailability(t, env, ns, "app")
	setImage(t, env, ro, "app:2")
	expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	promoteUpstream(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	up.stop()
	before := snapshot(t, env, ns, "app")
	t.Logf("upstream %s left: %s; stable %s canary %s, step %d, stepHash %s", version,
		describeRS(replicaSets(t, env, ns, "app")), before.status.StableRS, before.status.CurrentPodHash, before.step(), before.status.CurrentStepHash)

	// Sluice takes over at the 50% pause. Upstream up to v1.8 hashed
	// templates otherwise: then its ReplicaSets are adopted by template.
	ours := rollout.TemplateHash(getRollout(t, env, ns, "app").Spec.Template)
	t.Logf("upstream %s hashed the canary's template %s, Sluice hashes it %s", version, before.status.CurrentPodHash, ours)
	env.StartController()
	holdsAfterSwitch(t, env, ns, "app", before, 5*time.Second)
	if ours != before.status.CurrentPodHash && !hasEvent(t, env, ns, "app", "ReplicaSetAdopted", before.status.CurrentPodHash) {
		t.Errorf("no ReplicaSetAdopted event for upstream's canary %s", before.status.CurrentPodHash)
	}
	promote(t, env, ns, "app")
	done := expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if done.Status.StableRS != before.status.CurrentPodHash {
		t.Errorf("Sluice finished upstream's release on stable %s, want upstream's canary %s", done.Status.StableRS, before.status.CurrentPodHash)
	}

	// And back: Sluice pauses the next release at 20%, upstream takes over.
	setImage(t, env, getRollout(t, env, ns, "app"), "app:3")
	expectCanary(t, env, ns, "app", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	env.StopController()
	before = snapshot(t, env, ns, "app")
	t.Logf("Sluice left: %s; stable %s canary %s, step %d, stepHash %s",
		describeRS(replicaSets(t, env, ns, "app")), before.status.StableRS, before.status.CurrentPodHash, before.step(), before.status.CurrentStepHash)
	up = startUpstream(t, env, version, ns)
	holdsAfterSwitch(t, env, ns, "app", before, 5*time.Second)
	promoteUpstream(t, env, ns, "app")
	expectCanary(t, env, ns, "app", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	promoteUpstream(t, env, ns, "app")
	done = expectCanary(t, env, ns, "app", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if done.Status.StableRS != before.status.CurrentPodHash {
		t.Errorf("upstream finished Sluice's release on stable %s, want Sluice's canary %s", done.Status.StableRS, before.status.CurrentPodHash)
	}
	up.stop()
	sampler.check(t, 4)
}

// A blue-green with active and preview Services, paused before promotion.
func upstreamSwitchBlueGreen(t *testing.T, env *testenv.Env, version string) {
	env.StopController()
	ns := env.Namespace(t)
	up := startUpstream(t, env, version, ns)
	svcs := []string{"bg-active", "bg-preview"}
	create(t, env, service(ns, "bg-active", "bg"), service(ns, "bg-preview", "bg"))
	ro := blueGreenRollout(ns, "bg", 3, &v1alpha1.BlueGreenStrategy{ActiveService: "bg-active", PreviewService: "bg-preview",
		AutoPromotionEnabled: ptr(false), ScaleDownDelaySeconds: ptr(int32(3))})
	create(t, env, ro)
	first := waitBlueGreen(t, env, ns, "bg", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 3}
	})
	sampler := sampleAvailability(t, env, ns, "bg")
	setImage(t, env, ro, "bg:2")
	paused := func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{r.Status.CurrentPodHash: 3, r.Status.StableRS: 3}
	}
	waitBlueGreen(t, env, ns, "bg", v1alpha1.RolloutPhasePaused, paused)
	up.stop()
	before := snapshot(t, env, ns, "bg", svcs...)
	if before.services["bg-active"] != first.Status.StableRS || before.services["bg-preview"] != before.status.CurrentPodHash {
		t.Errorf("upstream's pause: active selects %q (want %q), preview %q (want %q)", before.services["bg-active"],
			first.Status.StableRS, before.services["bg-preview"], before.status.CurrentPodHash)
	}
	t.Logf("upstream %s left: %s; active %s preview %s", version, describeRS(replicaSets(t, env, ns, "bg")),
		before.services["bg-active"], before.services["bg-preview"])

	env.StartController()
	holdsAfterSwitch(t, env, ns, "bg", before, 5*time.Second, svcs...)
	promote(t, env, ns, "bg")
	done := waitBlueGreen(t, env, ns, "bg", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{before.status.CurrentPodHash: 3, before.status.StableRS: 0}
	})
	if got := selectedHash(t, env, ns, "bg-active"); got != before.status.CurrentPodHash || done.Status.StableRS != got {
		t.Errorf("after Sluice's promote the active Service selects %q, stable %q; want upstream's preview %q", got, done.Status.StableRS, before.status.CurrentPodHash)
	}

	// And back.
	setImage(t, env, getRollout(t, env, ns, "bg"), "bg:3")
	waitBlueGreen(t, env, ns, "bg", v1alpha1.RolloutPhasePaused, paused)
	env.StopController()
	before = snapshot(t, env, ns, "bg", svcs...)
	t.Logf("Sluice left: %s; active %s preview %s", describeRS(replicaSets(t, env, ns, "bg")), before.services["bg-active"], before.services["bg-preview"])
	up = startUpstream(t, env, version, ns)
	holdsAfterSwitch(t, env, ns, "bg", before, 5*time.Second, svcs...)
	promoteUpstream(t, env, ns, "bg")
	waitBlueGreen(t, env, ns, "bg", v1alpha1.RolloutPhaseHealthy, func(r *v1alpha1.Rollout) map[string]int32 {
		return map[string]int32{before.status.CurrentPodHash: 3, before.status.StableRS: 0}
	})
	if got := selectedHash(t, env, ns, "bg-active"); got != before.status.CurrentPodHash {
		t.Errorf("after upstream's promote the active Service selects %q, want Sluice's preview %q", got, before.status.CurrentPodHash)
	}
	up.stop()
	sampler.check(t, 3)
}
