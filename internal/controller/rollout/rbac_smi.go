package rollout

// The SMI router reads its TrafficSplit with a direct GET in whichever of
// v1alpha3/v1alpha2/v1alpha1 is served, creates it when missing and updates
// its spec; no list or watch (the kind may not be installed).
// +kubebuilder:rbac:groups=split.smi-spec.io,resources=trafficsplits,verbs=get;create;update
