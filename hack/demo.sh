#!/usr/bin/env bash
# `make demo`: runs Sluice's main job on the local sandbox. It installs the
# CRDs, starts the controller, applies the seeds' canary (examples/), walks it
# through an image bump — 1+4 paused, promote, 3+3 paused, promote, 5+0
# healthy — runs a canary split by a Gateway API HTTPRoute, shows a loud
# failure (an unusable traffic-router plugin), rehearses the canary with one
# abort and retry, and runs doctor.
set -euo pipefail
name=${1:-sluice}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KUBECONFIG=$root/.sandbox/$name.kubeconfig
ns=demo
sluice=$root/bin/sluice
log=$root/.sandbox/controller.log

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
wait_for() { # wait_for DESCRIPTION JSONPATH VALUE
  local what=$1 path=$2 want=$3 got=""
  for _ in $(seq 1 300); do
    got=$(kubectl -n $ns get rollout "${rollout:-litellm}" -o jsonpath="$path" 2>/dev/null || true)
    [[ $got == "$want" ]] && return 0
    sleep 0.2
  done
  echo "demo: timed out waiting for $what (have '$got', want '$want'); controller log: $log" >&2
  exit 1
}
show() { echo "\$ kubectl sluice get rollout $1 -n $ns"; "$sluice" get rollout "$1" -n $ns --no-color; }
run() { echo "\$ kubectl sluice $*"; "$sluice" "$@"; }

step "Installing the CRDs (plain kubectl apply)"
kubectl apply -f config/crd/argoproj.io_rollouts.yaml -f config/crd/argoproj.io_analysistemplates.yaml \
  -f config/crd/argoproj.io_clusteranalysistemplates.yaml -f config/crd/argoproj.io_analysisruns.yaml
kubectl wait --for condition=established --timeout=60s crd/rollouts.argoproj.io crd/analysistemplates.argoproj.io \
  crd/clusteranalysistemplates.argoproj.io crd/analysisruns.argoproj.io

step "Starting the Sluice controller (log: $log)"
"$sluice" controller --metrics-bind-address=0 --health-probe-bind-address=0 >"$log" 2>&1 &
ctrl=$!
trap 'kill $ctrl 2>/dev/null || true' EXIT

step "Applying examples/litellm-canary.yaml in namespace $ns: Deployment + Service + Rollout (workloadRef, 5 replicas)"
kubectl delete namespace $ns --ignore-not-found --wait=true >/dev/null  # start from scratch on every run
kubectl create namespace $ns
kubectl -n $ns apply -f examples/litellm-canary.yaml
wait_for "first revision Healthy" '{.status.phase}' Healthy
show litellm
echo "(the Helm-style Deployment was scaled to 0 by scaleDown: onsuccess:)"
kubectl -n $ns get deploy litellm

step "Bumping the Deployment's image: a new revision starts the canary"
run set image litellm -n $ns litellm=ghcr.io/berriai/litellm-database:main-v1.83.14-stable
wait_for "pause at step 1" '{.status.phase}/{.status.currentStepIndex}' Paused/1
show litellm

step "Promote: on to setWeight 50 (6 pods for the whole pause: 3 canary + 3 stable)"
run promote litellm -n $ns
wait_for "pause at step 3" '{.status.phase}/{.status.currentStepIndex}' Paused/3
show litellm

step "Promote again: the canary becomes stable"
run promote litellm -n $ns
run status litellm -n $ns --timeout 1m
show litellm

step "Traffic split by a Gateway API HTTPRoute (examples/gateway-canary.yaml)"
crd=$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml
kubectl apply --server-side -f "$crd" >/dev/null   # from the Go module Sluice builds with: no download
kubectl wait --for condition=established --timeout=60s crd/httproutes.gateway.networking.k8s.io >/dev/null
kubectl -n $ns apply -f examples/gateway-canary.yaml
route() { echo "\$ kubectl get httproute shop -n $ns -o jsonpath='{range .spec.rules[0].backendRefs[*]}{.name}={.weight} {end}'"
  kubectl get httproute shop -n $ns -o jsonpath='{range .spec.rules[0].backendRefs[*]}{.name}={.weight} {end}'; echo; }
rollout=shop wait_for "shop Healthy" '{.status.phase}' Healthy
run set image shop -n $ns shop=ghcr.io/example/shop:1.1
rollout=shop wait_for "shop paused at 20%" '{.status.phase}/{.status.currentStepIndex}/{.status.canary.weights.canary.weight}' Paused/1/20
show shop
route
run promote shop -n $ns --full
run status shop -n $ns --timeout 1m
route

step "Seed bug #1: a Rollout naming a traffic-router plugin Sluice cannot use fails loudly"
cat <<'YAML' | kubectl -n $ns apply -f -
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: cilium-canary}
spec:
  replicas: 5
  selector: {matchLabels: {app: cilium-canary}}
  template:
    metadata: {labels: {app: cilium-canary}}
    spec: {containers: [{name: app, image: app:1}]}
  strategy:
    canary:
      stableService: app
      canaryService: app-canary
      trafficRouting: {plugins: {argoproj-labs/cilium: {}}}
      steps: [{setWeight: 20}, {pause: {}}]
YAML
for _ in $(seq 1 50); do
  [[ $(kubectl -n $ns get rollout cilium-canary -o jsonpath='{.status.phase}') == Degraded ]] && break
  sleep 0.1
done
show cilium-canary
kubectl -n $ns get events --field-selector involvedObject.name=cilium-canary,type=Warning
echo "ReplicaSets created for it: $(kubectl -n $ns get rs -l app=cilium-canary -o name | wc -l)"

step "Prove the workflow by running it: rehearse the seeds' canary (same image, every step, one abort + retry)"
run rehearse litellm -n $ns --yes --abort-once --timeout 2m

step "Look for latent bugs: doctor (it finds the cilium-canary above and its missing Services)"
run doctor -n $ns --no-metrics || echo "(doctor exit code $?: errors found)"

step "The other examples: a timed canary and the seeds' blue-green"
kubectl -n $ns apply -f examples/timed-canary.yaml -f examples/sympozium-bluegreen.yaml
for _ in $(seq 1 100); do
  [[ $(kubectl -n $ns get rollout web sympozium-apiserver -o jsonpath='{.items[*].status.phase}') == "Healthy Healthy" ]] && break
  sleep 0.2
done
run list rollouts -n $ns

step "Done. The sandbox is still up: export KUBECONFIG=$KUBECONFIG ; 'make sandbox-down' removes it."
