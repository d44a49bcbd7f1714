package rollout

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch

// EphemeralMetadataAnnotation records, on a ReplicaSet, the pod metadata
// (canaryMetadata/stableMetadata, previewMetadata/activeMetadata) injected
// into its template, so it can be taken out again when the role changes. It
// is upstream's name and format, so either controller can take over.
const EphemeralMetadataAnnotation = "rollout.argoproj.io/ephemeral-metadata"

// roleMetadata is the ephemeral metadata a ReplicaSet of hash should carry:
// the canary's (preview's) while it is the update in flight, the stable's
// (active's) while it is stable, none otherwise.
func roleMetadata(ro *v1alpha1.Rollout, hash, current, stable string) *v1alpha1.PodTemplateMetadata {
	var next, serving *v1alpha1.PodTemplateMetadata
	switch {
	case ro.Spec.Strategy.Canary != nil:
		next, serving = ro.Spec.Strategy.Canary.CanaryMetadata, ro.Spec.Strategy.Canary.StableMetadata
	case ro.Spec.Strategy.BlueGreen != nil:
		next, serving = ro.Spec.Strategy.BlueGreen.PreviewMetadata, ro.Spec.Strategy.BlueGreen.ActiveMetadata
	}
	switch {
	case hash == stable || (stable == "" && hash == current):
		return serving
	case hash == current:
		return next
	}
	return nil
}

// ownTemplate is rs's pod template without the ephemeral metadata injected
// into it (recorded in its annotation, or named by the strategy now): what
// is compared with the Rollout's template.
func ownTemplate(ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet) *corev1.PodTemplateSpec {
	t := stripEphemeral(ro, &rs.Spec.Template)
	syncMetadata(&t.ObjectMeta, injected(rs), nil)
	stripAntiAffinity(t)
	if len(t.Annotations) == 0 {
		t.Annotations = nil
	}
	return t
}

// injected is the ephemeral metadata recorded on rs, or nil.
func injected(rs *appsv1.ReplicaSet) *v1alpha1.PodTemplateMetadata {
	raw := rs.Annotations[EphemeralMetadataAnnotation]
	if raw == "" {
		return nil
	}
	var md v1alpha1.PodTemplateMetadata
	if json.Unmarshal([]byte(raw), &md) != nil {
		return nil
	}
	return &md
}

// syncMetadata puts want into meta and takes out what had (injected
// before) sets but want does not; other labels and annotations (a sidecar
// injector's, the pod hash) are left alone. It reports whether it changed
// anything.
func syncMetadata(meta *metav1.ObjectMeta, had, want *v1alpha1.PodTemplateMetadata) bool {
	changed := false
	put := func(m *map[string]string, k, v string) {
		if (*m)[k] != v {
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[k] = v
			changed = true
		}
	}
	drop := func(m map[string]string, k string, keep map[string]string) {
		if _, still := keep[k]; still {
			return
		}
		if _, ok := m[k]; ok {
			delete(m, k)
			changed = true
		}
	}
	var keepL, keepA map[string]string
	if want != nil {
		keepL, keepA = want.Labels, want.Annotations
		for k, v := range want.Labels {
			put(&meta.Labels, k, v)
		}
		for k, v := range want.Annotations {
			put(&meta.Annotations, k, v)
		}
	}
	if had != nil {
		for k := range had.Labels {
			drop(meta.Labels, k, keepL)
		}
		for k := range had.Annotations {
			drop(meta.Annotations, k, keepA)
		}
	}
	return changed
}

// syncEphemeral gives every ReplicaSet of the Rollout, and its pods, the
// ephemeral metadata of its role now (stable is the stable hash after this
// reconcile's plan): the ReplicaSet first, so pods it creates meanwhile
// carry it, then each pod in place (no restart), as upstream.
func (r *Reconciler) syncEphemeral(ctx context.Context, ro *v1alpha1.Rollout, obs *observed, stable string) error {
	configured := false
	if c := ro.Spec.Strategy.Canary; c != nil {
		configured = c.CanaryMetadata != nil || c.StableMetadata != nil
	} else if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		configured = bg.PreviewMetadata != nil || bg.ActiveMetadata != nil
	}
	for _, rs := range obs.owned {
		had := injected(rs)
		if !configured && had == nil {
			continue
		}
		want := roleMetadata(ro, rs.Labels[PodTemplateHashLabel], obs.hash, stable)
		before := rs.DeepCopy()
		if syncMetadata(&rs.Spec.Template.ObjectMeta, had, want) || (want == nil) != (had == nil) {
			if rs.Annotations == nil {
				rs.Annotations = map[string]string{}
			}
			if want == nil {
				delete(rs.Annotations, EphemeralMetadataAnnotation)
			} else {
				b, _ := json.Marshal(want)
				rs.Annotations[EphemeralMetadataAnnotation] = string(b)
			}
			if err := r.Patch(ctx, rs, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
				return apiFailure("set the ephemeral pod metadata of "+describeRS(rs), err)
			}
		}
		if err := r.syncPods(ctx, ro, rs, had, want); err != nil {
			return err
		}
	}
	return nil
}

// syncPods brings the pods of rs to want, in place.
func (r *Reconciler) syncPods(ctx context.Context, ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet, had, want *v1alpha1.PodTemplateMetadata) error {
	if had == nil && want == nil {
		return nil
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(ro.Namespace), client.MatchingLabels{PodTemplateHashLabel: rs.Labels[PodTemplateHashLabel]}); err != nil {
		return apiFailure("list pods of "+describeRS(rs), err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID || p.DeletionTimestamp != nil {
			continue
		}
		before := p.DeepCopy()
		if !syncMetadata(&p.ObjectMeta, had, want) {
			continue
		}
		if err := r.Patch(ctx, p, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
			return apiFailure(fmt.Sprintf("set the ephemeral metadata of pod %q", p.Name), err)
		}
	}
	return nil
}
