package e2e

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/testenv"
)

const hashLabel = "rollouts-pod-template-hash"

// crashSampler watches everything the crash test's two Rollouts own and
// checks the invariants at every event (a "sample"):
//
//   - at most one ReplicaSet per pod-template hash, and no two ReplicaSets
//     of a Rollout with the same pod template;
//   - the canary's available pods (all its ReplicaSets) never below
//     replicas − maxUnavailable; the blue-green's active Service always
//     selects a ReplicaSet with all its pods available;
//   - the canary's step index never decreases except on abort or a new
//     revision, and every step it passes was allowed: a setWeight step only
//     with that weight's canary pods available, a pause only after a
//     promote the test issued at that step, an analysis step only with the
//     step's newest AnalysisRun Successful;
//   - every measurement's verdict matches what the test's web server
//     answered (a Successful measurement only for an "ok-" value), and a
//     Successful run has its count of Successful measurements;
//   - status.stableRS always names a ReplicaSet that exists;
//   - the new revision's ReplicaSet never shrinks and grows back without
//     an abort, retry or new revision in between (no churn);
//   - a revision becomes stable only after passing its analysis step
//     (canary) or a promote (blue-green), and the active Service switches
//     only to a promoted revision.
//
// Checks that span two kinds (a Rollout's step vs. its AnalysisRun, a
// Service vs. its ReplicaSet) read the other kind at exactly the event's
// resourceVersion (resourceVersionMatch=Exact), so watch streams that
// deliver at different speeds cannot cause a false alarm nor hide a real one.
type crashSampler struct {
	env *testenv.Env
	ns  string
	wc  client.WithWatch

	canary, bg         string
	canarySteps        []v1alpha1.CanaryStep
	canaryReplicas     int32
	canaryFloor        int32
	bgReplicas         int32
	bgActive           string
	served             func(value string) (served, ok bool)
	cancel             context.CancelFunc
	wg                 sync.WaitGroup
	mu                 sync.Mutex
	armed              bool
	rs                 map[string]*appsv1.ReplicaSet
	ro                 map[string]*v1alpha1.Rollout
	runs               map[string]*v1alpha1.AnalysisRun
	activeSel          string
	tokens             []promoteToken
	analysisPassed     map[string]bool     // canary hash → its analysis step was passed with a Successful run
	attempts           map[string][]string // analysis base name → run names seen
	retriesAllowed     map[string]int      // canary hash → extra runs the drivers caused (retry after a failed analysis)
	violations         []string
	violationHits      []int
	violationIdx       map[string]int
	seen               map[string]bool
	samples            map[string]int
	exactReads, relist int
	minCanaryAvail     int32
	minActiveAvail     int32
	canaryBelow        bool // availability is below the floor right now
	bgBelow            bool
	canaryDips, bgDips int               // times availability went below the floor
	boundaries         []uint64          // resourceVersions of the drivers' aborts, retries and image changes
	lastSpec           map[string]int32  // ReplicaSet name → spec.replicas last seen
	shrunkAt           map[string]string // ReplicaSet name → "rv:from→to" of its last shrink
	churnChecks        int
	crossed            map[string]int // step kind → steps passed and checked
	measurementsJudged int
}

// promoteToken is a promote the test issued while the Rollout was paused at
// step (−1 for blue-green) of revision hash, having read it at rv.
type promoteToken struct {
	rollout, hash string
	step          int32
	rv            uint64
}

func newCrashSampler(t *testing.T, env *testenv.Env, ns string) *crashSampler {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return &crashSampler{env: env, ns: ns, wc: wc,
		rs: map[string]*appsv1.ReplicaSet{}, ro: map[string]*v1alpha1.Rollout{}, runs: map[string]*v1alpha1.AnalysisRun{},
		analysisPassed: map[string]bool{}, attempts: map[string][]string{}, retriesAllowed: map[string]int{},
		seen: map[string]bool{}, violationIdx: map[string]int{}, lastSpec: map[string]int32{}, shrunkAt: map[string]string{}, samples: map[string]int{}, crossed: map[string]int{},
		minCanaryAvail: math.MaxInt32, minActiveAvail: math.MaxInt32}
}

