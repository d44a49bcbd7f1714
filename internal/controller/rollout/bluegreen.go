package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/bluegreen"
	"github.com/sluice-dev/sluice/internal/canary"
)

// planBlueGreen asks the blue-green planner what to do. The Services must
// exist before anything is touched.
func (r *Reconciler) planBlueGreen(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, newRS *appsv1.ReplicaSet,
	rev int64, now metav1.Time) (*bluegreen.Decision, error) {
	bg := ro.Spec.Strategy.BlueGreen
	if err := r.requireServices(ctx, ro, map[string]string{
		"spec.strategy.blueGreen.activeService": bg.ActiveService, "spec.strategy.blueGreen.previewService": bg.PreviewService}); err != nil {
		return nil, err
	}
	in := bluegreen.Input{
		Now: now.Time, Replicas: replicasOf(ro), Strategy: bg, SpecPaused: ro.Spec.Paused,
		Status: ro.Status, NewHash: obs.hash, Revision: rev, New: snapshot(newRS),
		FastRollback: withinRollbackWindow(ro, obs, newRS),
	}
	if in.FastRollback && ro.Status.CurrentPodHash != obs.hash {
		r.Recorder.Eventf(ro, nil, "Normal", "SkipSteps", "Reconcile",
			"Rollback to revision %d within spec.rollbackWindow: the promotion pause is skipped", rev)
	}
	if active := obs.byHash(ro.Status.StableRS); active != nil && active != newRS {
		in.Active = snapshot(active)
	}
	deadlines := obs.scaleDownDeadlines()
	for _, rs := range obs.owned {
		h := rs.Labels[PodTemplateHashLabel]
		if rs == newRS || (in.Active != nil && h == in.Active.Hash) {
			continue
		}
		in.Older = append(in.Older, bluegreen.Older{ReplicaSet: *snapshot(rs), ScaleDownAt: deadlines[h]})
	}
	var gateErr error
	// gate judges one promotion analysis (kind Pre/PostPromotion), keeping
	// its run in *slot of the status.
	gate := func(kind, suffix string, slot **v1alpha1.RolloutAnalysisRunStatus, a *v1alpha1.RolloutAnalysis) func() (canary.Verdict, string) {
		*slot = nil
		if a == nil {
			return nil
		}
		g := &stepGate{r: r, ctx: ctx, ro: ro, hash: obs.hash, rev: rev}
		return func() (canary.Verdict, string) {
			v, msg := g.analysis(fmt.Sprintf("%s-%s-%d-%s", ro.Name, obs.hash, rev, suffix), kind, *slot, a)
			gateErr, *slot = g.err, g.current
			return v, msg
		}
	}
	in.PrePromotion = gate("PrePromotion", "pre", &ro.Status.BlueGreen.PrePromotionAnalysisRunStatus, bg.PrePromotionAnalysis)
	in.PostPromotion = gate("PostPromotion", "post", &ro.Status.BlueGreen.PostPromotionAnalysisRunStatus, bg.PostPromotionAnalysis)
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
		if _, err := r.pointService(ctx, ro, s.name, s.hash); err != nil {
			return err
		}
	}
	ro.Status.BlueGreen.ActiveSelector, ro.Status.BlueGreen.PreviewSelector = d.ActiveHash, d.PreviewHash
	return r.stampScaleDown(ctx, obs, d.ScaleDownAt)
}
