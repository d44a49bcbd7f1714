package rollout

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/bluegreen"
	"github.com/sluice-dev/sluice/internal/canary"
)

// scaleDownAtAnnotation is when an old blue-green ReplicaSet may be scaled
// down after the switch (upstream's name).
const scaleDownAtAnnotation = "scale-down-deadline"

// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;update;patch

// ReasonServiceNotFound: a Service the strategy names does not exist.
const ReasonServiceNotFound = "ServiceNotFound"

// planBlueGreen asks the blue-green planner what to do. The Services must
// exist before anything is touched.
func (r *Reconciler) planBlueGreen(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, newRS *appsv1.ReplicaSet,
	rev int64, now metav1.Time) (*bluegreen.Decision, error) {
	bg := ro.Spec.Strategy.BlueGreen
	for field, name := range map[string]string{"activeService": bg.ActiveService, "previewService": bg.PreviewService} {
		if name == "" {
			continue
		}
		var svc corev1.Service
		err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, &svc)
		if apierrors.IsNotFound(err) {
			return nil, fail(ReasonServiceNotFound, "Service %q named by spec.strategy.blueGreen.%s was not found in namespace %q; "+
				"create it or fix the name. Nothing was changed", name, field, ro.Namespace)
		}
		if err != nil {
			return nil, apiFailure(fmt.Sprintf("get Service %q (spec.strategy.blueGreen.%s)", name, field), err)
		}
	}
	in := bluegreen.Input{
		Now: now.Time, Replicas: replicasOf(ro), Strategy: bg, SpecPaused: ro.Spec.Paused,
		Status: ro.Status, NewHash: obs.hash, Revision: rev, New: snapshot(newRS),
	}
	if active := obs.byHash(ro.Status.StableRS); active != nil && active != newRS {
		in.Active = snapshot(active)
	}
	for _, rs := range obs.owned {
		h := rs.Labels[PodTemplateHashLabel]
		if rs == newRS || (in.Active != nil && h == in.Active.Hash) {
			continue
		}
		o := bluegreen.Older{ReplicaSet: *snapshot(rs)}
		if t, err := time.Parse(time.RFC3339, rs.Annotations[scaleDownAtAnnotation]); err == nil {
			o.ScaleDownAt = t
		}
		in.Older = append(in.Older, o)
	}
	var gateErr error
	ro.Status.BlueGreen.PrePromotionAnalysisRunStatus = nil
	if a := bg.PrePromotionAnalysis; a != nil {
		g := &stepGate{r: r, ctx: ctx, ro: ro, hash: obs.hash, rev: rev}
		in.PrePromotion = func() (canary.Verdict, string) {
			v, msg := g.analysis(fmt.Sprintf("%s-%s-%d-pre", ro.Name, obs.hash, rev), "PrePromotion",
				ro.Status.BlueGreen.PrePromotionAnalysisRunStatus, a)
			gateErr, ro.Status.BlueGreen.PrePromotionAnalysisRunStatus = g.err, g.current
			return v, msg
		}
	}
	d := bluegreen.Plan(in)
	if gateErr != nil {
		return nil, gateErr
	}
	return &d, nil
}

// applyBlueGreen points the Services at their ReplicaSets and stamps old
// ReplicaSets with their scale-down time.
func (r *Reconciler) applyBlueGreen(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, d *bluegreen.Decision) error {
	bg := ro.Spec.Strategy.BlueGreen
	for _, s := range []struct{ name, hash string }{{bg.ActiveService, d.ActiveHash}, {bg.PreviewService, d.PreviewHash}} {
		if s.name == "" {
			continue
		}
		var svc corev1.Service
		if err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: s.name}, &svc); err != nil {
			return apiFailure(fmt.Sprintf("get Service %q", s.name), err)
		}
		if svc.Spec.Selector[PodTemplateHashLabel] == s.hash {
			continue
		}
		patch := fmt.Sprintf(`{"spec":{"selector":{%q:%q}}}`, PodTemplateHashLabel, s.hash)
		if err := r.Patch(ctx, &svc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return apiFailure(fmt.Sprintf("point Service %q at ReplicaSet %s-%s", s.name, ro.Name, s.hash), err)
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "SwitchService", "Switch",
			"Service %q now selects %s=%s", s.name, PodTemplateHashLabel, s.hash)
	}
	ro.Status.BlueGreen.ActiveSelector, ro.Status.BlueGreen.PreviewSelector = d.ActiveHash, d.PreviewHash
	for hash, at := range d.ScaleDownAt {
		rs := obs.byHash(hash)
		if rs == nil || rs.Annotations[scaleDownAtAnnotation] != "" {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, scaleDownAtAnnotation, at.UTC().Format(time.RFC3339))
		if err := r.Patch(ctx, rs, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return apiFailure("annotate "+describeRS(rs), err)
		}
	}
	return nil
}
