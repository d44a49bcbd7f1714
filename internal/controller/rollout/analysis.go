package rollout

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/analysis"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/instance"
	"github.com/sluice-dev/sluice/internal/validation"
)

// runLabels are the labels of a run the Rollout starts: upstream's (the
// pod hash, rollout-type, step-index, the Rollout's selector labels, its
// controller instance), so upstream's controller and CLI find the runs after
// a switch back, and Sluice's own.
func runLabels(ro *v1alpha1.Rollout, kind, hash string, extra map[string]string) map[string]string {
	l := map[string]string{}
	if ro.Spec.Selector != nil {
		for k, v := range ro.Spec.Selector.MatchLabels {
			l[k] = v
		}
	}
	for k, v := range extra {
		l[k] = v
	}
	if id := ro.Labels[instance.Label]; id != "" {
		l[instance.Label] = id
	}
	l[runRolloutLabel], l[runTypeLabel], l[upstreamTypeLabel], l[PodTemplateHashLabel] = ro.Name, kind, kind, hash
	return l
}

// ownedRuns lists the AnalysisRuns the Rollout controls, found by owner (as
// upstream does) so runs made by upstream's controller before a switch are
// terminated and garbage-collected like Sluice's own.
func (r *Reconciler) ownedRuns(ctx context.Context, ro *v1alpha1.Rollout, list *v1alpha1.AnalysisRunList) error {
	var all v1alpha1.AnalysisRunList
	if err := r.List(ctx, &all, client.InNamespace(ro.Namespace)); err != nil {
		return apiFailure("list AnalysisRuns", err)
	}
	for i := range all.Items {
		if ref := metav1.GetControllerOf(&all.Items[i]); ref != nil && ref.UID == ro.UID {
			list.Items = append(list.Items, all.Items[i])
		}
	}
	return nil
}

// Labels on AnalysisRuns a Rollout starts.
const (
	// upstreamTypeLabel and upstreamStepIndexLabel are upstream's names.
	upstreamTypeLabel      = "rollout-type"
	upstreamStepIndexLabel = "step-index"
	runRolloutLabel        = "rollout.argoproj.io/rollout"
	runTypeLabel           = "rollout.argoproj.io/analysis-type"
	// supersededAnnotation marks a run that no longer gates anything (its
	// step was passed, the update aborted or replaced). A retry of the same
	// step measures afresh in a new run named <name>.<n>.
	supersededAnnotation = "sluice.dev/superseded"
)

// ReasonAnalysisTemplateNotFound and friends are analysis setup failures.
const (
	ReasonAnalysisTemplateNotFound = "AnalysisTemplateNotFound"
	ReasonAnalysisRunInvalid       = "AnalysisRunInvalid"
	ReasonAnalysisTemplateInvalid  = "AnalysisTemplateInvalid"
)

// stepGate answers the planner for analysis steps by creating (once) and
// reading the step's AnalysisRun. Setup problems (a missing template) are
// kept in err and reported as a Failure after planning.
type stepGate struct {
	labels  map[string]string // extra run labels (step-index)
	r       *Reconciler
	ctx     context.Context
	ro      *v1alpha1.Rollout
	hash    string
	rev     int64
	err     error
	current *v1alpha1.RolloutAnalysisRunStatus
}

// Step implements canary.StepGate.
func (g *stepGate) Step(idx int32, a *v1alpha1.RolloutAnalysis) (canary.Verdict, string) {
	g.labels = map[string]string{upstreamStepIndexLabel: strconv.Itoa(int(idx))}
	return g.analysis(fmt.Sprintf("%s-%s-%d-%d", g.ro.Name, g.hash, g.rev, idx), "Step",
		g.ro.Status.Canary.CurrentStepAnalysisRunStatus, a)
}

