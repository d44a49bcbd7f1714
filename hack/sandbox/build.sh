#!/usr/bin/env bash
# Builds the sandbox's binaries into the cache (default ~/.cache/sluice/bin),
# reusing every one already there at the pinned version (then it prints
# nothing). No Docker, no downloads beyond the Go module proxy. First run:
# ~15-20 minutes on 2 cores, one line per component with its elapsed time
# and an estimate; the go tool's output (hundreds of "go: downloading")
# goes to $cache/build.log, shown only when a build fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
bin=$cache/bin
log=$cache/build.log
mkdir -p "$bin"

# have NAME VERSION: true when bin/NAME exists and was built at VERSION.
have() { [[ -x $bin/$1 && "$(cat "$bin/$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { echo "$2" >"$bin/$1.version"; }
say() { printf '[sandbox-bins] %s\n' "$*" >&2; }
mmss() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Minutes each build usually takes the first time on 2 cores (module
# downloads included); later builds reuse Go's caches and are faster.
declare -A estimate=([kube-apiserver]=5 [kube-controller-manager]=4 [kube-scheduler]=2
  [etcd]=1 [kwok]=2 [kwokctl]=1 [helm]=3)
todo=()
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do have "$cmd" "$KUBE_VERSION" || todo+=("$cmd"); done
have etcd "$ETCD_VERSION" || todo+=(etcd)
for cmd in kwok kwokctl; do have "$cmd" "$KWOK_VERSION" || todo+=("$cmd"); done
have helm "$HELM_VERSION" || todo+=(helm)
# Upstream Argo Rollouts' controller, a test tool for the controller-switch
# e2e (silent when already built).
"$here/../upstream/build.sh"
((${#todo[@]} == 0)) && exit 0 # everything cached: nothing to say

total=0
for c in "${todo[@]}"; do total=$((total + estimate[$c])); done
say "building ${#todo[@]} component(s) into $bin, about $total min on 2 cores (once per machine); log: $log"
: >"$log"
start_all=$SECONDS
tty=false
[[ -t 2 ]] && tty=true

# build NAME VERSION DIR CMD...: runs CMD in DIR with its output in the log,
# one status line on the terminal (updated in place on a tty).
build() {
  local name=$1 version=$2 dir=$3 n=$((++done_count)) start=$SECONDS pid rc
  shift 3
  local what="[$n/${#todo[@]}] $name $version (usually ~${estimate[$name]} min)"
  printf '\n==> %s: %s\n' "$name" "$*" >>"$log"
  (cd "$dir" && "$@") >>"$log" 2>&1 &
  pid=$!
  while $tty && kill -0 "$pid" 2>/dev/null; do
    printf '\r[sandbox-bins] %s: %s ' "$what" "$(mmss $((SECONDS - start)))" >&2
    sleep 1
  done
  rc=0
  wait "$pid" || rc=$?
  $tty && printf '\r\033[K' >&2
  if ((rc != 0)); then
    say "$what: FAILED after $(mmss $((SECONDS - start))); last lines of $log:"
    tail -n 20 "$log" >&2
    exit "$rc"
  fi
  say "$what: built in $(mmss $((SECONDS - start))) (total $(mmss $((SECONDS - start_all))))"
}
done_count=0

for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  [[ " ${todo[*]} " == *" $cmd "* ]] || continue
  build "$cmd" "$KUBE_VERSION" "$here/k8s" go build -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$bin/$cmd.tmp" "$bin/$cmd"; stamp "$cmd" "$KUBE_VERSION"
done
if [[ " ${todo[*]} " == *" etcd "* ]]; then
  build etcd "$ETCD_VERSION" "$here/etcd" go build -o "$bin/etcd.tmp" .
  mv "$bin/etcd.tmp" "$bin/etcd"; stamp etcd "$ETCD_VERSION"
fi
for cmd in kwok kwokctl; do
  [[ " ${todo[*]} " == *" $cmd "* ]] || continue
  build "$cmd" "$KWOK_VERSION" "$here" env GOBIN="$bin" go install "sigs.k8s.io/kwok/cmd/$cmd@$KWOK_VERSION"
  stamp "$cmd" "$KWOK_VERSION"
done
# helm renders the chart in charts/ for its install test, and packages it for make release.
if [[ " ${todo[*]} " == *" helm "* ]]; then
  build helm "$HELM_VERSION" "$here" env GOBIN="$bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  stamp helm "$HELM_VERSION"
fi
say "all binaries ready in $bin ($(mmss $((SECONDS - start_all))))"
