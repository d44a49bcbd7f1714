#!/usr/bin/env bash
# Stops the sandbox cluster NAME and removes its data. Only the processes kwokctl
# started for that cluster are ended.
set -euo pipefail
name=${1:-sluice}
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
export KWOK_WORKDIR=${KWOK_WORKDIR:-$cache/kwok}
"$cache/bin/kwokctl" delete cluster --name "$name" >&2 || true
rm -f "$root/.sandbox/$name.kubeconfig"
