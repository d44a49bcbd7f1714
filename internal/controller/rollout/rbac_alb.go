package rollout

// The ALB router reads Ingresses and updates their action and condition
// annotations and header-route paths (list/watch: see ingress.go).
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;update
