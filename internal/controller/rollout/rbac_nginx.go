package rollout

// The NGINX router reads stable Ingresses and creates and updates the canary
// Ingresses it owns (list/watch: see ingress.go).
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;create;update
