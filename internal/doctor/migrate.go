package doctor

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/controller/rollout"
	"github.com/sluice-dev/sluice/internal/instance"
	"github.com/sluice-dev/sluice/internal/validation"
)

// Takeover is what the CLI read about one Rollout for the migration
// preflight: the ReplicaSets in its namespace, and its pod template as the
// API server would store it (from a dry-run create; nil when not allowed).
type Takeover struct {
	Rollout     *v1alpha1.Rollout
	Template    *corev1.PodTemplateSpec // spec.template, or the workloadRef Deployment's
	Defaulted   *corev1.PodTemplateSpec
	ReplicaSets []appsv1.ReplicaSet
	// InstanceID is the --instance-id Sluice would run with.
	InstanceID string
}

// Migrate says, for one Rollout now run by another controller (upstream
// Argo Rollouts), what Sluice would do on taking it over: which ReplicaSet
// it would adopt as the current revision and why, orphans it would claim,
// where the steps would resume, and what it would refuse or hold. It reads
// only; an Error means the takeover would not be seamless.
func Migrate(t Takeover) []Finding {
	ro := t.Rollout
	obj := "rollout " + key(ro.Namespace, ro.Name)
	var out []Finding
	add := func(sev Severity, check, msg, fix string) {
		out = append(out, Finding{Severity: sev, Object: obj, Check: "migrate: " + check, Message: msg, Fix: fix})
	}
	if !instance.Mine(ro, t.InstanceID) {
		// The checks below say what happens once it is moved.
		move := fmt.Sprintf("kubectl label rollout %s -n %s %s=%s --overwrite", ro.Name, ro.Namespace, instance.Label, t.InstanceID)
		if t.InstanceID == "" {
			move = fmt.Sprintf("kubectl label rollout %s -n %s %s-", ro.Name, ro.Namespace, instance.Label)
		}
		add(OK, "instance", fmt.Sprintf("not yet for the Sluice controller with --instance-id %q (label %s=%q): it moves when relabelled",
			t.InstanceID, instance.Label, ro.Labels[instance.Label]), move)
	}
	if errs := validation.Rollout(ro); len(errs) > 0 {
		add(Error, "spec", "Sluice would refuse the spec (InvalidSpec) and touch nothing: "+errs.ToAggregate().Error(), "fix the fields named")
	}
	if msg, held := rollout.Unsupported(ro); msg != "" {
		what := "Sluice would hold it Degraded and touch nothing"
		if held {
			what = "Sluice would hold it Degraded: no step taken, though scaling and abort still apply"
		}
		add(Error, "unsupported", what+": "+msg, "keep this Rollout on Argo Rollouts (label it for another --instance-id) until Sluice carries it")
	}
	adoption(t, add)
	if c := ro.Spec.Strategy.Canary; c != nil && ro.Status.CurrentStepHash != "" && ro.Status.CurrentStepHash != canary.StepsHash(c.Steps) {
		add(Warning, "steps", "status.currentStepHash does not match the steps: Sluice would restart the steps from the first (the canary goes back to its first setWeight)",
			"finish or abort the update in flight before switching")
	} else if idx := ro.Status.CurrentStepIndex; idx != nil && ro.Spec.Strategy.Canary != nil && int(*idx) < len(ro.Spec.Strategy.Canary.Steps) {
		where := fmt.Sprintf("step %d/%d", *idx, len(ro.Spec.Strategy.Canary.Steps))
		if st := strings.TrimSpace(string(ro.Status.Phase) + " " + ro.Status.Message); st != "" {
			where += " (" + st + ")"
		}
		add(OK, "steps", "in flight at "+where+": Sluice goes on from there", "")
	}
	if ro.Spec.WorkloadRef != nil || ro.Spec.Strategy.BlueGreen != nil || (ro.Spec.Strategy.Canary != nil && ro.Spec.Strategy.Canary.TrafficRouting != nil) {
		add(OK, "finalizer", "Sluice adds the finalizer "+rollout.HandBackFinalizer+" (deleting the Rollout hands back the Deployment and Services first)",
			"before moving this Rollout back to Argo Rollouts, remove it: kubectl patch rollout "+ro.Name+" -n "+ro.Namespace+
				` --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'`)
	}
	return out
}

// adoption reports which ReplicaSet Sluice would take as the current
// revision, and the orphans it would claim.
func adoption(t Takeover, add func(Severity, string, string, string)) {
	ro := t.Rollout
	var owned []*appsv1.ReplicaSet
	sel, _ := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
	for i := range t.ReplicaSets {
		rs := &t.ReplicaSets[i]
		switch ref := metav1.GetControllerOf(rs); {
		case ref != nil && ref.UID == ro.UID:
			owned = append(owned, rs)
		case ref == nil && sel != nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) && rs.DeletionTimestamp == nil:
			add(Warning, "orphan", fmt.Sprintf("ReplicaSet %q matches spec.selector and has no controller: Sluice adopts it (%d pod(s))",
				rs.Name, specReplicas(rs)), "")
			owned = append(owned, rs)
		}
	}
	if t.Template == nil {
		return
	}
	tmpl := t.Template.DeepCopy()
	delete(tmpl.Labels, rollout.PodTemplateHashLabel)
	hash := rollout.TemplateHash(tmpl)
	if ro.Status.CollisionCount != nil {
		add(Warning, "revision", "status.collisionCount is set: Sluice salts the hash as upstream does; check the adoption below", "")
	}
	if len(owned) == 0 {
		add(OK, "revision", "no ReplicaSet yet: Sluice creates the first revision", "")
		return
	}
	for _, rs := range owned {
		if rs.Labels[rollout.PodTemplateHashLabel] == hash {
			add(OK, "revision", fmt.Sprintf("current revision: ReplicaSet %q (the same pod-template hash %s): no pod is replaced", rs.Name, hash), "")
			return
		}
	}
	for _, rs := range owned {
		exact := t.Defaulted != nil && rollout.EqualTemplates(&rs.Spec.Template, t.Defaulted)
		if !exact && !(t.Defaulted == nil && rollout.SameTemplate(&rs.Spec.Template, tmpl)) {
			continue
		}
		how := "compared with the API server's defaults (a dry run)"
		sev := OK
		if !exact {
			how, sev = "compared without the API server's defaults (the dry run was not allowed): likely, not certain", Warning
		}
		add(sev, "revision", fmt.Sprintf("current revision: ReplicaSet %q runs the same pod template under hash %s (Sluice's hash is %s, as "+
			"Argo Rollouts up to v1.8 hashed templates differently); Sluice adopts it and no pod is replaced; %s",
			rs.Name, rs.Labels[rollout.PodTemplateHashLabel], hash, how), "")
		return
	}
	add(Error, "revision", fmt.Sprintf("no ReplicaSet runs the current pod template: on taking over Sluice starts an update to a new ReplicaSet %s-%s",
		ro.Name, hash), "let the current controller finish rolling out the last change, then switch")
}

func specReplicas(rs *appsv1.ReplicaSet) int32 { return replicas(rs.Spec.Replicas) }
