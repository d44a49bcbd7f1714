// Package instance carries out controller instance ids with upstream Argo
// Rollouts' semantics, so Sluice and upstream (or two Sluice installs) can
// run side by side in one cluster: a controller started with --instance-id X
// handles only the Rollouts and AnalysisRuns labelled
// argo-rollouts.argoproj.io/controller-instance-id=X; a controller without
// an id handles only objects without that label.
package instance

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Label is upstream's controller instance label.
const Label = "argo-rollouts.argoproj.io/controller-instance-id"

// Mine reports whether the controller with instance id handles obj.
func Mine(obj client.Object, id string) bool {
	return obj.GetLabels()[Label] == id
}

// Filter passes only events of objects the controller with id handles.
func Filter(id string) predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool { return Mine(o, id) })
}
