#!/usr/bin/env bash
# Probe rate accuracy: `sluice probe`'s engine against a local HTTP server
# at 1, 100 and 2000 req/s (4 routes rotated). Prints achieved vs requested
# rate, send lag, and latency measured from the scheduled send time (no
# coordinated omission).
#
#   bench/probe-accuracy.sh              # 10 s per rate
#   PROBE_BENCH_SECONDS=30 bench/probe-accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PROBE_BENCH_SECONDS=${PROBE_BENCH_SECONDS:-10}
out=$(go test -run '^$' -bench 'RateAccuracy' -benchtime 1x -count 1 ./internal/probe)
echo "$out" | grep -E '^(goos|goarch|cpu)' || true
echo "duration per rate: ${PROBE_BENCH_SECONDS}s; latency = scheduled send time -> response read"
echo
printf '%10s %10s %10s %9s %14s %10s %10s %10s\n' requested achieved error requests 'send lag p99' 'lat p50' 'lat p99' 'lat max'
echo "$out" | awk '/^BenchmarkRateAccuracy\/rate=/ {
  for (i = 1; i <= NF; i++) m[$(i+1)] = $i
  printf "%8.0f/s %8.2f/s %9.3f%% %9d %11.3f ms %7.3f ms %7.3f ms %7.3f ms\n",
    m["req/s_requested"], m["req/s_achieved"], m["rate_err_%"], m["requests"], m["sendlag_p99_ms"], m["lat_p50_ms"], m["lat_p99_ms"], m["lat_max_ms"]
}'
