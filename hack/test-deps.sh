#!/usr/bin/env bash
# Makes sure what `make test` needs beyond Go is on this machine, the way
# hack/sandbox/build.sh does for the control plane: Debian's `prometheus`
# (the analysis tests query a real one). Installs it with apt when it can
# (root, or passwordless sudo); otherwise says in one line what is missing
# and the command that installs it, and fails before any test runs.
# SLUICE_PROMETHEUS=/path/to/prometheus uses another binary instead.
set -euo pipefail
say() { printf '[test-deps] %s\n' "$*" >&2; }

need=()
if [[ -n ${SLUICE_PROMETHEUS:-} ]]; then
  [[ -x $SLUICE_PROMETHEUS ]] || { say "SLUICE_PROMETHEUS=$SLUICE_PROMETHEUS is not an executable"; exit 1; }
elif ! command -v prometheus >/dev/null && [[ ! -x /usr/bin/prometheus ]]; then
  need+=(prometheus)
fi
((${#need[@]})) || exit 0

cmd="apt-get install -y --no-install-recommends ${need[*]}"
sudo=()
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    say "missing: ${need[*]} (Debian). Install it with: sudo apt-get update && sudo $cmd"
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  say "missing: ${need[*]}, and this is not a Debian system: install Prometheus and set SLUICE_PROMETHEUS=/path/to/prometheus"
  exit 1
fi
say "installing ${need[*]} from Debian (once per machine) ..."
start=$SECONDS
log=$(mktemp)
if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" $cmd -qq; } >"$log" 2>&1; then
  say "could not install ${need[*]} (log: $log). Install it with: sudo apt-get update && sudo $cmd"
  exit 1
fi
rm -f "$log"
say "installed ${need[*]} in $((SECONDS - start))s"
