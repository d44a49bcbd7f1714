package rolloutview

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Reasons of the conditions a Why line explains. They are the reasons the
// Sluice controller sets; InvalidSpec and ProgressDeadlineExceeded are also
// upstream's.
const (
	reasonInvalidSpec              = "InvalidSpec"
	reasonWorkloadRefNotFound      = "WorkloadRefNotFound"
	reasonTrafficRouter            = "TrafficRouterUnavailable"
	reasonStrategyNotSupported     = "StrategyNotSupported"
	reasonStepNotSupported         = "StepNotSupported"
	reasonForbidden                = "Forbidden"
	reasonReplicaSetConflict       = "ReplicaSetNameConflict"
	reasonReconcileError           = "ReconcileError"
	reasonProgressDeadline         = "ProgressDeadlineExceeded"
	reasonAnalysisTemplateNotFound = "AnalysisTemplateNotFound"
	reasonAnalysisRunInvalid       = "AnalysisRunInvalid"
	reasonServiceNotFound          = "ServiceNotFound"
	reasonRouteNotFound            = "TrafficRouteNotFound"
	reasonRouteUnusable            = "TrafficRouteUnusable"
	reasonRouterNotInstalled       = "TrafficRouterNotInstalled"
	conditionWorkloadServing       = v1alpha1.RolloutConditionType("WorkloadStillServing")
)

// notObservedGrace is how long a spec may wait for the controller before the
// view says so: past it, a controller that cannot reconcile the Rollout at
// all (seed bug #1: a traffic-router plugin it failed to load) is the likely
// cause, and the only other trace is in the controller's log.
const notObservedGrace = 30 * time.Second

// why explains the loud-failure conditions of ro, one line each: the cause
// in plain words, then "→" and what to do about it.
func why(ro *v1alpha1.Rollout, o Objects, opts Options) []string {
	var out []string
	cmd := func(verb string) string {
		return fmt.Sprintf("%s %s %s -n %s", opts.Command, verb, ro.Name, ro.Namespace)
	}
	if !Observed(ro) {
		if since, ok := specWrittenAt(ro); ok && opts.Now.Sub(since) > notObservedGrace {
			og := ro.Status.ObservedGeneration
			if og == "" {
				og = "none"
			}
			msg := fmt.Sprintf("the controller has not acted on this spec for %s (observedGeneration %s, generation %d): "+
				"it is not running, or cannot reconcile this Rollout → check the controller's log",
				duration.HumanDuration(opts.Now.Sub(since)), og, ro.Generation)
			if r := router(ro); r != "" {
				msg += fmt.Sprintf("; a traffic router it cannot load (%s in spec.strategy.canary.trafficRouting) stalls a Rollout exactly like this", r)
			}
			out = append(out, msg)
		}
		return out // the conditions below describe an older spec
	}
	st := &ro.Status
	if c := condition(st, v1alpha1.RolloutProgressing); c != nil && c.Status == corev1.ConditionFalse {
		if line := progressWhy(ro, c.Reason, opts.Command, cmd); line != "" {
			out = append(out, line)
		}
	} else if c := condition(st, v1alpha1.RolloutInvalidSpec); c != nil && c.Status == corev1.ConditionTrue {
		out = append(out, progressWhy(ro, reasonInvalidSpec, opts.Command, cmd))
	}
	if c := condition(st, conditionWorkloadServing); c != nil && c.Status == corev1.ConditionTrue {
		name, policy := "", "never"
		if ref := ro.Spec.WorkloadRef; ref != nil {
			name = ref.Name
			if ref.ScaleDown != "" {
				policy = ref.ScaleDown
			}
		}
		out = append(out, fmt.Sprintf("Deployment %q (spec.workloadRef) still serves pods beside the Rollout's "+
			"(scaleDown: %s) → set spec.workloadRef.scaleDown: onsuccess, or scale the Deployment to 0", name, policy))
	}
	for _, pc := range st.PauseConditions {
		if pc.Reason != v1alpha1.PauseReasonInconclusiveAnalysis {
			continue
		}
		run, detail := "the analysis", ""
		if s := st.Canary.CurrentStepAnalysisRunStatus; s != nil && s.Name != "" {
			run, detail = fmt.Sprintf("AnalysisRun %q", s.Name), s.Message
		} else if ar := latestInconclusive(ro, o); ar != nil {
			run, detail = fmt.Sprintf("AnalysisRun %q", ar.Name), ar.Status.Message
		}
		if detail != "" {
			detail = " (" + detail + ")"
		}
		out = append(out, fmt.Sprintf("%s was inconclusive%s; no data is not success, so the Rollout waits for a person → "+
			"continue: %s; roll back: %s", run, detail, cmd("promote"), cmd("abort")))
	}
	return out
}

