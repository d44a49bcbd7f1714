package rollout

// What the traffic routers (internal/router/...) may do. Each reads its
// objects with a direct GET (no list or watch: the kind may not be
// installed, and no cluster-wide cache for what a few Rollouts use) and
// updates them in place; the objects Sluice creates (the NGINX canary
// Ingress, the SMI TrafficSplit) are owned by the Rollout and go with it by
// garbage collection, so nothing is ever deleted. The Gateway API's marker
// is in routing.go.
//
// NGINX: stable Ingresses read, canary Ingresses created and updated. ALB:
// action/condition annotations and header-route paths on its Ingresses.
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;create;update
// Istio: weights and managed routes of VirtualServices, subset hash labels of DestinationRules.
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;update
// SMI: the TrafficSplit, in whichever of v1alpha3/v1alpha2/v1alpha1 is served.
// +kubebuilder:rbac:groups=split.smi-spec.io,resources=trafficsplits,verbs=get;create;update
// Traefik: the weights of a TraefikService (traefik.io, or traefik.containo.us before v3).
// +kubebuilder:rbac:groups=traefik.io;traefik.containo.us,resources=traefikservices,verbs=get;update
