package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

var (
	crashKills = flag.Int("crash.kills", 50, "TestCrash: SIGKILL the controller at least this many times (it drives more rounds until it has)")
	crashSeed  = flag.Int64("crash.seed", 0, "TestCrash: seed of the kill schedule (0: from the clock; the seed used is printed)")
	// Known bug (issue 16, item 2): rolling back to the stable image at
	// setWeight 50 scales the canary's 3 pods to 0 in the reconcile that
	// scales the stable ReplicaSet 3 → 5, so availability drops to 3 < 4.
	// This flag leaves that one step out until it is fixed; nothing else.
	crashSkipCanaryRollback = flag.Bool("crash.skip-canary-rollback", false,
		"TestCrash: leave out the canary's rollback at setWeight 50 (known bug: issue 16 item 2, availability drops below the floor)")
)

// crashWaitTimeout bounds each wait for a state while the controller is
// being killed; reaching it is a liveness failure, reported with the state.
const crashWaitTimeout = 2 * time.Minute

// The controller is SIGKILLed at random moments (at least -crash.kills
// times) while the seeds' canary, with an analysis step between its pauses,
// and a blue-green are driven through promote, abort, retry and a rollback,
// round after round. crashSampler checks the invariants at every watch
// event; the test fails with every violation it saw.
func TestCrash(t *testing.T) {
	env := testenv.Get(t)
	env.StopController() // the shared in-process controller must not act beside the one we kill
	ns := env.Namespace(t)
	// (made before the build: a controller-runtime client first made more
	// than 30s into the test process prints a SetLogger warning)
	s := newCrashSampler(t, env, ns)
	bin := buildSluice(t, env.Root)
	seed := *crashSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("crash seed %d (replay the kill schedule with -crash.seed=%d); at least %d kills", seed, seed, *crashKills)
	rng := rand.New(rand.NewSource(seed))

	web := newCrashWeb(t)
	steps := []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))}, {Pause: &v1alpha1.RolloutPause{}},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "health"}}}},
		{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
	}
	canary := templateRollout(ns, "seed", "seed:r0", 5, steps)
	canary.Spec.MinReadySeconds = 1 // a new pod is available 1s after it is Ready: availability windows are real
	bg := blueGreenRollout(ns, "bg", 3, &v1alpha1.BlueGreenStrategy{
		ActiveService: "bg-active", PreviewService: "bg-preview", AutoPromotionEnabled: ptr(false),
		ScaleDownDelaySeconds: ptr(int32(2)), AbortScaleDownDelaySeconds: ptr(int32(1)),
	})
	bg.Spec.Template.Spec.Containers[0].Image = "bg:r0"
	bg.Spec.MinReadySeconds = 1
	create(t, env, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "health"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
			Name: "health", Interval: "1s", Count: ptr(intstr.FromInt32(2)),
			SuccessCondition: `result startsWith "ok-"`, FailureCondition: `result startsWith "bad-"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: web.url, JSONPath: "{$.status}"}},
		}}}},
		service(ns, "bg-active", "bg"), service(ns, "bg-preview", "bg"), canary, bg)

	s.canary, s.bg, s.canarySteps, s.canaryReplicas, s.canaryFloor = "seed", "bg", steps, 5, 4 // maxUnavailable 25% of 5 = 1
	s.bgReplicas, s.bgActive, s.served = 3, "bg-active", web.answered
	s.start()
	defer s.stop()

	proc := newControllerProc(t, bin, env.Kubeconfig, ns)
	d := &crashDriver{env: env, ns: ns, s: s, proc: proc, web: web, canaryImage: "seed:r0", bgImage: "bg:r0"}
	if _, err := proc.start(); err != nil {
		t.Fatal(err)
	}
	bgCtx := context.Background()
	if _, err := d.canaryHealthy(bgCtx, "first revision", "seed:r0"); err != nil {
		t.Fatalf("%v\n%s", err, d.podsAndNodes())
	}
	if _, err := d.bgHealthy(bgCtx, "first revision", "bg:r0"); err != nil {
		t.Fatalf("%v\n%s", err, d.podsAndNodes())
	}
	time.Sleep(time.Second) // let the sampler see the settled state before the floors apply
	s.arm()
	proc.stop()

	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killCtx, stopKilling := context.WithCancel(ctx)
	killDone := make(chan error, 1)
	go func() {
		err := proc.killer(killCtx, rng)
		if err != nil {
			cancel()
		}
		killDone <- err
	}()

	var driveErr error
	rounds := 0
	for driveErr == nil && (rounds == 0 || proc.killCount() < *crashKills) && rounds < 5+*crashKills/2 {
		rounds++
		var wg sync.WaitGroup
		var canaryErr, bgErr error
		wg.Add(2)
		go func() { defer wg.Done(); canaryErr = d.canaryRound(ctx, rounds) }()
		go func() { defer wg.Done(); bgErr = d.bgRound(ctx, rounds) }()
		wg.Wait()
		driveErr = errors.Join(canaryErr, bgErr)
		t.Logf("round %d done after %v: %d kills so far", rounds, time.Since(start).Round(time.Second), proc.killCount())
	}
	stopKilling()
	if err := <-killDone; err != nil {
		driveErr = errors.Join(driveErr, err)
	}
	driving := time.Since(start)

	// Calm: the last controller runs undisturbed; both end Healthy on the
	// last images with every older ReplicaSet scaled to 0.
	calm := context.Background()
	if driveErr == nil {
		if _, err := d.canaryHealthy(calm, "final state", d.canaryImage); err != nil {
			driveErr = err
		}
		if _, err := d.bgHealthy(calm, "final state", d.bgImage); err != nil {
			driveErr = errors.Join(driveErr, err)
		}
		time.Sleep(2 * time.Second) // the sampler catches up with the last events
	}
	violations, figures := s.finish()
	t.Logf("crash test figures (seed %d, %d rounds, %v driving under kills, %v in all):\n  %s\n  %s\n  driver actions: %d (promote/abort/retry/image); "+
		"actions re-issued because the Rollout had not acted on them after 15s: %d",
		seed, rounds, driving.Round(time.Second), time.Since(start).Round(time.Second), proc.figures(), figures,
		d.actions.Load(), d.reissued.Load())
	if d.reissued.Load() > 0 {
		t.Logf("re-issued actions (a promote/abort/retry the controller did not act on): %s", strings.Join(d.reissueLog(), "; "))
	}
	t.Logf("controller log: %s", proc.logPath)
	for _, v := range violations {
		t.Errorf("invariant violated: %s", v)
	}
	if driveErr != nil {
		t.Fatalf("driving the rollouts: %v\n%s", driveErr, d.podsAndNodes())
	}
	if n := proc.killCount(); n < *crashKills {
		t.Fatalf("only %d kills in %d rounds, want at least %d", n, rounds, *crashKills)
	}
}

// crashWeb is the analysis's web provider: it answers "ok-<n>" or "bad-<n>"
// as the test says, and remembers every answer, so the sampler knows
// exactly which measurements could be Successful.
type crashWeb struct {
	url     string
	ok      atomic.Bool
	n       atomic.Int64
	mu      sync.Mutex
	answers map[string]bool
}

func newCrashWeb(t *testing.T) *crashWeb {
	w := &crashWeb{answers: map[string]bool{}}
	w.ok.Store(true)
	w.url = serve(t, http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		ok := w.ok.Load()
		v := fmt.Sprintf("bad-%d", w.n.Add(1))
		if ok {
			v = "ok-" + strings.TrimPrefix(v, "bad-")
		}
		w.mu.Lock()
		w.answers[v] = ok
		w.mu.Unlock()
		fmt.Fprintf(rw, `{"status":%q}`, v)
	}))
	return w
}

func (w *crashWeb) answered(v string) (served, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, served = w.answers[v]
	return served, ok
}

// crashDriver drives the two Rollouts like an operator would, recording
// each promote with the sampler first.
type crashDriver struct {
	env                  *testenv.Env
	ns                   string
	s                    *crashSampler
	proc                 *controllerProc
	web                  *crashWeb
	canaryImage, bgImage string // the stable images
	actions, reissued    atomic.Int64
	reissueMu            sync.Mutex
	reissues             []string
}

func (d *crashDriver) reissueLog() []string {
	d.reissueMu.Lock()
	defer d.reissueMu.Unlock()
	return append([]string(nil), d.reissues...)
}

// podsAndNodes summarises the namespace's pods and the nodes, for a
// liveness failure: was it the controller, or the sandbox?
func (d *crashDriver) podsAndNodes() string {
	var pods corev1.PodList
	var nodes corev1.NodeList
	if err := d.env.Client.List(context.Background(), &pods, client.InNamespace(d.ns)); err != nil {
		return "listing pods: " + err.Error()
	}
	if err := d.env.Client.List(context.Background(), &nodes); err != nil {
		return "listing nodes: " + err.Error()
	}
	count := map[string]int{}
	for _, p := range pods.Items {
		ready := "not ready"
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = "ready"
			}
		}
		node := p.Spec.NodeName
		if node == "" {
			node = "unscheduled"
		}
		count[fmt.Sprintf("%s %s %s", p.Labels["app"], p.Status.Phase, ready)+" on "+node]++
	}
	var parts []string
	for k, n := range count {
		parts = append(parts, fmt.Sprintf("%d× %s", n, k))
	}
	sort.Strings(parts)
	var ns []string
	for _, n := range nodes.Items {
		ready := "NotReady"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = "Ready"
			}
		}
		ns = append(ns, n.Name+" "+ready)
	}
	return fmt.Sprintf("pods: %s\nnodes: %s", strings.Join(parts, "; "), strings.Join(ns, ", "))
}

type crashRS struct {
	Spec, Available int32
	Image           string
}

func (d *crashDriver) rss(ctx context.Context, owner string) (map[string]crashRS, error) {
	var list appsv1.ReplicaSetList
	if err := d.env.Client.List(ctx, &list, client.InNamespace(d.ns)); err != nil {
		return nil, err
	}
	out := map[string]crashRS{}
	for _, rs := range list.Items {
		if ownerName(&rs) == owner {
			out[rs.Labels[hashLabel]] = crashRS{Spec: *rs.Spec.Replicas, Available: rs.Status.AvailableReplicas,
				Image: rs.Spec.Template.Spec.Containers[0].Image}
		}
	}
	return out, nil
}

func describeCrashRS(m map[string]crashRS) string {
	var parts []string
	for h, r := range m {
		parts = append(parts, fmt.Sprintf("%s(%s)=%d/%d", h, r.Image, r.Spec, r.Available))
	}
	return strings.Join(parts, " ")
}

// wait polls the Rollout until cond holds for a status that has observed
// the latest spec. act, if set, is the action being waited on: it is
// re-issued (and counted) if nothing happened for 15s.
func (d *crashDriver) wait(ctx context.Context, name, what string, act func() error,
	cond func(ro *v1alpha1.Rollout, rss map[string]crashRS) (bool, string)) (*v1alpha1.Rollout, error) {
	d.proc.setPhase(name, what)
	if act != nil {
		d.actions.Add(1)
		if err := act(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, what, err)
		}
		d.proc.acted()
	}
	start := time.Now()
	reissueAt := start.Add(15 * time.Second)
	why := ""
	for {
		var ro v1alpha1.Rollout
		err := d.env.Client.Get(ctx, types.NamespacedName{Namespace: d.ns, Name: name}, &ro)
		var rss map[string]crashRS
		if err == nil {
			rss, err = d.rss(ctx, name)
		}
		if err == nil {
			var ok bool
			ok, why = cond(&ro, rss)
			if ok && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) {
				return &ro, nil
			}
			if ok {
				why = "status has not observed generation " + fmt.Sprint(ro.Generation)
			}
		} else {
			why = err.Error()
		}
		if act != nil && time.Now().After(reissueAt) {
			d.reissued.Add(1)
			d.reissueMu.Lock()
			d.reissues = append(d.reissues, fmt.Sprintf("%s %s (after %v: %s)", name, what, time.Since(start).Round(time.Second), why))
			d.reissueMu.Unlock()
			if err := act(); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", name, what, err)
			}
			reissueAt = time.Now().Add(15 * time.Second)
		}
		if time.Since(start) > crashWaitTimeout {
			return nil, fmt.Errorf("%s: %s: not reached in %v: %s", name, what, crashWaitTimeout, why)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %s: stopped (%v) while waiting: %s", name, what, context.Cause(ctx), why)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// patchStatus patches the Rollout's status; boundary says it is an abort or
// retry, after which the new revision's ReplicaSet may grow back.
func (d *crashDriver) patchStatus(ctx context.Context, name, patch string, boundary bool) error {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: name}}
	err := d.env.Client.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(patch)))
	if err == nil && boundary {
		d.s.boundary(rvOf(ro))
	}
	return err
}

func (d *crashDriver) setImage(name, image string) func() error {
	return func() error {
		ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: name}}
		p := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, name, image)
		err := d.env.Client.Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, []byte(p)))
		if err == nil {
			d.s.boundary(rvOf(ro))
		}
		return err
	}
}

// promote re-reads the Rollout and, if it is still paused at step (−1:
// the blue-green's pause) of the revision ro names, tells the sampler and
// removes the pause conditions (as `kubectl argo rollouts promote` does).
// Re-issued, it does nothing once the Rollout has moved on.
func (d *crashDriver) promote(name string, ro *v1alpha1.Rollout, step int32) func() error {
	return func() error {
		var cur v1alpha1.Rollout
		if err := d.env.Client.Get(context.Background(), client.ObjectKeyFromObject(ro), &cur); err != nil {
			return err
		}
		st := cur.Status
		if st.CurrentPodHash != ro.Status.CurrentPodHash || len(st.PauseConditions) == 0 || st.Abort ||
			(step >= 0 && stepIndex(&cur) != step) {
			return nil
		}
		d.s.addToken(&cur, step)
		return d.patchStatus(context.Background(), name, `{"status":{"pauseConditions":null}}`, false)
	}
}

func (d *crashDriver) abort(name string) func() error {
	return func() error { return d.patchStatus(context.Background(), name, `{"status":{"abort":true}}`, true) }
}

func (d *crashDriver) retry(name string) func() error {
	return func() error { return d.patchStatus(context.Background(), name, `{"status":{"abort":false}}`, true) }
}

// --- the canary ---

// canaryState: the current revision (image) has canaryN pods, the stable
// one stableN, all available, no other ReplicaSet has pods, at phase/step.
func canaryState(image string, phase v1alpha1.RolloutPhase, step, canaryN, stableN int32) func(*v1alpha1.Rollout, map[string]crashRS) (bool, string) {
	return func(ro *v1alpha1.Rollout, rss map[string]crashRS) (bool, string) {
		st := ro.Status
		c, s, others := splitByRole(st, rss, func(r crashRS) int32 { return r.Spec })
		ok := c.Image == image && c.Spec == canaryN && c.Available == canaryN && s.Spec == stableN && s.Available == stableN &&
			others == 0 && st.Phase == phase && stepIndex(ro) == step
		return ok, fmt.Sprintf("want %s with canary %d stable %d, %s at step %d; have %s, phase %s %q, step %d",
			image, canaryN, stableN, phase, step, describeCrashRS(rss), st.Phase, st.Message, stepIndex(ro))
	}
}

func (d *crashDriver) canaryHealthy(ctx context.Context, what, image string) (*v1alpha1.Rollout, error) {
	return d.wait(ctx, "seed", what, nil, canaryState(image, v1alpha1.RolloutPhaseHealthy, 5, 5, 0))
}

// canaryRound: a new revision is aborted at its first pause and retried,
// promoted through a passing analysis to 50 %, then rolled back to the
// stable image; the next revision fails its analysis (the rollout aborts),
// is retried with the analysis passing, and is promoted to the end.
func (d *crashDriver) canaryRound(ctx context.Context, round int) error {
	const n = "seed"
	old := d.canaryImage
	a, b := fmt.Sprintf("seed:r%d-a", round), fmt.Sprintf("seed:r%d-b", round)
	paused1 := canaryState(a, v1alpha1.RolloutPhasePaused, 1, 1, 4)
	ro, err := d.wait(ctx, n, "new revision to step 1", d.setImage(n, a), paused1)
	if err != nil {
		return err
	}
	if _, err := d.wait(ctx, n, "abort at step 1", d.abort(n), canaryState(a, v1alpha1.RolloutPhaseDegraded, 0, 0, 5)); err != nil {
		return err
	}
	if ro, err = d.wait(ctx, n, "retry to step 1", d.retry(n), paused1); err != nil {
		return err
	}
	if ro, err = d.wait(ctx, n, "promote through the analysis to step 4", d.promote(n, ro, 1),
		canaryState(a, v1alpha1.RolloutPhasePaused, 4, 3, 3)); err != nil {
		return err
	}
	if *crashSkipCanaryRollback { // known bug, see the flag: abort instead, so the round goes on from the stable image
		if _, err := d.wait(ctx, n, "abort at step 4 (rollback skipped)", d.abort(n), canaryState(a, v1alpha1.RolloutPhaseDegraded, 0, 0, 5)); err != nil {
			return err
		}
	} else if _, err := d.wait(ctx, n, "rollback to the stable image at step 4", d.setImage(n, old), canaryState(old, v1alpha1.RolloutPhaseHealthy, 5, 5, 0)); err != nil {
		return err
	}

	paused1 = canaryState(b, v1alpha1.RolloutPhasePaused, 1, 1, 4)
	if ro, err = d.wait(ctx, n, "next revision to step 1", d.setImage(n, b), paused1); err != nil {
		return err
	}
	d.web.ok.Store(false)
	failed := canaryState(b, v1alpha1.RolloutPhaseDegraded, 0, 0, 5)
	if _, err := d.wait(ctx, n, "promote into a failing analysis", d.promote(n, ro, 1), func(ro *v1alpha1.Rollout, rss map[string]crashRS) (bool, string) {
		ok, why := failed(ro, rss)
		return ok && strings.Contains(ro.Status.Message, "AnalysisRun"), why
	}); err != nil {
		return err
	}
	d.web.ok.Store(true)
	d.s.allowRetryRun(ro.Status.CurrentPodHash)
	if ro, err = d.wait(ctx, n, "retry after the failed analysis", d.retry(n), paused1); err != nil {
		return err
	}
	if ro, err = d.wait(ctx, n, "promote through the analysis to step 4", d.promote(n, ro, 1),
		canaryState(b, v1alpha1.RolloutPhasePaused, 4, 3, 3)); err != nil {
		return err
	}
	if _, err := d.wait(ctx, n, "promote to Healthy", d.promote(n, ro, 4), canaryState(b, v1alpha1.RolloutPhaseHealthy, 5, 5, 0)); err != nil {
		return err
	}
	d.canaryImage = b
	return nil
}

// --- the blue-green ---

// bgState: the current revision runs image with newN pods, the active
// (stable) one activeN, all available, others 0.
func bgState(image string, phase v1alpha1.RolloutPhase, newN, activeN int32) func(*v1alpha1.Rollout, map[string]crashRS) (bool, string) {
	return func(ro *v1alpha1.Rollout, rss map[string]crashRS) (bool, string) {
		st := ro.Status
		c, s, others := splitByRole(st, rss, func(r crashRS) int32 { return r.Spec })
		ok := c.Image == image && c.Spec == newN && c.Available == newN && s.Spec == activeN && s.Available == activeN &&
			others == 0 && st.Phase == phase && st.BlueGreen.ActiveSelector == st.StableRS
		return ok, fmt.Sprintf("want %s with new %d active %d, %s; have %s, phase %s %q, active %s stable %s",
			image, newN, activeN, phase, describeCrashRS(rss), st.Phase, st.Message, st.BlueGreen.ActiveSelector, st.StableRS)
	}
}

func (d *crashDriver) bgHealthy(ctx context.Context, what, image string) (*v1alpha1.Rollout, error) {
	return d.wait(ctx, "bg", what, nil, bgState(image, v1alpha1.RolloutPhaseHealthy, 3, 0))
}

// bgRound: a new revision is aborted in preview and retried, promoted,
// rolled back to the previous image (promoted again), and replaced by the
// next revision, promoted.
func (d *crashDriver) bgRound(ctx context.Context, round int) error {
	const n = "bg"
	old := d.bgImage
	a, b := fmt.Sprintf("bg:r%d-a", round), fmt.Sprintf("bg:r%d-b", round)
	ro, err := d.wait(ctx, n, "new revision in preview", d.setImage(n, a), bgState(a, v1alpha1.RolloutPhasePaused, 3, 3))
	if err != nil {
		return err
	}
	if _, err := d.wait(ctx, n, "abort in preview", d.abort(n), bgState(a, v1alpha1.RolloutPhaseDegraded, 0, 3)); err != nil {
		return err
	}
	if ro, err = d.wait(ctx, n, "retry to preview", d.retry(n), bgState(a, v1alpha1.RolloutPhasePaused, 3, 3)); err != nil {
		return err
	}
	if _, err := d.wait(ctx, n, "promote (switch)", d.promote(n, ro, -1), bgState(a, v1alpha1.RolloutPhaseHealthy, 3, 0)); err != nil {
		return err
	}
	if ro, err = d.wait(ctx, n, "rollback to the previous image in preview", d.setImage(n, old), bgState(old, v1alpha1.RolloutPhasePaused, 3, 3)); err != nil {
		return err
	}
	if _, err := d.wait(ctx, n, "promote the rollback", d.promote(n, ro, -1), bgState(old, v1alpha1.RolloutPhaseHealthy, 3, 0)); err != nil {
		return err
	}
	if ro, err = d.wait(ctx, n, "next revision in preview", d.setImage(n, b), bgState(b, v1alpha1.RolloutPhasePaused, 3, 3)); err != nil {
		return err
	}
	if _, err := d.wait(ctx, n, "promote (switch)", d.promote(n, ro, -1), bgState(b, v1alpha1.RolloutPhaseHealthy, 3, 0)); err != nil {
		return err
	}
	d.bgImage = b
	return nil
}
