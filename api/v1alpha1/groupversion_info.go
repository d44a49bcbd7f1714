// Package v1alpha1 holds Sluice's API: the Argo Rollouts kinds (Rollout,
// AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun) in group
// argoproj.io, version v1alpha1, JSON-compatible with upstream manifests so
// existing GitOps repositories, health checks and tooling keep working.
//
// +kubebuilder:object:generate=true
// +groupName=argoproj.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "argoproj.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
