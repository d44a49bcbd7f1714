#!/usr/bin/env bash
# Builds the sandbox's binaries into the cache (default ~/.cache/sluice/bin),
# reusing every one already there at the pinned version. No Docker, no
# downloads beyond the Go module proxy. First run: ~15-20 minutes on 2 cores (helm ~3 of them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
bin=$cache/bin
mkdir -p "$bin"

# have NAME VERSION: true when bin/NAME exists and was built at VERSION.
have() { [[ -x $bin/$1 && "$(cat "$bin/$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { echo "$2" >"$bin/$1.version"; }
say() { printf '[sandbox-bins] %s\n' "$*" >&2; }

for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  have "$cmd" "$KUBE_VERSION" && continue
  say "building $cmd $KUBE_VERSION (k8s.io/* pinned to $KUBE_STAGING_VERSION) ..."
  start=$SECONDS
  (cd "$here/k8s" && go build -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$bin/$cmd.tmp" "$bin/$cmd"; stamp "$cmd" "$KUBE_VERSION"
  say "built $cmd in $((SECONDS - start))s"
done

if ! have etcd "$ETCD_VERSION"; then
  say "building etcd $ETCD_VERSION ..."
  (cd "$here/etcd" && go build -o "$bin/etcd.tmp" .)
  mv "$bin/etcd.tmp" "$bin/etcd"; stamp etcd "$ETCD_VERSION"
fi

for cmd in kwok kwokctl; do
  have "$cmd" "$KWOK_VERSION" && continue
  say "installing $cmd $KWOK_VERSION ..."
  GOBIN="$bin" go install "sigs.k8s.io/kwok/cmd/$cmd@$KWOK_VERSION"
  stamp "$cmd" "$KWOK_VERSION"
done
# helm renders the chart in charts/ for its install test.
if ! have helm "$HELM_VERSION"; then
  say "installing helm $HELM_VERSION ..."
  GOBIN="$bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stamp helm "$HELM_VERSION"
fi
# Upstream Argo Rollouts' controller, a test tool for the controller-switch e2e.
"$here/../upstream/build.sh"
say "all binaries ready in $bin"
