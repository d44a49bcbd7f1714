package rollout

// The Istio router reads its VirtualServices and DestinationRule straight
// from the API server and updates them in place (weights, managed routes,
// subset hash labels); it never lists, watches, creates or deletes them.
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;update
