package rollout

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Taking over ReplicaSets another controller (upstream Argo Rollouts, an
// older Sluice) or a person left behind, so a switch of controllers never
// starts an update to identical pods, and never advises deleting what serves.

// claimOrphans makes the Rollout the controller of ReplicaSets that match
// its selector and have no controller (the Rollout was deleted with
// --cascade=orphan and re-created, moved between GitOps apps, restored from a
// backup), as upstream and Deployments do. They are then the Rollout's like
// any other: the one with the current template serves on, the others drain.
func (r *Reconciler) claimOrphans(ctx context.Context, ro *v1alpha1.Rollout, o *observed, n *notes) error {
	sel, err := metav1.LabelSelectorAsSelector(o.selector)
	if err != nil || sel.Empty() {
		return nil // an empty selector would claim everything: never
	}
	var list appsv1.ReplicaSetList
	if err := r.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return apiFailure("list ReplicaSets matching the selector", err)
	}
	for i := range list.Items {
		rs := &list.Items[i]
		if metav1.GetControllerOf(rs) != nil || rs.DeletionTimestamp != nil || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		before := rs.DeepCopy()
		rs.OwnerReferences = append(rs.OwnerReferences, *metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout")))
		if err := r.Patch(ctx, rs, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return apiFailure("adopt orphaned "+describeRS(rs), err)
		}
		o.owned = append(o.owned, rs)
		n.add(false, ReasonReplicaSetAdopted, fmt.Sprintf("Adopted orphaned ReplicaSet %q (it matches spec.selector and had no controller; %d pod(s) asked for)",
			rs.Name, specReplicas(rs)))
	}
	return nil
}

// ReasonReplicaSetAdopted: a ReplicaSet made elsewhere now belongs to the Rollout.
const ReasonReplicaSetAdopted = "ReplicaSetAdopted"

// adoptions remembers, per Rollout, which existing ReplicaSet hash a
// template hash was found to run (see adoptByTemplate), so the dry run that
// proves it is made once per template, not on every reconcile.
type adoptions struct {
	mu sync.Mutex
	m  map[types.UID]map[string]string // rollout → our hash → the ReplicaSet's hash
}

func (a *adoptions) get(uid types.UID, hash string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.m[uid][hash]
	return h, ok
}

func (a *adoptions) put(uid types.UID, hash, theirs string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[types.UID]map[string]string{}
	}
	a.m[uid] = map[string]string{hash: theirs} // one template at a time
}

// adoptByTemplate looks, when no ReplicaSet carries the template's hash, for
// one that runs the same template under another hash (upstream Argo Rollouts
// up to v1.8 hashed the template differently; a Kubernetes upgrade can add a
// defaulted field) and names the template by that ReplicaSet's hash instead
// of creating a new revision of identical pods. The comparison is exact: the
// API server defaults our template in a dry-run create, and the result must
// equal the ReplicaSet's template (hash label and ephemeral metadata aside).
func (r *Reconciler) adoptByTemplate(ctx context.Context, ro *v1alpha1.Rollout, o *observed, n *notes) error {
	if o.byHash(o.hash) != nil || len(o.owned) == 0 {
		return nil
	}
	if theirs, ok := r.adopted.get(ro.UID, o.hash); ok && o.byHash(theirs) != nil {
		o.hash = theirs
		return nil
	}
	var candidates []*appsv1.ReplicaSet
	for _, rs := range o.owned {
		if rs.DeletionTimestamp == nil && SameTemplate(ownTemplate(ro, rs), &o.template) {
			candidates = append(candidates, rs)
		}
	}
	if len(candidates) == 0 {
		return nil // a real template change: a new revision
	}
	defaulted, err := r.defaultedTemplate(ctx, ro, o)
	if err != nil {
		return err
	}
	// Prefer the ReplicaSet the status already names as current.
	for i, rs := range candidates {
		if rs.Labels[PodTemplateHashLabel] == ro.Status.CurrentPodHash {
			candidates[0], candidates[i] = candidates[i], candidates[0]
		}
	}
	for _, rs := range candidates {
		if !equalTemplates(ownTemplate(ro, rs), stripEphemeral(ro, defaulted)) {
			continue
		}
		theirs := rs.Labels[PodTemplateHashLabel]
		r.adopted.put(ro.UID, o.hash, theirs)
		n.add(false, ReasonReplicaSetAdopted, fmt.Sprintf("ReplicaSet %q runs this pod template under hash %s (this controller names it %s): "+
			"it is the current revision, no new ReplicaSet is created", rs.Name, theirs, o.hash))
		o.hash = theirs
		return nil
	}
	return nil
}

// defaultedTemplate is the template as the API server would store it in a
// ReplicaSet: a dry-run create returns it with every default and mutating
// admission applied, and persists nothing.
func (r *Reconciler) defaultedTemplate(ctx context.Context, ro *v1alpha1.Rollout, o *observed) (*corev1.PodTemplateSpec, error) {
	rs := r.replicaSetFor(ro, o, 0, 0)
	stripAntiAffinity(&rs.Spec.Template)
	rs.Name, rs.GenerateName = "", ro.Name+"-"
	rs.OwnerReferences = nil
	if err := r.Create(ctx, rs, client.DryRunAll); err != nil {
		return nil, apiFailure("dry-run a ReplicaSet to compare pod templates", err)
	}
	return &rs.Spec.Template, nil
}

// EqualTemplates reports whether two pod templates as the API server stores
// them are the same, the pod-template-hash label aside.
func EqualTemplates(a, b *corev1.PodTemplateSpec) bool { return equalTemplates(a, b) }

func equalTemplates(a, b *corev1.PodTemplateSpec) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	delete(x.Labels, PodTemplateHashLabel)
	delete(y.Labels, PodTemplateHashLabel)
	// The deprecated serviceAccount is filled in on stored pods only.
	x.Spec.DeprecatedServiceAccount, y.Spec.DeprecatedServiceAccount = "", ""
	return equality.Semantic.DeepEqual(x, y)
}

// stripEphemeral removes the labels and annotations upstream injects into a
// ReplicaSet's template for canaryMetadata/stableMetadata (and blue-green's
// active/preview metadata), which are not part of the Rollout's template.
func stripEphemeral(ro *v1alpha1.Rollout, t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	var md []*v1alpha1.PodTemplateMetadata
	if c := ro.Spec.Strategy.Canary; c != nil {
		md = append(md, c.CanaryMetadata, c.StableMetadata)
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		md = append(md, bg.ActiveMetadata, bg.PreviewMetadata)
	}
	out := t.DeepCopy()
	for _, m := range md {
		if m == nil {
			continue
		}
		for k := range m.Labels {
			delete(out.Labels, k)
		}
		for k := range m.Annotations {
			delete(out.Annotations, k)
		}
	}
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	return out
}
