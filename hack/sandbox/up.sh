#!/usr/bin/env bash
# Starts a real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) with kwok-simulated nodes, from the
# binaries hack/sandbox/build.sh built. Usage: up.sh [NAME] [NODES]
# Writes the kubeconfig to .sandbox/NAME.kubeconfig (or $KUBECONFIG_OUT).
set -euo pipefail
name=${1:-sluice}
nodes=${2:-${SANDBOX_NODES:-3}}
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
bin=$cache/bin
kubeconfig=${KUBECONFIG_OUT:-$root/.sandbox/$name.kubeconfig}
mkdir -p "$(dirname "$kubeconfig")"
export KWOK_WORKDIR=${KWOK_WORKDIR:-$cache/kwok}

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwokctl; do
  [[ -x $bin/$b ]] || { echo "sandbox: $bin/$b missing; run 'make sandbox-bins' first" >&2; exit 1; }
done

if "$bin/kwokctl" get clusters 2>/dev/null | grep -qx "$name"; then
  if kubectl --kubeconfig "$kubeconfig" --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
    echo "sandbox: cluster $name already up (kubeconfig $kubeconfig); 'make sandbox-down' to remove it" >&2
    exit 0
  fi
  # Left from a machine restart or a killed session: its processes are gone.
  echo "sandbox: cluster $name exists but does not answer; recreating it" >&2
  "$bin/kwokctl" delete cluster --name "$name" >&2 || true
fi

extra=()
if [[ -n ${SANDBOX_AUDIT_POLICY:-} ]]; then
  # The API server writes an audit log (bench/api-writes.sh counts writes in it).
  extra+=(--kube-audit-policy "$SANDBOX_AUDIT_POLICY")
fi

if [[ -n ${SANDBOX_DISABLE_QPS_LIMITS:-} ]]; then
  # No client-side QPS limits in the control plane's own components (the
  # ReplicaSet controller, the scheduler, kwok): bench/compare.sh measures
  # the Rollout controllers, not kube-controller-manager's 20 QPS.
  extra+=(--disable-qps-limits)
fi

start=$SECONDS
"$bin/kwokctl" create cluster --name "$name" --runtime binary ${extra[@]+"${extra[@]}"} \
  --etcd-binary "$bin/etcd" \
  --kube-apiserver-binary "$bin/kube-apiserver" \
  --kube-controller-manager-binary "$bin/kube-controller-manager" \
  --kube-scheduler-binary "$bin/kube-scheduler" \
  --kwok-controller-binary "$bin/kwok" \
  --kubeconfig "$kubeconfig" \
  --wait 2m >&2
"$bin/kwokctl" scale node --name "$name" --replicas "$nodes" \
  --param '.allocatable.pods=1000' --param '.podCIDR="10.0.0.0/22"' >&2
echo "sandbox: cluster $name up in $((SECONDS - start))s with $nodes nodes; export KUBECONFIG=$kubeconfig" >&2
