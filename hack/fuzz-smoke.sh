#!/usr/bin/env bash
# Runs every Go fuzz target in the repository briefly (FUZZTIME, default 2000
# generated inputs each), so `make test` exercises parsers and expression
# evaluation with generated input on every run. Longer campaigns:
# FUZZTIME=1000000x hack/fuzz-smoke.sh
#
# The budget is a count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" and
# no crasher when its workers are slow to stop (golang/go#75804, fixed in Go
# 1.27); a loaded CI machine hit it.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-2000x}
count=0
while IFS=: read -r file target; do
  pkg=$(dirname "$file")
  echo "fuzz: $pkg $target ($fuzztime)"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg" >/tmp/fuzz-$$.log 2>&1 || {
    cat /tmp/fuzz-$$.log; rm -f /tmp/fuzz-$$.log; exit 1; }
  count=$((count + 1))
done < <(grep -rhoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' . --with-filename | sed -E 's/:func /:/' | sort -u)
rm -f /tmp/fuzz-$$.log
echo "fuzz: $count targets, no failures"
