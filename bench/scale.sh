#!/usr/bin/env bash
# Scale: many Rollouts updating at once. Starts a dedicated sandbox (kwok
# nodes that hold 1000 pods each, API server audit log on), creates ROLLOUTS
# canaries of REPLICAS pods (steps: setWeight 50, pause), then bumps every
# image at once, promotes every one at the pause, and reports how long each
# phase took for all of them, the controller's CPU time and peak memory,
# its reconciles (controller-runtime metrics), and its API writes (audit log).
#
#   bench/scale.sh                       # 100 Rollouts x 3 pods
#   ROLLOUTS=300 REPLICAS=2 bench/scale.sh
#   KEEP=1 bench/scale.sh                # keep the sandbox (sluice-scale)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${ROLLOUTS:-100}
R=${REPLICAS:-3}
nodes=$(( (N * R * 2) / 800 + 1 ))
source bench/lib/audit-sandbox.sh
audit_sandbox sluice-scale "$nodes"
work=$WORK audit=$AUDIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_controller --metrics-bind-address=127.0.0.1:$port
ctrl=$CTRL
kubectl create namespace scale >/dev/null

rollouts_yaml app:1 >"$work/rollouts.yaml"

count() { # JSONPATH VALUE: how many Rollouts have it
  kubectl -n scale get rollouts -o jsonpath="{range .items[*]}$1{\"\\n\"}{end}" | grep -cx "$2" || true
}
wait_all() { # LABEL JSONPATH VALUE
  local t0=$SECONDS n=0
  while (( SECONDS - t0 < 600 )); do
    n=$(count "$2" "$3")
    (( n == N )) && { printf '%-44s %6ds\n' "$1" $((SECONDS - t0)); return 0; }
    sleep 1
  done
  echo "scale: timed out: $n of $N at $3 ($1); controller log: $work/controller.log" >&2
  exit 1
}
cpu() { awk '{print ($14 + $15) / 100}' /proc/$ctrl/stat; }

echo "scale: $N Rollouts x $R pods on $nodes kwok node(s); machine: $(nproc) cores"
echo
start=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
kubectl -n scale apply -f "$work/rollouts.yaml" >/dev/null
wait_all "create -> all Healthy" '{.status.phase}' Healthy
for i in $(seq 1 "$N"); do echo "app-$i"; done | xargs -P 8 -I{} bin/sluice set image {} -n scale app=app:2 >/dev/null
wait_all "new image -> all Paused at step 1 (50%)" '{.status.phase}/{.status.currentStepIndex}' Paused/1
for i in $(seq 1 "$N"); do echo "app-$i"; done | xargs -P 8 -I{} bin/sluice promote {} -n scale >/dev/null
wait_all "promote -> all Healthy on the new image" '{.status.phase}/{.status.currentStepIndex}' Healthy/2
end=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
echo
echo "controller: $(cpu) CPU seconds, peak RSS $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$ctrl/status)"
curl -s "http://127.0.0.1:$port/metrics" | awk '/^controller_runtime_reconcile_total\{/ && /controller="rollout"/ {split($1,a,"result=\""); split(a[2],b,"\""); r[b[1]]+=$2} END {printf "reconciles (rollout): %d success, %d error, %d requeue\n", r["success"], r["error"], r["requeue"]+r["requeue_after"]}'
python3 - "$audit" "$start" "$end" "$N" <<'PY'
import collections, json, sys
audit, start, end, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = collections.Counter()
for line in open(audit):
    e = json.loads(line)
    if e.get("stage") != "ResponseComplete" or not e.get("userAgent", "").startswith("sluice-controller/"):
        continue
    if not (start <= e["requestReceivedTimestamp"] <= end) or e.get("responseStatus", {}).get("code", 200) >= 300:
        continue
    ref = e.get("objectRef", {})
    c[ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")] += 1
total = sum(c.values())
print("controller API writes: %d in all, %.1f per Rollout (%s)" % (total, total / n, ", ".join("%s %d" % kv for kv in c.most_common())))
PY
