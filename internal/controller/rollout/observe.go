package rollout

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/routers"
	"github.com/sluice-dev/sluice/internal/validation"
)

// Labels and annotations shared with upstream Argo Rollouts.
const (
	PodTemplateHashLabel = "rollouts-pod-template-hash"
	RevisionAnnotation   = "rollout.argoproj.io/revision"
	// DesiredReplicasAnnotation is the Rollout's spec.replicas, on its ReplicaSets.
	DesiredReplicasAnnotation = "rollout.argoproj.io/desired-replicas"
	ownerIndex                = ".metadata.controller"
	workloadRefIndex          = ".spec.workloadRef.name"
)

// observed is what one reconcile reads from the API.
type observed struct {
	template   corev1.PodTemplateSpec
	selector   *metav1.LabelSelector
	deployment *appsv1.Deployment // set with workloadRef
	hash       string
	owned      []*appsv1.ReplicaSet // owned by the Rollout, newest revision first
	// collisionCount salts the hash after a hash collision (status.collisionCount).
	collisionCount *int32
}

// unsupported reports a feature of the spec Sluice cannot carry out. Failing
// here, before any ReplicaSet is touched, is the fix for the seeds' 39-day
// silent canary: an unusable traffic router must stop the Rollout loudly.
func unsupported(ro *v1alpha1.Rollout) *Failure {
	if ro.Spec.Strategy.BlueGreen != nil {
		return unimplemented(ro)
	}
	c := ro.Spec.Strategy.Canary
	if tr := c.TrafficRouting; tr != nil {
		if names := routers.Unavailable(tr); len(names) > 0 {
			return fail(ReasonTrafficRouterMissing, "traffic router %s (spec.strategy.canary.trafficRouting) is not available in Sluice; "+
				"no ReplicaSet was touched. Use one Sluice carries (%s), or remove "+
				"spec.strategy.canary.trafficRouting to run a replica-count canary, where the Service splits traffic by pod count",
				strings.Join(names, ", "), strings.Join(routers.Carried(), ", "))
		}
		if c.DynamicStableScale {
			return fail(ReasonStepNotSupported, "spec.strategy.canary.dynamicStableScale is not supported by this version of Sluice yet; "+
				"no ReplicaSet was touched. Remove it")
		}
	}
	for i, s := range c.Steps {
		kind := ""
		switch {
		case s.Experiment != nil:
			kind = "experiment"
		case s.Plugin != nil:
			kind = "plugin"
		}
		if kind != "" {
			f := fail(ReasonStepNotSupported, "spec.strategy.canary.steps[%d].%s is not supported by this version of Sluice yet; "+
				"no step is taken and no ReplicaSet is created. Replace it with a pause step and promote by hand.", i, kind)
			f.Holdable = true
			return f
		}
	}
	return unimplemented(ro)
}

// unimplemented holds a Rollout that sets a field Sluice accepts but does not
// carry out (the list is validation.UnimplementedRolloutFields).
func unimplemented(ro *v1alpha1.Rollout) *Failure {
	errs := validation.UnimplementedRolloutFields(ro)
	if len(errs) == 0 {
		return nil
	}
	f := fail(ReasonFieldNotSupported, "%s; no step is taken and no new ReplicaSet is created", errs.ToAggregate())
	f.Holdable = true
	return f
}

// Unsupported says, in the words the controller would put in the Rollout's
// status, why Sluice cannot run the Rollout as written ("" when it can);
// held reports that it would still scale and abort (see canary.Input.Hold).
func Unsupported(ro *v1alpha1.Rollout) (message string, held bool) {
	if f := unsupported(ro); f != nil {
		return f.Reason + ": " + f.Message, f.Holdable
	}
	return "", false
}

// observe reads the pod template (from spec.template or the workloadRef
// Deployment) and the ReplicaSets the Rollout owns.
func (r *Reconciler) observe(ctx context.Context, ro *v1alpha1.Rollout, n *notes) (*observed, error) {
	o := &observed{selector: ro.Spec.Selector}
	if ref := ro.Spec.WorkloadRef; ref != nil {
		var d appsv1.Deployment
		err := r.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ref.Name}, &d)
		if apierrors.IsNotFound(err) {
			return nil, fail(ReasonWorkloadRefNotFound, "Deployment %q named by spec.workloadRef was not found in namespace %q; "+
				"create it or fix spec.workloadRef.name. Nothing was changed", ref.Name, ro.Namespace)
		}
		if err != nil {
			return nil, apiFailure(fmt.Sprintf("get Deployment %q (spec.workloadRef)", ref.Name), err)
		}
		o.deployment = &d
		o.template = *d.Spec.Template.DeepCopy()
		if o.selector == nil {
			o.selector = d.Spec.Selector
		}
	} else {
		o.template = *ro.Spec.Template.DeepCopy()
	}
	delete(o.template.Labels, PodTemplateHashLabel)

	var list appsv1.ReplicaSetList
	if err := r.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingFields{ownerIndex: string(ro.UID)}); err != nil {
		return nil, apiFailure("list ReplicaSets", err)
	}
	for i := range list.Items {
		o.owned = append(o.owned, &list.Items[i])
	}
	if err := r.claimOrphans(ctx, ro, o, n); err != nil {
		return nil, err
	}
	sort.Slice(o.owned, func(i, j int) bool { return revision(o.owned[i]) > revision(o.owned[j]) })
	o.hash, o.collisionCount = o.resolveHash(ro)
	if err := r.adoptByTemplate(ctx, ro, o, n); err != nil {
		return nil, err
	}
	return o, nil
}

// TemplateHash names a pod template: equal templates, equal hashes. It is
// upstream's pod-template hash (FNV-32a of the template's JSON, safe-encoded),
// so a ReplicaSet made by either controller for a template has one name.
func TemplateHash(t *corev1.PodTemplateSpec) string { return hashTemplate(t, nil) }

func hashTemplate(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	_, _ = h.Write(b)
	if collisionCount != nil {
		salt := make([]byte, 8)
		binary.LittleEndian.PutUint32(salt, uint32(*collisionCount))
		_, _ = h.Write(salt)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

func revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	return n
}

func (o *observed) byHash(hash string) *appsv1.ReplicaSet {
	for _, rs := range o.owned {
		if rs.Labels[PodTemplateHashLabel] == hash {
			return rs
		}
	}
	return nil
}

func (o *observed) maxRevision() int64 {
	var m int64
	for _, rs := range o.owned {
		m = max(m, revision(rs))
	}
	return m
}

// selectorString is the Rollout's pod selector as the scale subresource wants it.
func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(s.String())
}
