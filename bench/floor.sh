#!/usr/bin/env bash
# The platform's own floor under bench/compare.sh's phases: the same
# sandbox (kwok nodes of 1000 pods, no client QPS limits) with no Rollout
# controller at all. kubectl applies plain ReplicaSets doing what the bump
# phase asks of the platform, and the script waits as compare.sh does:
#
#   create  ROLLOUTS ReplicaSets of 2 pods                   -> all 2 ready
#   bump    ROLLOUTS new ReplicaSets of 1 pod                -> all ready,
#           then the old ones scaled 2 -> 1                   -> all at 1
#
# The bump is what a canary's setWeight 50 needs with maxSurge 1: the new
# pod ready before an old one goes. The wall time of each is what no
# controller can go below on this machine: a kubectl apply of ROLLOUTS
# objects, the ReplicaSet controller, scheduler and kwok.
#
#   bench/floor.sh [--rollouts 200]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${ROLLOUTS:-200}
while (( $# )); do
  case $1 in
    --rollouts) N=$2; shift 2 ;;
    *) echo "floor: unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib/audit-sandbox.sh
export SANDBOX_DISABLE_QPS_LIMITS=1
audit_sandbox sluice-floor $(( N * 4 / 800 + 1 ))
trap audit_sandbox_down EXIT
kubectl create namespace scale >/dev/null

rs_yaml() { # VERSION REPLICAS
  for i in $(seq 1 "$N"); do
    cat <<YAML
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: app-$i-$1, labels: {app: app-$i, v: "$1"}}
spec:
  replicas: $2
  selector: {matchLabels: {app: app-$i, v: "$1"}}
  template:
    metadata: {labels: {app: app-$i, v: "$1"}}
    spec: {containers: [{name: app, image: app:$1}]}
YAML
  done
}
count() { # SELECTOR JSONPATH VALUE
  kubectl -n scale get rs -l "$1" -o jsonpath="{range .items[*]}$2{\"\\n\"}{end}" | grep -cx "$3" || true
}
wait_rs() { # T0 SELECTOR JSONPATH VALUE: seconds from T0 until all N have it
  local t=$SECONDS
  until (( $(count "$2" "$3" "$4") == N )); do
    (( SECONDS - t < 600 )) || { echo "floor: $(count "$2" "$3" "$4") of $N at $3 = $4 after 600 s" >&2; exit 1; }
    sleep 0.5
  done
  python3 -c "import time; print('%.1f' % (time.time() - $1))"
}
now() { date +%s.%N; }

echo "floor: $N ReplicaSets, no controller; load average $(cut -d' ' -f1-3 /proc/loadavg)"
rs_yaml 1 2 >"$WORK/v1.yaml"
rs_yaml 2 1 >"$WORK/v2.yaml"
rs_yaml 1 1 >"$WORK/v1-half.yaml"
t0=$(now)
kubectl -n scale apply -f "$WORK/v1.yaml" >/dev/null
echo "create: apply $(python3 -c "print('%.1f' % ($(now) - $t0))")s, all 2 ready $(wait_rs "$t0" v=1 '{.status.readyReplicas}' 2)s"
t0=$(now)
kubectl -n scale apply -f "$WORK/v2.yaml" >/dev/null
a1=$(python3 -c "print('%.1f' % ($(now) - $t0))")
t1=$(wait_rs "$t0" v=2 '{.status.readyReplicas}' 1)
t2=$(now)
kubectl -n scale apply -f "$WORK/v1-half.yaml" >/dev/null
a2=$(python3 -c "print('%.1f' % ($(now) - $t2))")
echo "bump: apply of the new ${a1}s, all new pods ready ${t1}s; apply of the scale-down ${a2}s, all old at 1 $(wait_rs "$t0" v=1 '{.status.replicas}' 1)s (load average $(cut -d' ' -f1 /proc/loadavg))"
