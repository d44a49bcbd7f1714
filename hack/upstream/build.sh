#!/usr/bin/env bash
# Builds upstream Argo Rollouts' controller, one binary per wrapper module in
# hack/upstream/<version>/, into the sandbox cache as argo-rollouts-<version>.
# It is a test tool: test/e2e/upstream_switch_test.go runs it against the
# sandbox and swaps it for Sluice and back. Built from the Go module proxy
# like the control plane (hack/sandbox/build.sh calls this at its end); a
# binary already built at its version is reused. ~10 minutes per version on
# 2 cores, once per machine; go's output goes to a log file.
#
# A version that cannot be built here does not stop `make test`: the reason
# goes to argo-rollouts-<version>.unbuildable beside the binaries, and the
# test for that version skips with it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
bin=$cache/bin
logs=$cache/log
mkdir -p "$bin" "$logs"
say() { printf '[sandbox-bins] %s\n' "$*" >&2; }

for dir in "$here"/v*/; do
  v=$(basename "$dir")
  name=argo-rollouts-$v
  [[ -x $bin/$name && "$(cat "$bin/$name.version" 2>/dev/null)" == "$v" ]] && continue
  log=$logs/$name.log
  say "building upstream's rollouts-controller $v (test tool; go output in $log) ..."
  start=$SECONDS
  if (cd "$dir" && go build -o "$bin/$name.tmp" github.com/argoproj/argo-rollouts/cmd/rollouts-controller) >"$log" 2>&1; then
    mv "$bin/$name.tmp" "$bin/$name"
    echo "$v" >"$bin/$name.version"
    rm -f "$bin/$name.unbuildable"
    say "built $name in $((SECONDS - start))s ($(du -m "$bin/$name" | cut -f1) MB)"
  else
    rm -f "$bin/$name.tmp"
    { echo "go build in hack/upstream/$v failed with $(go version) (log: $log):"; tail -n 5 "$log"; } >"$bin/$name.unbuildable"
    say "cannot build $name here; its switch test will skip: $(head -c 300 "$log" | tr '\n' ' ')"
  fi
done
exit 0