func progressWhy(ro *v1alpha1.Rollout, reason, prog string, cmd func(string) string) string {
	switch reason {
	case reasonInvalidSpec:
		return "the spec is invalid and nothing was changed → fix the field the Message names (" +
			prog + " lint -f FILE checks a manifest offline)"
	case reasonWorkloadRefNotFound:
		name := ""
		if ref := ro.Spec.WorkloadRef; ref != nil {
			name = ref.Name
		}
		return fmt.Sprintf("Deployment %q (spec.workloadRef) does not exist, so there is nothing to roll out → "+
			"create it, or fix spec.workloadRef.name", name)
	case reasonTrafficRouter:
		r := router(ro)
		if r == "" {
			r = "the traffic router"
		}
		return fmt.Sprintf("%s cannot be used, so nothing was rolled out (no ReplicaSet touched) → remove "+
			"spec.strategy.canary.trafficRouting to split traffic by pod count", r)
	case reasonServiceNotFound:
		return "a Service the strategy names does not exist, and nothing was changed → create it, or fix the name the Message gives"
	case reasonRouteNotFound: // the Message names the object and the router
		return "the router object that carries the split does not exist, so the Rollout holds where it is → " +
			"create it as the Message says, or fix its name in spec.strategy.canary.trafficRouting"
	case reasonRouteUnusable:
		return "the router object cannot carry the split between the stable and the canary Service, so the Rollout holds → " +
			"change it as the Message says"
	case reasonRouterNotInstalled:
		return "the cluster lacks the router's kind (the Message names it), so nothing was rolled out → install its CRDs, " +
			"or remove spec.strategy.canary.trafficRouting to split traffic by pod count"
	case reasonStrategyNotSupported:
		return "this controller cannot run the Rollout's strategy yet and changed nothing → use spec.strategy.canary"
	case reasonStepNotSupported:
		return "a step this controller cannot run yet is in the spec, and nothing was changed → " +
			"replace it with a pause step and promote by hand"
	case reasonForbidden:
		return "the controller's RBAC forbids an API call it needs → grant it in the controller's ClusterRole (the Message names the call)"
	case reasonReplicaSetConflict:
		return "a ReplicaSet with the name this Rollout needs exists and is not its own → delete or rename it"
	case reasonReconcileError:
		return "the controller's API calls fail and are retried → check the API server and the controller's log"
	case reasonProgressDeadline:
		return fmt.Sprintf("the new pods did not become available within spec.progressDeadlineSeconds → "+
			"kubectl describe pods -n %s -l %s=%s, then fix the spec, or %s",
			ro.Namespace, PodTemplateHashLabel, ro.Status.CurrentPodHash, cmd("abort"))
	case reasonAnalysisTemplateNotFound:
		return "an analysis template the Rollout names does not exist, and the update waits → " +
			"create it, or fix templateName"
	case reasonAnalysisRunInvalid:
		return "the analysis cannot be built from its templates and args, and the update waits → " +
			"fix them as the Message says"
	}
	return ""
}

// router names the traffic router of a canary, e.g. plugin "argoproj-labs/cilium".
func router(ro *v1alpha1.Rollout) string {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return ""
	}
	tr := c.TrafficRouting
	var names []string
	for n := range tr.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		return fmt.Sprintf("traffic router plugin %q", names[0])
	}
	for _, r := range []struct {
		name string
		set  bool
	}{{"istio", tr.Istio != nil}, {"nginx", tr.Nginx != nil}, {"alb", tr.ALB != nil}, {"smi", tr.SMI != nil},
		{"ambassador", tr.Ambassador != nil}, {"appMesh", tr.AppMesh != nil}, {"traefik", tr.Traefik != nil},
		{"apisix", tr.Apisix != nil}} {
		if r.set {
			return fmt.Sprintf("traffic router %q", r.name)
		}
	}
	return "the traffic router"
}

func condition(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// latestInconclusive is the newest Inconclusive AnalysisRun of the Rollout.
func latestInconclusive(ro *v1alpha1.Rollout, o Objects) *v1alpha1.AnalysisRun {
	runs := ownedRuns(ro, owned(ro, o.ReplicaSets), o.AnalysisRuns)
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Status.Phase == v1alpha1.AnalysisPhaseInconclusive {
			return runs[i]
		}
	}
	return nil
}

// specWrittenAt is when the Rollout's spec was last written, from its
// managedFields (writes to the status subresource do not count).
func specWrittenAt(ro *v1alpha1.Rollout) (time.Time, bool) {
	var t time.Time
	for _, mf := range ro.ManagedFields {
		if mf.Subresource != "" || mf.Time == nil {
			continue
		}
		if mf.Time.After(t) {
			t = mf.Time.Time
		}
	}
	if t.IsZero() {
		return ro.CreationTimestamp.Time, !ro.CreationTimestamp.IsZero() && ro.Generation <= 1
	}
	return t, true
}

func age(now time.Time, t metav1.Time) string {
	if t.IsZero() || now.IsZero() {
		return ""
	}
	d := now.Sub(t.Time)
	if d < 0 {
		d = 0
	}
	return duration.HumanDuration(d)
}

func shortDuration(d time.Duration) string {
	return duration.HumanDuration(d.Round(time.Second))
}