// analysis answers from the AnalysisRun base (or the attempt the status
// already points at), creating it once from the templates.
func (g *stepGate) analysis(base, kind string, recorded *v1alpha1.RolloutAnalysisRunStatus, a *v1alpha1.RolloutAnalysis) (canary.Verdict, string) {
	// The run the status already points at keeps gating, superseded or not,
	// so a reconcile from a stale cache cannot start a second attempt; a
	// retry clears the pointer and gets a fresh run.
	preferred := ""
	if recorded != nil && (recorded.Name == base || strings.HasPrefix(recorded.Name, base+".")) {
		preferred = recorded.Name
	}
	run, err := g.r.ensureRun(g.ctx, g.ro, base, preferred, kind, g.hash, a, g.labels)
	if err != nil {
		g.err = err
		return canary.Wait, ""
	}
	name := run.Name
	g.current = &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: run.Status.Phase, Message: run.Status.Message}
	switch run.Status.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		if terminatedByHand(run) {
			return canary.Pause, fmt.Sprintf("AnalysisRun %q was terminated (spec.terminate) before its metrics decided, "+
				"so there is no evidence for this step: promote to continue or abort to roll back", name)
		}
		return canary.Advance, ""
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		return canary.Abort, fmt.Sprintf("AnalysisRun %q %s: %s", name, run.Status.Phase, run.Status.Message)
	case v1alpha1.AnalysisPhaseInconclusive:
		return canary.Pause, fmt.Sprintf("AnalysisRun %q Inconclusive: %s; promote to continue or abort to roll back", name, run.Status.Message)
	}
	return canary.Wait, ""
}

// terminatedByHand reports a run that a person (or a tool such as ArgoCD's
// terminate action) ended with spec.terminate before its metrics decided.
// Its Successful phase is upstream's convention, not evidence. Runs Sluice
// terminates itself carry the superseded annotation.
func terminatedByHand(run *v1alpha1.AnalysisRun) bool {
	return run.Spec.Terminate && run.Annotations[supersededAnnotation] == "" &&
		strings.HasPrefix(run.Status.Message, analysis.TerminatedMessage)
}

// ensureRun returns the named AnalysisRun, creating it from the templates.
func (r *Reconciler) ensureRun(ctx context.Context, ro *v1alpha1.Rollout, name, preferred, kind, hash string, a *v1alpha1.RolloutAnalysis,
	extra map[string]string) (*v1alpha1.AnalysisRun, error) {
	var run v1alpha1.AnalysisRun
	if preferred != "" {
		err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: preferred}, &run)
		if err == nil {
			return &run, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, apiFailure("get AnalysisRun "+preferred, err)
		}
	}
	base := name
	for attempt := 1; ; attempt++ {
		err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, &run)
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return nil, apiFailure("get AnalysisRun "+name, err)
		}
		if run.Annotations[supersededAnnotation] == "" {
			return &run, nil
		}
		name = fmt.Sprintf("%s.%d", base, attempt)
	}
	spec, ferr := r.runSpec(ctx, ro, hash, a)
	if ferr != nil {
		return nil, ferr
	}
	run = v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ro.Namespace,
			Labels:          runLabels(ro, kind, hash, extra),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: *spec,
	}
	if md := a.AnalysisRunMetadata; md != nil {
		for k, v := range md.Labels {
			run.Labels[k] = v
		}
		run.Annotations = md.Annotations
	}
	if err := r.Create(ctx, &run); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, apiFailure("create AnalysisRun "+name, err)
	}
	return &run, nil
}

