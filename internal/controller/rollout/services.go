package rollout

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;update;patch

// ReasonServiceNotFound: a Service the strategy names does not exist.
const ReasonServiceNotFound = "ServiceNotFound"

// scaleDownAtAnnotation is when an old ReplicaSet may be scaled down after
// traffic has left it (upstream's name).
const scaleDownAtAnnotation = "scale-down-deadline"

// requireServices fails loudly, before anything is touched, when a Service
// the strategy names is missing. fields maps "spec.strategy.x.yService" to
// the Service name ("" = not set).
func (r *Reconciler) requireServices(ctx context.Context, ro *v1alpha1.Rollout, fields map[string]string) error {
	for field, name := range fields {
		if name == "" {
			continue
		}
		var svc corev1.Service
		err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, &svc)
		if apierrors.IsNotFound(err) {
			return fail(ReasonServiceNotFound, "Service %q named by %s was not found in namespace %q; "+
				"create it or fix the name. Nothing was changed", name, field, ro.Namespace)
		}
		if err != nil {
			return apiFailure(fmt.Sprintf("get Service %q (%s)", name, field), err)
		}
	}
	return nil
}

// pointService makes Service name select the pods of pod-template hash, with
// one patch when it does not already. It reports whether it switched.
func (r *Reconciler) pointService(ctx context.Context, ro *v1alpha1.Rollout, name, hash string) (bool, error) {
	var svc corev1.Service
	if err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, &svc); err != nil {
		return false, apiFailure(fmt.Sprintf("get Service %q", name), err)
	}
	if svc.Spec.Selector[PodTemplateHashLabel] == hash {
		return false, nil
	}
	patch := fmt.Sprintf(`{"spec":{"selector":{%q:%q}}}`, PodTemplateHashLabel, hash)
	if err := r.Patch(ctx, &svc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return false, apiFailure(fmt.Sprintf("point Service %q at ReplicaSet %s-%s", name, ro.Name, hash), err)
	}
	r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "SwitchService", "Switch",
		"Service %q now selects %s=%s", name, PodTemplateHashLabel, hash)
	return true, nil
}

// scaleDownDeadlines reads the scale-down deadlines stamped on the
// Rollout's ReplicaSets, by pod-template hash.
func (o *observed) scaleDownDeadlines() map[string]time.Time {
	out := map[string]time.Time{}
	for _, rs := range o.owned {
		if t, err := time.Parse(time.RFC3339, rs.Annotations[scaleDownAtAnnotation]); err == nil {
			out[rs.Labels[PodTemplateHashLabel]] = t
		}
	}
	return out
}

// stampScaleDown records new scale-down deadlines on old ReplicaSets; one
// already stamped is left as it is.
func (r *Reconciler) stampScaleDown(ctx context.Context, obs *observed, at map[string]time.Time) error {
	for hash, t := range at {
		rs := obs.byHash(hash)
		if rs == nil || rs.Annotations[scaleDownAtAnnotation] != "" {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, scaleDownAtAnnotation, t.UTC().Format(time.RFC3339))
		if err := r.Patch(ctx, rs, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return apiFailure("annotate "+describeRS(rs), err)
		}
	}
	return nil
}

// unpinServices removes the pod-template-hash from Services that select
// one of the Rollout's ReplicaSets although the strategy no longer points
// any Service at a hash (a blue-green switched to a replica-count canary).
// Left pinned, the former active Service would keep sending every request
// to the old version while the canary's pods get none.
func (r *Reconciler) unpinServices(ctx context.Context, ro *v1alpha1.Rollout, obs *observed) error {
	st := &ro.Status.BlueGreen
	if ro.Spec.Strategy.BlueGreen != nil || len(pinnedServices(ro)) > 0 || (st.ActiveSelector == "" && st.PreviewSelector == "") {
		return nil
	}
	ours := map[string]bool{}
	for _, rs := range obs.owned {
		ours[rs.Labels[PodTemplateHashLabel]] = true
	}
	var list corev1.ServiceList
	if err := r.List(ctx, &list, client.InNamespace(ro.Namespace)); err != nil {
		return apiFailure("list Services", err)
	}
	for i := range list.Items {
		svc := &list.Items[i]
		h := svc.Spec.Selector[PodTemplateHashLabel]
		if h == "" || !ours[h] {
			continue
		}
		if err := r.unpinService(ctx, svc); err != nil {
			return apiFailure(fmt.Sprintf("stop Service %q selecting only ReplicaSet %s-%s", svc.Name, ro.Name, h), err)
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeNormal, "SwitchService", "Switch",
			"Service %q no longer selects %s=%s: the strategy no longer points Services at a ReplicaSet", svc.Name, PodTemplateHashLabel, h)
	}
	st.ActiveSelector, st.PreviewSelector = "", ""
	return nil
}

// unpinService takes the pod-template hash out of svc's selector, so it
// selects every pod of the app again; a Service gone already is fine.
func (r *Reconciler) unpinService(ctx context.Context, svc *corev1.Service) error {
	patch := fmt.Sprintf(`{"spec":{"selector":{%q:null}}}`, PodTemplateHashLabel)
	return client.IgnoreNotFound(r.Patch(ctx, svc, client.RawPatch(types.MergePatchType, []byte(patch))))
}
