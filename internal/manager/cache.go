package manager

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type cacheConfig = cache.Config

// What the controller caches, and how little of it (issue 19: memory must
// not grow with objects the controller does not own).
//
//   - Every object: no managedFields (server-side apply bookkeeping, often
//     the largest part of an object; the controller never reads it).
//   - Objects people apply (Deployments, Services, ReplicaSets, Pods, Jobs):
//     no kubectl.kubernetes.io/last-applied-configuration annotation, a
//     second copy of the object the controller never reads. Rollouts keep
//     theirs: analysis args may read any of a Rollout's annotations.
//   - ReplicaSets and Pods: only those labelled rollouts-pod-template-hash,
//     the label every ReplicaSet of a Rollout and every pod of one carries,
//     whoever made it (Sluice, upstream Argo Rollouts, an orphan left by a
//     deleted Rollout). A Deployment's ReplicaSets and pods (label
//     pod-template-hash) and bare pods are never cached.
//   - Pods (read only for spec.restartAt): metadata and status.conditions;
//     their spec and the rest of their status are dropped.
//   - Jobs: only those of AnalysisRuns (label "analysisrun", set by the Job
//     metric provider).
//
// Deployments (any may be a workloadRef), Services (stable/canary/active/
// preview, named by the Rollout) and Sluice's own kinds stay cluster-wide.
func cacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: stripManagedFields,
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.ReplicaSet{}: {Label: hasLabel(podTemplateHashLabel), Transform: stripApplied},
			&corev1.Pod{}:        {Label: hasLabel(podTemplateHashLabel), Transform: slimPod},
			&batchv1.Job{}:       {Label: hasLabel(analysisRunLabel), Transform: stripApplied},
			&appsv1.Deployment{}: {Transform: stripApplied},
			&corev1.Service{}:    {Transform: stripApplied},
		},
	}
}

const (
	podTemplateHashLabel = "rollouts-pod-template-hash" // rollout.PodTemplateHashLabel
	analysisRunLabel     = "analysisrun"                // on the Jobs of internal/analysis/provider
	lastApplied          = "kubectl.kubernetes.io/last-applied-configuration"
)

func hasLabel(key string) labels.Selector {
	r, err := labels.NewRequirement(key, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*r)
}

// stripManagedFields is cache.TransformStripManagedFields.
func stripManagedFields(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil && obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	return in, nil
}

// stripApplied also drops kubectl's last-applied-configuration annotation.
func stripApplied(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil {
		if obj.GetManagedFields() != nil {
			obj.SetManagedFields(nil)
		}
		if a := obj.GetAnnotations(); a[lastApplied] != "" {
			delete(a, lastApplied)
			obj.SetAnnotations(a)
		}
	}
	return in, nil
}

// slimPod keeps what spec.restartAt reads of a pod: its metadata (owner,
// UID, creation and deletion times) and its Ready condition.
func slimPod(in any) (any, error) {
	p, ok := in.(*corev1.Pod)
	if !ok {
		return stripApplied(in) // a tombstone (cache.DeletedFinalStateUnknown)
	}
	if _, err := stripApplied(p); err != nil {
		return nil, err
	}
	p.Spec = corev1.PodSpec{}
	p.Status = corev1.PodStatus{Phase: p.Status.Phase, Conditions: p.Status.Conditions}
	return p, nil
}

var _ toolscache.TransformFunc = slimPod