// runSpec merges the templates' metrics and resolves the arguments.
func (r *Reconciler) runSpec(ctx context.Context, ro *v1alpha1.Rollout, hash string, a *v1alpha1.RolloutAnalysis) (*v1alpha1.AnalysisRunSpec, error) {
	spec := &v1alpha1.AnalysisRunSpec{DryRun: a.DryRun, MeasurementRetention: a.MeasurementRetention}
	seen := map[string]string{}
	args := map[string]v1alpha1.Argument{}
	var order []string
	for _, ref := range a.Templates {
		var tmpl v1alpha1.AnalysisTemplateSpec
		kind := "AnalysisTemplate"
		if ref.ClusterScope {
			kind = "ClusterAnalysisTemplate"
			var t v1alpha1.ClusterAnalysisTemplate
			if err := r.Get(ctx, types.NamespacedName{Name: ref.TemplateName}, &t); err != nil {
				return nil, templateErr(kind, ref.TemplateName, "", err)
			}
			tmpl = t.Spec
		} else {
			var t v1alpha1.AnalysisTemplate
			if err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ref.TemplateName}, &t); err != nil {
				return nil, templateErr(kind, ref.TemplateName, ro.Namespace, err)
			}
			tmpl = t.Spec
		}
		// The controller's rules are lint's: a condition that does not compile
		// stops the Rollout here, naming the field, not at the first measurement.
		if errs := validation.AnalysisTemplate(&tmpl); len(errs) > 0 {
			return nil, fail(ReasonAnalysisTemplateInvalid, "%s %q is invalid, so no AnalysisRun was created and the update waits: %v",
				kind, ref.TemplateName, errs.ToAggregate())
		}
		for _, m := range tmpl.Metrics {
			if other, dup := seen[m.Name]; dup {
				return nil, fail(ReasonAnalysisRunInvalid, "metric %q is defined in both %s and %s %q; metric names must be unique across the templates of one analysis",
					m.Name, other, kind, ref.TemplateName)
			}
			seen[m.Name] = kind + " " + strconv.Quote(ref.TemplateName)
			spec.Metrics = append(spec.Metrics, m)
		}
		spec.DryRun = append(spec.DryRun, tmpl.DryRun...)
		spec.MeasurementRetention = append(spec.MeasurementRetention, tmpl.MeasurementRetention...)
		for _, arg := range tmpl.Args {
			if _, ok := args[arg.Name]; !ok {
				order = append(order, arg.Name)
				args[arg.Name] = arg
			}
		}
	}
	for _, in := range a.Args {
		arg := v1alpha1.Argument{Name: in.Name}
		switch {
		case in.ValueFrom != nil && in.ValueFrom.PodTemplateHashValue != nil:
			v := hash
			if *in.ValueFrom.PodTemplateHashValue == "Stable" {
				v = ro.Status.StableRS
			}
			arg.Value = &v
		case in.ValueFrom != nil && in.ValueFrom.FieldRef != nil:
			v, err := fieldValue(ro, in.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, fail(ReasonAnalysisRunInvalid, "analysis argument %q: %v", in.Name, err)
			}
			arg.Value = &v
		default:
			v := in.Value
			arg.Value = &v
		}
		if _, ok := args[in.Name]; !ok {
			order = append(order, in.Name)
		}
		args[in.Name] = arg
	}
	for _, n := range order {
		arg := args[n]
		if arg.Value == nil && arg.ValueFrom == nil {
			return nil, fail(ReasonAnalysisRunInvalid, "analysis argument %q has no value: pass it in the Rollout's analysis args or give it a default in the template", n)
		}
		spec.Args = append(spec.Args, arg)
	}
	if len(spec.Metrics) == 0 {
		return nil, fail(ReasonAnalysisRunInvalid, "the analysis templates define no metrics")
	}
	return spec, nil
}

func templateErr(kind, name, ns string, err error) error {
	if apierrors.IsNotFound(err) {
		where := "cluster-wide"
		if ns != "" {
			where = "in namespace " + strconv.Quote(ns)
		}
		return fail(ReasonAnalysisTemplateNotFound, "%s %q named by the Rollout's analysis was not found %s; create it or fix templateName. The update waits",
			kind, name, where)
	}
	return apiFailure(fmt.Sprintf("get %s %q", kind, name), err)
}

