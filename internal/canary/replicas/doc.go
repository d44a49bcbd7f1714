// Package replicas decides how many pods the canary and the stable ReplicaSet
// of a basic canary run at each moment. A basic canary is a canary with no
// traffic router: the Service sends traffic to every ready pod, so the only way
// to give the new version a share of the traffic is to give it that share of
// the pods. The numbers match Argo Rollouts, because operators compare them
// with runbooks written for Argo.
//
// Each step has two sets of numbers:
//
//   - the target ([Target], [Split]): the canary/stable split the step settles
//     at once every pod is available;
//   - the next counts ([Compute]): what to write into the two ReplicaSets'
//     spec.replicas right now, given which pods are available. Call Compute on
//     every reconcile; each result moves toward the target without going over
//     spec.replicas+maxSurge pods, and without taking away pods the rollout
//     needs to keep spec.replicas−maxUnavailable of them available.
//
// Example: 5 replicas with the default maxSurge and maxUnavailable of 25%
// (surge 2 pods, unavailable 1 pod):
//
//	setWeight 20  → 1 canary + 4 stable, 5 pods, actual weight 20
//	setWeight 50  → 3 canary + 3 stable, 6 pods, actual weight 50
//	                (2 of 5 is 40%, 3 of 5 is 60%; 3 of 6 is exactly 50%)
//	setWeight 100 → 5 canary, stable scaled to 0
//
// The package works on plain numbers. The caller reads the Rollout and its
// ReplicaSets, converts them, and writes back the result.
//
// setCanaryScale does nothing here. Argo only uses it when a traffic router is
// configured, and its validation rejects a Rollout that has setCanaryScale steps
// but no trafficRouting ("SetCanaryScale requires TrafficRouting to be set").
package replicas