// start runs the watches; arm (after the first revisions are Healthy)
// turns on the availability floors.
func (s *crashSampler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.watch(ctx, "ReplicaSet", &appsv1.ReplicaSetList{}, func(o client.Object, del bool) { s.onRS(o.(*appsv1.ReplicaSet), del) })
	s.watch(ctx, "Rollout", &v1alpha1.RolloutList{}, func(o client.Object, del bool) { s.onRollout(o.(*v1alpha1.Rollout)) })
	s.watch(ctx, "Service", &corev1.ServiceList{}, func(o client.Object, del bool) { s.onService(o.(*corev1.Service)) })
	s.watch(ctx, "AnalysisRun", &v1alpha1.AnalysisRunList{}, func(o client.Object, del bool) { s.onRun(o.(*v1alpha1.AnalysisRun), del) })
}

func (s *crashSampler) arm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = true
}

func (s *crashSampler) stop() {
	s.cancel()
	s.wg.Wait()
}

// watch lists and then watches one kind in the namespace, re-watching from
// the last resourceVersion when the API server closes the stream.
func (s *crashSampler) watch(ctx context.Context, kind string, list client.ObjectList, handle func(client.Object, bool)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		rv := ""
		for ctx.Err() == nil {
			if rv == "" {
				l := list.DeepCopyObject().(client.ObjectList)
				if err := s.env.Client.List(ctx, l, client.InNamespace(s.ns)); err != nil {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				items, _ := meta.ExtractList(l)
				for _, it := range items {
					s.count(kind)
					handle(it.(client.Object), false)
				}
				rv = l.GetResourceVersion()
			}
			w, err := s.wc.Watch(ctx, list.DeepCopyObject().(client.ObjectList), client.InNamespace(s.ns),
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
			if err != nil {
				if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
					s.noteRelist(kind)
					rv = ""
				}
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					if st, ok := ev.Object.(*metav1.Status); ok && st.Code == 410 {
						s.noteRelist(kind)
						rv = ""
					}
					break
				}
				o, ok := ev.Object.(client.Object)
				if !ok {
					continue
				}
				rv = o.GetResourceVersion()
				if ev.Type == watch.Bookmark {
					continue
				}
				s.count(kind)
				handle(o, ev.Type == watch.Deleted)
			}
			w.Stop()
		}
	}()
}

func (s *crashSampler) count(kind string) {
	s.mu.Lock()
	s.samples[kind]++
	s.mu.Unlock()
}

func (s *crashSampler) noteRelist(kind string) {
	s.mu.Lock()
	s.relist++
	s.mu.Unlock()
	s.violate("relist-"+kind, fmt.Sprintf("the %s watch expired and was re-listed: events in between were not sampled", kind))
}

// violate records an invariant violation: the first message per key, and
// how often that key was hit.
func (s *crashSampler) violate(key, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violateLocked(key, msg)
}

func (s *crashSampler) violateLocked(key, msg string) {
	if i, ok := s.violationIdx[key]; ok {
		s.violationHits[i]++
		return
	}
	s.violationIdx[key] = len(s.violations)
	s.violationHits = append(s.violationHits, 1)
	s.violations = append(s.violations, time.Now().Format("15:04:05.000")+" "+msg)
}

func rvOf(o client.Object) uint64 {
	n, _ := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	return n
}

func ownerName(o client.Object) string {
	if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Rollout" {
		return ref.Name
	}
	return ""
}

// addToken is called by a driver just before it promotes.
func (s *crashSampler) addToken(ro *v1alpha1.Rollout, step int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, promoteToken{rollout: ro.Name, hash: ro.Status.CurrentPodHash, step: step, rv: rvOf(ro)})
}