// fieldValue reads metadata.name / metadata.namespace / labels / annotations of the Rollout.
func fieldValue(ro *v1alpha1.Rollout, path string) (string, error) {
	switch {
	case path == "metadata.name":
		return ro.Name, nil
	case path == "metadata.namespace":
		return ro.Namespace, nil
	case len(path) > len("metadata.labels['") && path[:len("metadata.labels['")] == "metadata.labels['":
		return ro.Labels[path[len("metadata.labels['"):len(path)-2]], nil
	case len(path) > len("metadata.annotations['") && path[:len("metadata.annotations['")] == "metadata.annotations['":
		return ro.Annotations[path[len("metadata.annotations['"):len(path)-2]], nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported (use metadata.name, metadata.namespace, metadata.labels['k'], metadata.annotations['k'])", path)
}

// backgroundAnalysis runs spec.strategy.canary.analysis through an update,
// with or without steps. It runs BEFORE planning and scaling, so it fails
// closed: a run that cannot be created (template missing or invalid, create
// forbidden, arguments unresolved) is a Failure and nothing is scaled. A run
// that ended Failed or Error aborts the update; one that ended Inconclusive
// pauses it (InconclusiveAnalysisRun, canary.BackgroundHold keeps everything
// where it is) until a person promotes — then a fresh run <name>.<n> measures
// again, as upstream starts a new one — or aborts.
//
// Without steps the update completes once its pods are up, as upstream: the
// run must have started before the first pod is scaled, and a verdict it
// reaches before completion stops the update; it does not hold completion
// open. A run still going at completion is terminated as superseded.
func (r *Reconciler) backgroundAnalysis(ctx context.Context, ro *v1alpha1.Rollout, hash string, rev int64, n *notes) error {
	c := ro.Spec.Strategy.Canary
	st := &ro.Status
	prev := st.Canary.CurrentBackgroundAnalysisRunStatus
	st.Canary.CurrentBackgroundAnalysisRunStatus = nil
	fresh := st.CurrentPodHash != hash // a new revision: the planner starts its steps again
	if c == nil || c.Analysis == nil || st.StableRS == "" || st.StableRS == hash || (st.Abort && !fresh) {
		return nil
	}
	if s := c.Analysis.StartingStep; s != nil && len(c.Steps) > 0 {
		idx := int32(0)
		if !fresh && st.CurrentStepIndex != nil {
			idx = *st.CurrentStepIndex
		}
		if idx < *s {
			return nil
		}
	}
	base, preferred := fmt.Sprintf("%s-%s-%d", ro.Name, hash, rev), ""
	if prev != nil && (prev.Name == base || strings.HasPrefix(prev.Name, base+".")) {
		preferred = prev.Name
	}
	run, err := r.ensureRun(ctx, ro, base, preferred, "Background", hash, &c.Analysis.RolloutAnalysis, nil)
	if err != nil {
		return err
	}
	if fresh {
		// The verdicts below belong to this revision's steps, which the
		// planner has not started yet; the run is created, that is enough.
		st.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: run.Name, Status: run.Status.Phase, Message: run.Status.Message}
		return nil
	}
	if run.Status.Phase == v1alpha1.AnalysisPhaseInconclusive && prev != nil && prev.Name == run.Name &&
		prev.Status == v1alpha1.AnalysisPhaseInconclusive && st.ControllerPause &&
		canary.FindPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) == nil {
		// This status paused for the run and a person has since removed the
		// pause (promote): the run stays as the record, and a fresh run
		// measures the rest of the update. (Read from the Rollout's own
		// status, so a stale cache cannot fake a promote.)
		if err := r.annotateRun(ctx, run, supersededAnnotation); err != nil {
			return err
		}
		st.ControllerPause = len(st.PauseConditions) > 0
		if run, err = r.ensureRun(ctx, ro, nextAttempt(base, run.Name), "", "Background", hash, &c.Analysis.RolloutAnalysis, nil); err != nil {
			return err
		}
	}
	name := run.Name
	st.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: run.Status.Phase, Message: run.Status.Message}
	switch p := run.Status.Phase; p {
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		now := metav1.Now()
		st.Abort, st.AbortedAt = true, &now
		st.Phase = v1alpha1.RolloutPhaseDegraded
		st.Message = canary.AbortMessage(rev, fmt.Sprintf("background AnalysisRun %q %s: %s", name, p, run.Status.Message))
		n.warn("RolloutAborted", st.Message)
	case v1alpha1.AnalysisPhaseInconclusive:
		if canary.FindPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) != nil {
			return nil // already paused for it
		}
		canary.AddPause(st, v1alpha1.PauseReasonInconclusiveAnalysis, r.Now())
		n.warn("AnalysisInconclusive", fmt.Sprintf("background AnalysisRun %q Inconclusive: %s; the update is paused where it is: "+
			"promote to continue (a fresh run measures again) or abort to roll back", name, run.Status.Message))
	}
	return nil
}

