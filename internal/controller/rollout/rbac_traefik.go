package rollout

// The Traefik router reads its TraefikService with a direct GET (from
// traefik.io, or traefik.containo.us before Traefik v3) and updates the
// weights of its spec.weighted.services; no list or watch (the kind may not
// be installed).
// +kubebuilder:rbac:groups=traefik.io;traefik.containo.us,resources=traefikservices,verbs=get;update