// dropTokens forgets promotes of hash read before rv (an abort or a new
// revision at rv means they were spent or void).
func (s *crashSampler) dropTokens(rollout, hash string, rv uint64) {
	kept := s.tokens[:0]
	for _, tk := range s.tokens {
		if tk.rollout == rollout && tk.hash == hash && tk.rv < rv {
			continue
		}
		kept = append(kept, tk)
	}
	s.tokens = kept
}

func (s *crashSampler) hasToken(rollout, hash string, step int32, consume bool) bool {
	for i, tk := range s.tokens {
		if tk.rollout == rollout && tk.hash == hash && tk.step == step {
			if consume {
				s.tokens = append(s.tokens[:i], s.tokens[i+1:]...)
			}
			return true
		}
	}
	return false
}

// allowRetryRun tells the sampler the driver retries hash after a failed
// analysis, so its analysis step gets one more run.
func (s *crashSampler) allowRetryRun(hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retriesAllowed[hash]++
}

// --- ReplicaSets: duplicates and availability ---

func (s *crashSampler) onRS(rs *appsv1.ReplicaSet, deleted bool) {
	owner := ownerName(rs)
	if owner != s.canary && owner != s.bg {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if deleted {
		delete(s.rs, rs.Name)
	} else {
		s.rs[rs.Name] = rs
	}
	s.checkDuplicates(owner)
	if !s.armed {
		return
	}
	if !deleted {
		s.checkChurnLocked(owner, rs)
	}
	switch owner {
	case s.canary:
		var avail int32
		for _, r := range s.rs {
			if ownerName(r) == s.canary {
				avail += r.Status.AvailableReplicas
			}
		}
		s.minCanaryAvail = min(s.minCanaryAvail, avail)
		if avail < s.canaryFloor && !s.canaryBelow {
			s.canaryDips++
		}
		s.canaryBelow = avail < s.canaryFloor
		if avail < s.canaryFloor {
			s.violateLocked("canary-floor", fmt.Sprintf(
				"canary availability %d < floor %d (replicas − maxUnavailable) at resourceVersion %s: %s; rollout %s",
				avail, s.canaryFloor, rs.ResourceVersion, s.describeRSLocked(s.canary), s.describeRolloutLocked(s.canary)))
		}
	case s.bg:
		if s.activeSel == "" {
			return
		}
		avail, name := s.activeAvailLocked(s.activeSel)
		if avail < s.bgReplicas {
			// The Service watch may lag: read the active Service exactly as of this event.
			sel, err := s.activeSelectorAt(rs.ResourceVersion)
			if err != nil {
				s.violateLocked("exact-svc-"+rs.ResourceVersion, "cannot read the active Service at resourceVersion "+rs.ResourceVersion+": "+err.Error())
				return
			}
			avail, name = s.activeAvailLocked(sel)
		}
		s.minActiveAvail = min(s.minActiveAvail, avail)
		if avail < s.bgReplicas && !s.bgBelow {
			s.bgDips++
		}
		s.bgBelow = avail < s.bgReplicas
		if avail < s.bgReplicas {
			s.violateLocked("bg-active", fmt.Sprintf(
				"blue-green: the active Service selects ReplicaSet %s with %d of %d pods available at resourceVersion %s: %s; rollout %s",
				name, avail, s.bgReplicas, rs.ResourceVersion, s.describeRSLocked(s.bg), s.describeRolloutLocked(s.bg)))
		}
	}
}

// boundary records the resourceVersion of a driver's abort, retry or image
// change: the only events after which a new revision's ReplicaSet may grow
// back after it shrank.
func (s *crashSampler) boundary(rv uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boundaries = append(s.boundaries, rv)
}

// checkChurnLocked: the new revision's ReplicaSet (current, not stable)
// never shrinks and grows back with no abort, retry or new revision in
// between (issue 16 item 6: churn after a stale or lost status write).
func (s *crashSampler) checkChurnLocked(owner string, rs *appsv1.ReplicaSet) {
	spec, rv := *rs.Spec.Replicas, rvOf(rs)
	old, known := s.lastSpec[rs.Name]
	s.lastSpec[rs.Name] = spec
	if !known || spec == old {
		return
	}
	if spec < old {
		s.shrunkAt[rs.Name] = fmt.Sprintf("%d:%d→%d", rv, old, spec)
		return
	}
	shrink, ok := s.shrunkAt[rs.Name]
	ro := s.ro[owner]
	if !ok || ro == nil || rs.Labels[hashLabel] != ro.Status.CurrentPodHash || ro.Status.CurrentPodHash == ro.Status.StableRS {
		return
	}
	delete(s.shrunkAt, rs.Name)
	var shrinkRV uint64
	var what string
	fmt.Sscanf(shrink, "%d:%s", &shrinkRV, &what)
	s.churnChecks++
	grow := fmt.Sprintf("%d→%d", old, spec)
	// A driver's action is recorded as soon as its write returns; give a
	// write that raced this event a moment before judging.
	go func() {
		time.Sleep(time.Second)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.boundaries {
			if b > shrinkRV && b < rv {
				return
			}
		}
		s.violateLocked("churn-"+rs.Name, fmt.Sprintf(
			"%s: the new revision's ReplicaSet %s shrank %s at resourceVersion %d and grew back %s at %d, with no abort, retry or new revision in between (churn)",
			owner, rs.Name, what, shrinkRV, grow, rv))
	}()
}

func (s *crashSampler) activeAvailLocked(hash string) (int32, string) {
	for _, r := range s.rs {
		if ownerName(r) == s.bg && r.Labels[hashLabel] == hash {
			return r.Status.AvailableReplicas, r.Name
		}
	}
	return 0, "(none with hash " + hash + ")"
}

func (s *crashSampler) activeSelectorAt(rv string) (string, error) {
	s.exactReads++
	var list corev1.ServiceList
	if err := s.env.Client.List(ctx, &list, exactAt(s.ns, rv)); err != nil {
		return "", err
	}
	for _, svc := range list.Items {
		if svc.Name == s.bgActive {
			return svc.Spec.Selector[hashLabel], nil
		}
	}
	return "", fmt.Errorf("no Service %s", s.bgActive)
}

func exactAt(ns, rv string) *client.ListOptions {
	return &client.ListOptions{Namespace: ns, Raw: &metav1.ListOptions{ResourceVersion: rv,
		ResourceVersionMatch: metav1.ResourceVersionMatchExact}}
}

func (s *crashSampler) checkDuplicates(owner string) {
	var mine []*appsv1.ReplicaSet
	for _, r := range s.rs {
		if ownerName(r) == owner {
			mine = append(mine, r)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Name < mine[j].Name })
	for i, a := range mine {
		for _, b := range mine[i+1:] {
			if a.Labels[hashLabel] == b.Labels[hashLabel] {
				s.violateLocked("dup-hash-"+a.Name+b.Name, fmt.Sprintf("two ReplicaSets with pod-template hash %s: %s and %s",
					a.Labels[hashLabel], a.Name, b.Name))
			}
			ta, tb := a.Spec.Template.DeepCopy(), b.Spec.Template.DeepCopy()
			delete(ta.Labels, hashLabel)
			delete(tb.Labels, hashLabel)
			if apiequality.Semantic.DeepEqual(ta, tb) {
				s.violateLocked("dup-template-"+a.Name+b.Name, fmt.Sprintf("ReplicaSets %s and %s have the same pod template (image %s)",
					a.Name, b.Name, ta.Spec.Containers[0].Image))
			}
		}
	}
}

// --- Services: the blue-green's active selector ---

func (s *crashSampler) onService(svc *corev1.Service) {
	if svc.Name != s.bgActive {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := svc.Spec.Selector[hashLabel]
	prev := s.activeSel
	s.activeSel = sel
	if !s.armed || sel == prev || sel == "" {
		return
	}
	// A switch: the target must have all its pods available at this very resourceVersion ...
	s.exactReads++
	var list appsv1.ReplicaSetList
	if err := s.env.Client.List(ctx, &list, exactAt(s.ns, svc.ResourceVersion)); err != nil {
		s.violateLocked("exact-rs-"+svc.ResourceVersion, "cannot read ReplicaSets at resourceVersion "+svc.ResourceVersion+": "+err.Error())
		return
	}
	var avail int32 = -1
	for _, r := range list.Items {
		if ownerName(&r) == s.bg && r.Labels[hashLabel] == sel {
			avail = r.Status.AvailableReplicas
		}
	}
	s.minActiveAvail = min(s.minActiveAvail, max(avail, 0))
	if avail < s.bgReplicas {
		s.violateLocked("bg-switch-"+sel+svc.ResourceVersion, fmt.Sprintf(
			"blue-green: the active Service switched from %s to %s while that ReplicaSet had %d of %d pods available (resourceVersion %s)",
			prev, sel, avail, s.bgReplicas, svc.ResourceVersion))
	}
	// ... and the test must have promoted that revision.
	if !s.hasToken(s.bg, sel, -1, false) {
		s.violateLocked("bg-switch-unpromoted-"+sel+svc.ResourceVersion, fmt.Sprintf(
			"blue-green: the active Service switched from %s to %s, which the test had not promoted (resourceVersion %s); rollout %s",
			prev, sel, svc.ResourceVersion, s.describeRolloutLocked(s.bg)))
	}
}

// --- AnalysisRuns: every verdict matches the evidence ---

var runName = regexp.MustCompile(`^(.+)-([a-z0-9]+)-(\d+)-(\d+)(\.\d+)?$`)

func (s *crashSampler) onRun(run *v1alpha1.AnalysisRun, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if deleted {
		delete(s.runs, run.Name)
		return
	}
	if _, ok := s.runs[run.Name]; !ok {
		if m := runName.FindStringSubmatch(run.Name); m != nil {
			base := strings.Join(m[1:5], "-")
			s.attempts[base] = append(s.attempts[base], run.Name)
		}
	}
	s.runs[run.Name] = run
	s.judgeRunLocked(run, "")
	// At most one run gates a step at a time (the others are superseded).
	live := map[string][]string{}
	for _, r := range s.runs {
		if m := runName.FindStringSubmatch(r.Name); m != nil && r.Annotations["sluice.dev/superseded"] == "" {
			base := strings.Join(m[1:5], "-")
			live[base] = append(live[base], r.Name)
		}
	}
	for base, names := range live {
		if len(names) > 1 {
			sort.Strings(names)
			s.violateLocked("live-runs-"+strings.Join(names, ","), fmt.Sprintf(
				"%d AnalysisRuns gate step %s at once (none superseded): %v", len(names), base, names))
		}
	}
}

// judgeRunLocked checks a run's measurements against what the web server answered.
func (s *crashSampler) judgeRunLocked(run *v1alpha1.AnalysisRun, where string) {
	successful := 0
	for _, mr := range run.Status.MetricResults {
		for _, m := range mr.Measurements {
			if m.Phase == v1alpha1.AnalysisPhaseRunning || m.Phase == v1alpha1.AnalysisPhasePending {
				continue
			}
			key := run.Name + "/" + m.Value + "/" + string(m.Phase)
			if !s.seen["judged-"+key] {
				s.seen["judged-"+key] = true
				s.measurementsJudged++
			}
			served, ok := s.served(m.Value)
			switch {
			case m.Phase == v1alpha1.AnalysisPhaseSuccessful && !ok:
				s.violateLocked("bad-success-"+key, fmt.Sprintf("%sAnalysisRun %s: measurement %q is Successful but the server answered it as not ok (served %v)",
					where, run.Name, m.Value, served))
			case m.Phase == v1alpha1.AnalysisPhaseFailed && ok:
				s.violateLocked("bad-failure-"+key, fmt.Sprintf("%sAnalysisRun %s: measurement %q is Failed but the server answered ok", where, run.Name, m.Value))
			case m.Phase == v1alpha1.AnalysisPhaseSuccessful:
				successful++
			}
		}
	}
	if run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful && successful < 2 {
		s.violateLocked("thin-success-"+run.Name, fmt.Sprintf("%sAnalysisRun %s is Successful with %d Successful measurements (count is 2)",
			where, run.Name, successful))
	}
}

// --- Rollouts: steps ---

func stepIndex(ro *v1alpha1.Rollout) int32 {
	if ro.Status.CurrentStepIndex == nil {
		return -1
	}
	return *ro.Status.CurrentStepIndex
}

func (s *crashSampler) onRollout(ro *v1alpha1.Rollout) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.ro[ro.Name]
	s.ro[ro.Name] = ro
	if !s.armed || (ro.Name != s.canary && ro.Name != s.bg) {
		return
	}
	s.checkStableExistsLocked(ro)
	if prev == nil {
		return
	}
	switch ro.Name {
	case s.canary:
		s.checkCanaryLocked(prev, ro)
	case s.bg:
		s.checkBlueGreenLocked(prev, ro)
	}
}

// checkStableExistsLocked: the ReplicaSet status.stableRS names exists
// (issue 16 item 1: a lost stable ReplicaSet promotes the canary at once).
func (s *crashSampler) checkStableExistsLocked(ro *v1alpha1.Rollout) {
	h := ro.Status.StableRS
	if h == "" {
		return
	}
	for _, r := range s.rs {
		if ownerName(r) == ro.Name && r.Labels[hashLabel] == h {
			return
		}
	}
	// The ReplicaSet watch may lag: look exactly as of this Rollout event.
	s.exactReads++
	var list appsv1.ReplicaSetList
	if err := s.env.Client.List(ctx, &list, exactAt(s.ns, ro.ResourceVersion)); err != nil {
		s.violateLocked("exact-rs-"+ro.ResourceVersion, "cannot read ReplicaSets at resourceVersion "+ro.ResourceVersion+": "+err.Error())
		return
	}
	for _, r := range list.Items {
		if ownerName(&r) == ro.Name && r.Labels[hashLabel] == h {
			return
		}
	}
	s.violateLocked("stable-missing-"+ro.Name+h, fmt.Sprintf("%s: status.stableRS names %s, but no ReplicaSet of it has that hash (resourceVersion %s): %s",
		ro.Name, h, ro.ResourceVersion, s.describeRolloutLocked(ro.Name)))
}

func (s *crashSampler) checkCanaryLocked(prev, cur *v1alpha1.Rollout) {
	ps, st := prev.Status, cur.Status
	h, rv := st.CurrentPodHash, rvOf(cur)
	if h == "" {
		return
	}
	pidx, idx := stepIndex(prev), stepIndex(cur)
	n := int32(len(s.canarySteps))
	newRevision := ps.CurrentPodHash != h
	if newRevision || (st.Abort && !ps.Abort) {
		s.dropTokens(s.canary, h, rv)
		s.analysisPassed[h] = false
	}
	if st.Abort {
		// (the first event is the test's own abort patch, still at the old step)
		return
	}
	switch {
	case newRevision && h == st.StableRS && st.StableRS == ps.StableRS:
		// A rollback to the stable revision: upstream skips the steps.
		if idx != n {
			s.violateLocked("rollback-idx-"+h+fmt.Sprint(idx), fmt.Sprintf("canary rolled back to its stable revision %s but at step %d, want %d", h, idx, n))
		}
		return
	case newRevision, ps.Abort: // a new revision or a retry walks the steps from the first
		pidx = 0
	}
	if idx < pidx {
		s.violateLocked(fmt.Sprintf("step-back-%s-%d-%d", h, pidx, idx), fmt.Sprintf(
			"canary step went back from %d to %d without an abort or a new revision (resourceVersion %s): %s",
			pidx, idx, cur.ResourceVersion, s.describeRolloutLocked(s.canary)))
	}
	for step := max(pidx, 0); step < idx; step++ {
		s.passedLocked(cur, step)
	}
	if st.StableRS != ps.StableRS && ps.StableRS != "" {
		switch {
		case st.StableRS != h:
			s.violateLocked("stable-odd-"+st.StableRS, fmt.Sprintf("canary stableRS changed from %s to %s, which is not the current revision %s",
				ps.StableRS, st.StableRS, h))
		case !s.analysisPassed[h] || idx < n:
			s.violateLocked("stable-unproven-"+h, fmt.Sprintf(
				"canary revision %s became stable without passing its analysis step with a Successful run (step %d/%d, resourceVersion %s): %s",
				h, idx, n, cur.ResourceVersion, s.describeRolloutLocked(s.canary)))
		}
	}
}

// passedLocked checks that the canary was allowed to pass step.
func (s *crashSampler) passedLocked(cur *v1alpha1.Rollout, step int32) {
	h := cur.Status.CurrentPodHash
	st := s.canarySteps[step]
	where := fmt.Sprintf("canary revision %s passed step %d at resourceVersion %s", h, step, cur.ResourceVersion)
	switch {
	case st.SetWeight != nil:
		s.crossed["setWeight"]++
		need := int32(math.Ceil(float64(*st.SetWeight) * float64(s.canaryReplicas) / 100))
		s.exactReads++
		var list appsv1.ReplicaSetList
		if err := s.env.Client.List(ctx, &list, exactAt(s.ns, cur.ResourceVersion)); err != nil {
			s.violateLocked("exact-rs-"+cur.ResourceVersion, where+": cannot read ReplicaSets there: "+err.Error())
			return
		}
		var avail int32
		for _, r := range list.Items {
			if ownerName(&r) == s.canary && r.Labels[hashLabel] == h {
				avail = r.Status.AvailableReplicas
			}
		}
		if avail < need {
			s.violateLocked(fmt.Sprintf("setweight-%s-%d", h, step), fmt.Sprintf("%s (setWeight %d) with %d canary pods available, want %d",
				where, *st.SetWeight, avail, need))
		}
	case st.Pause != nil:
		s.crossed["pause"]++
		if !s.hasToken(s.canary, h, step, true) {
			s.violateLocked(fmt.Sprintf("pause-%s-%d-%s", h, step, cur.ResourceVersion), where+" (pause) without a promote from the test: "+
				s.describeRolloutLocked(s.canary))
		}
	case st.Analysis != nil:
		s.crossed["analysis"]++
		s.exactReads++
		var list v1alpha1.AnalysisRunList
		if err := s.env.Client.List(ctx, &list, exactAt(s.ns, cur.ResourceVersion)); err != nil {
			s.violateLocked("exact-run-"+cur.ResourceVersion, where+": cannot read AnalysisRuns there: "+err.Error())
			return
		}
		var newest *v1alpha1.AnalysisRun
		for i := range list.Items {
			r := &list.Items[i]
			m := runName.FindStringSubmatch(r.Name)
			if m == nil || m[1] != s.canary || m[2] != h || m[4] != fmt.Sprint(step) {
				continue
			}
			if newest == nil || r.CreationTimestamp.After(newest.CreationTimestamp.Time) ||
				(r.CreationTimestamp.Equal(&newest.CreationTimestamp) && r.Name > newest.Name) {
				newest = r
			}
		}
		switch {
		case newest == nil:
			s.violateLocked(fmt.Sprintf("analysis-none-%s-%d", h, step), where+" (analysis) with no AnalysisRun for it")
		case newest.Status.Phase != v1alpha1.AnalysisPhaseSuccessful:
			s.violateLocked(fmt.Sprintf("analysis-%s-%d-%s", h, step, newest.Name), fmt.Sprintf("%s (analysis) while its newest AnalysisRun %s is %q: %s",
				where, newest.Name, newest.Status.Phase, newest.Status.Message))
		default:
			s.judgeRunLocked(newest, where+": ")
			s.analysisPassed[h] = true
		}
	}
}

func (s *crashSampler) checkBlueGreenLocked(prev, cur *v1alpha1.Rollout) {
	ps, st := prev.Status, cur.Status
	h, rv := st.CurrentPodHash, rvOf(cur)
	if ps.CurrentPodHash != h || (st.Abort && !ps.Abort) {
		s.dropTokens(s.bg, h, rv)
	}
	if st.StableRS != ps.StableRS && ps.StableRS != "" && !s.hasToken(s.bg, st.StableRS, -1, false) {
		s.violateLocked("bg-stable-"+st.StableRS, fmt.Sprintf("blue-green revision %s became stable without a promote (resourceVersion %s): %s",
			st.StableRS, cur.ResourceVersion, s.describeRolloutLocked(s.bg)))
	}
}

// --- reporting ---

func (s *crashSampler) describeRSLocked(owner string) string {
	var parts []string
	for _, r := range s.rs {
		if ownerName(r) == owner {
			parts = append(parts, fmt.Sprintf("%s(rev %s, %s)=%d/%d", r.Labels[hashLabel], r.Annotations["rollout.argoproj.io/revision"],
				r.Spec.Template.Spec.Containers[0].Image, *r.Spec.Replicas, r.Status.AvailableReplicas))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (s *crashSampler) describeRolloutLocked(name string) string {
	ro := s.ro[name]
	if ro == nil {
		return "(not seen)"
	}
	st := ro.Status
	return fmt.Sprintf("{rv %s, phase %s %q, step %d, current %s, stable %s, abort %v, pauses %d, image %s}",
		ro.ResourceVersion, st.Phase, st.Message, stepIndex(ro), st.CurrentPodHash, st.StableRS, st.Abort, len(st.PauseConditions),
		ro.Spec.Template.Spec.Containers[0].Image)
}

// finish checks what can only be judged at the end and returns the
// violations and the figures.
func (s *crashSampler) finish() ([]string, string) {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for base, names := range s.attempts {
		m := runName.FindStringSubmatch(base)
		want := 1
		if m != nil {
			want += s.retriesAllowed[m[2]]
		}
		if len(names) > want {
			s.violateLocked("repeat-"+base, fmt.Sprintf("analysis step %s ran %d times (%v), want at most %d: a step was repeated",
				base, len(names), names, want))
		}
	}
	var kinds []string
	total := 0
	for k, n := range s.samples {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		total += n
	}
	sort.Strings(kinds)
	fig := fmt.Sprintf("samples (watch events checked): %d (%s); exact-resourceVersion reads: %d; re-lists: %d\n"+
		"  steps passed and checked: setWeight=%d pause=%d analysis=%d; measurements judged: %d; regrowths checked for churn: %d\n"+
		"  minimum availability seen: canary %d (floor %d of %d; went below it %d times), "+
		"blue-green active ReplicaSet %d (of %d; below it %d times)",
		total, strings.Join(kinds, " "), s.exactReads, s.relist,
		s.crossed["setWeight"], s.crossed["pause"], s.crossed["analysis"], s.measurementsJudged, s.churnChecks,
		s.minCanaryAvail, s.canaryFloor, s.canaryReplicas, s.canaryDips, s.minActiveAvail, s.bgReplicas, s.bgDips)
	var out []string
	for i, v := range s.violations {
		if n := s.violationHits[i]; n > 1 {
			v = fmt.Sprintf("%s [the same invariant broke at %d samples in all; the first is shown]", v, n)
		}
		out = append(out, v)
	}
	return out, fig
}