// nextAttempt names the run after attempt current of base: base.1, base.2, …
func nextAttempt(base, current string) string {
	n := 0
	if rest, ok := strings.CutPrefix(current, base+"."); ok {
		n, _ = strconv.Atoi(rest)
	}
	return fmt.Sprintf("%s.%d", base, n+1)
}

func (r *Reconciler) annotateRun(ctx context.Context, run *v1alpha1.AnalysisRun, key string) error {
	body := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, key)
	if err := r.Patch(ctx, run, client.RawPatch(types.MergePatchType, []byte(body))); err != nil {
		return apiFailure("annotate AnalysisRun "+run.Name, err)
	}
	return nil
}

// terminateStaleRuns ends AnalysisRuns of this Rollout that no longer gate
// anything (aborted, promoted past, replaced by a new revision) and marks
// them superseded, so a retry measures afresh.
func (r *Reconciler) terminateStaleRuns(ctx context.Context, ro *v1alpha1.Rollout) error {
	var list v1alpha1.AnalysisRunList
	if err := r.ownedRuns(ctx, ro, &list); err != nil {
		return err
	}
	keep := map[string]bool{}
	if !ro.Status.Abort {
		for _, s := range []*v1alpha1.RolloutAnalysisRunStatus{ro.Status.Canary.CurrentStepAnalysisRunStatus,
			ro.Status.Canary.CurrentBackgroundAnalysisRunStatus, ro.Status.BlueGreen.PrePromotionAnalysisRunStatus,
			ro.Status.BlueGreen.PostPromotionAnalysisRunStatus} {
			if s != nil {
				keep[s.Name] = true
			}
		}
	}
	if err := r.trimRunHistory(ctx, ro, list.Items, keep); err != nil {
		return err
	}
	for i := range list.Items {
		run := &list.Items[i]
		if keep[run.Name] || run.Annotations[supersededAnnotation] != "" {
			continue
		}
		body := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, supersededAnnotation)
		if !run.Status.Phase.Completed() {
			body = fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}},"spec":{"terminate":true}}`, supersededAnnotation)
		}
		patch := client.RawPatch(types.MergePatchType, []byte(body))
		if err := r.Patch(ctx, run, patch); client.IgnoreNotFound(err) != nil {
			return apiFailure("terminate AnalysisRun "+run.Name, err)
		}
	}
	return nil
}

// Default numbers of finished AnalysisRuns kept per Rollout, as upstream.
const defaultRunHistory = 5

// trimRunHistory deletes the oldest finished runs beyond
// spec.analysis.successfulRunHistoryLimit / unsuccessfulRunHistoryLimit.
func (r *Reconciler) trimRunHistory(ctx context.Context, ro *v1alpha1.Rollout, runs []v1alpha1.AnalysisRun, keep map[string]bool) error {
	limits := map[bool]int{true: defaultRunHistory, false: defaultRunHistory}
	if a := ro.Spec.Analysis; a != nil {
		if a.SuccessfulRunHistoryLimit != nil {
			limits[true] = int(*a.SuccessfulRunHistoryLimit)
		}
		if a.UnsuccessfulRunHistoryLimit != nil {
			limits[false] = int(*a.UnsuccessfulRunHistoryLimit)
		}
	}
	finished := map[bool][]*v1alpha1.AnalysisRun{}
	for i := range runs {
		run := &runs[i]
		if keep[run.Name] || !run.Status.Phase.Completed() {
			continue
		}
		ok := run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful
		finished[ok] = append(finished[ok], run)
	}
	for ok, list := range finished {
		if len(list) <= limits[ok] {
			continue
		}
		sort.Slice(list, func(i, j int) bool { return list[i].CreationTimestamp.Before(&list[j].CreationTimestamp) })
		for _, run := range list[:len(list)-limits[ok]] {
			if err := r.Delete(ctx, run, client.Preconditions{UID: &run.UID}); client.IgnoreNotFound(err) != nil {
				return apiFailure("delete old AnalysisRun "+run.Name, err)
			}
		}
	}
	return nil
}
