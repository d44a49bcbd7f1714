#!/usr/bin/env bash
# Exporter speed: the sluice-exporter sidecar binary (and `sluice exporter`) vs the seeds' Python "Path B" sketch
# (bench/litellm_sketch.py, with Debian's python3-prometheus-client) on the
# same generated LiteLLM-style log, in lines/s per core, and the ratio.
#
#   bench/exporter-vs-sketch.sh                 # 1M lines, 3 rounds
#   LINES=3000000 ROUNDS=5 bench/exporter-vs-sketch.sh
#   MEMORY_GB=10 bench/exporter-vs-sketch.sh    # also stream 10 GB through the exporter, report max RSS
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${LINES:-1000000}
ROUNDS=${ROUNDS:-3}
MEMORY_GB=${MEMORY_GB:-0}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/sluice-bench}
mkdir -p "$WORK"

# Debian's python3 with Debian's prometheus_client (not a pyenv/venv one).
PY=/usr/bin/python3
if ! "$PY" -c 'import prometheus_client' 2>/dev/null; then
  echo "bench: installing python3-prometheus-client from Debian"
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3 python3-prometheus-client >/dev/null
fi

echo "bench: building sluice and sluice-exporter"
go build -o "$WORK/sluice" ./cmd/sluice
go build -o "$WORK/sluice-exporter" ./cmd/sluice-exporter

LOG="$WORK/litellm-$LINES.log"
if [[ ! -s $LOG ]]; then
  echo "bench: generating $LINES LiteLLM-style lines"
  "$PY" bench/gen_litellm_log.py "$LINES" 1 >"$LOG.tmp" && mv "$LOG.tmp" "$LOG"
fi
echo "bench: $(wc -c <"$LOG") bytes, $LINES lines; machine: $(nproc) cores, $(uname -m); $("$PY" --version), prometheus_client $("$PY" -c 'import prometheus_client,importlib.metadata as m; print(m.version("prometheus_client"))' 2>/dev/null || echo '?')"
"$PY" bench/compare_exporter.py "$WORK/sluice" "$WORK/sluice-exporter" "$PY" "$LOG" "$LINES" "$ROUNDS"

if [[ $MEMORY_GB != 0 ]]; then
  echo
  echo "bench: streaming ${MEMORY_GB} GB through the exporter (flat memory check)"
  "$PY" - "$LOG" "$MEMORY_GB" "$WORK/sluice-exporter" <<'PYEOF'
import os, subprocess, sys, time
log, gb, sluice = sys.argv[1], float(sys.argv[2]), sys.argv[3]
want = int(gb * 1e9)
t0 = time.monotonic()
# Start the exporter before loading the chunk: a child forked from a big
# parent would report the parent's pages in its max RSS.
p = subprocess.Popen([sluice, "--exit-on-eof", "--listen", "", "--log-malformed-every", "0", "--log-skipped-every", "0"],
                     stdin=subprocess.PIPE, stderr=subprocess.PIPE)
chunk = open(log, "rb").read()
sent = 0
while sent < want:
    p.stdin.write(chunk)
    sent += len(chunk)
p.stdin.close()
err = p.stderr.read().decode()
_, status, ru = os.wait4(p.pid, 0)
if status != 0:
    sys.exit("exporter failed: " + err)
wall = time.monotonic() - t0
print(err.strip().splitlines()[-1])
print("streamed %.1f GB in %.1fs wall, %.1fs cpu; max RSS %.1f MB" % (sent / 1e9, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024))
PYEOF
fi
