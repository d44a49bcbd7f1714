#!/usr/bin/env bash
# API writes per rollout step. Runs two canaries on a dedicated sandbox whose
# API server keeps an audit log, and counts every write the controller made
# (by its user agent, sluice-controller/...) in each phase, by what was
# written: the seeds' replica-count canary (5 replicas: 20% -> pause -> 50%
# -> pause), then the same steps with traffic split by a Gateway API
# HTTPRoute. The last phase of each is 20 s at rest, which must be 0.
#
#   bench/api-writes.sh              # sandbox "sluice-audit", removed at the end
#   KEEP=1 bench/api-writes.sh       # keep it (export KUBECONFIG=.sandbox/sluice-audit.kubeconfig)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/audit-sandbox.sh
audit_sandbox sluice-audit "${SANDBOX_NODES:-3}"
work=$WORK audit=$AUDIT
kubectl apply --server-side -f "$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml" >/dev/null
kubectl wait --for condition=established --timeout=60s crd/httproutes.gateway.networking.k8s.io >/dev/null
start_controller --metrics-bind-address=0
kubectl create namespace bench >/dev/null

marks=$work/marks
mark() { echo "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ) $*" >>"$marks"; }
wait_for() { # ROLLOUT JSONPATH VALUE
  for _ in $(seq 1 600); do
    [[ $(kubectl -n bench get rollout "$1" -o jsonpath="$2" 2>/dev/null) == "$3" ]] && { sleep 2; return 0; }
    sleep 0.1
  done
  echo "api-writes: timed out waiting for $1 $2 = $3; controller log: $work/controller.log" >&2
  exit 1
}
run_canary() { # ROLLOUT LABEL
  local ro=$1 label=$2
  mark "$label: create -> Healthy (5 pods)"
  kubectl -n bench apply -f "$work/$ro.yaml" >/dev/null
  wait_for "$ro" '{.status.phase}' Healthy
  mark "$label: new image -> step 1 (20%), paused"
  bin/sluice set image "$ro" -n bench app=app:2 >/dev/null
  wait_for "$ro" '{.status.phase}/{.status.currentStepIndex}' Paused/1
  mark "$label: promote -> step 3 (50%), paused"
  bin/sluice promote "$ro" -n bench >/dev/null
  wait_for "$ro" '{.status.phase}/{.status.currentStepIndex}' Paused/3
  mark "$label: promote -> Healthy (new version stable)"
  bin/sluice promote "$ro" -n bench >/dev/null
  wait_for "$ro" '{.status.phase}/{.status.currentStepIndex}' Healthy/4
  mark "$label: 20 s at rest"
  sleep 20
}

rollout() { # NAME EXTRA-CANARY-YAML
  cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: $1}
spec:
  replicas: 5
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: app, image: app:1}]}
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {}}, {setWeight: 50}, {pause: {}}]
$2
YAML
}
rollout seed "" >"$work/seed.yaml"
rollout routed "      stableService: routed-stable
      canaryService: routed-canary
      scaleDownDelaySeconds: 0
      trafficRouting: {plugins: {argoproj-labs/gatewayAPI: {httpRoute: routed}}}" >"$work/routed.yaml"
cat >>"$work/routed.yaml" <<'YAML'
---
apiVersion: v1
kind: Service
metadata: {name: routed-stable}
spec: {selector: {app: routed}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: routed-canary}
spec: {selector: {app: routed}, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: routed}
spec:
  rules: [{backendRefs: [{name: routed-stable, port: 80, weight: 100}, {name: routed-canary, port: 80, weight: 0}]}]
YAML

run_canary seed "replica-count canary"
run_canary routed "Gateway API canary"
mark end
sleep 1

python3 - "$audit" "$marks" <<'PY'
import bisect, collections, json, sys
audit, marks = sys.argv[1], sys.argv[2]
bounds, labels = [], []
for line in open(marks):
    ts, label = line.rstrip("\n").split(" ", 1)
    bounds.append(ts); labels.append(label)
cols = ["status", "rollout", "replicaset", "service", "httproute", "analysisrun", "event", "other"]
counts = collections.defaultdict(collections.Counter)
for line in open(audit):
    e = json.loads(line)
    if e.get("stage") != "ResponseComplete" or not e.get("userAgent", "").startswith("sluice-controller/"):
        continue
    if e.get("responseStatus", {}).get("code", 200) >= 300:
        continue  # a conflict or error changed nothing
    ts = e["requestReceivedTimestamp"]
    i = bisect.bisect_right(bounds, ts) - 1
    if i < 0 or i >= len(labels) - 1:
        continue
    ref = e.get("objectRef", {})
    res, sub = ref.get("resource", ""), ref.get("subresource", "")
    col = {"rollouts": "status" if sub == "status" else "rollout", "replicasets": "replicaset", "services": "service",
           "httproutes": "httproute", "analysisruns": "analysisrun", "events": "event"}.get(res, "other")
    if res == "leases":
        continue  # leader election is off here; never count a lease renewal as a step's write
    counts[i][col] += 1
print("controller writes (audit log, successful create/update/patch/delete by sluice-controller) per phase:")
print()
print("%-60s" % "phase" + "".join("%12s" % c for c in cols) + "%8s" % "total")
for i, label in enumerate(labels[:-1]):
    c = counts[i]
    print("%-60s" % label + "".join("%12d" % c[k] for k in cols) + "%8d" % sum(c.values()))
print()
print("status = Rollout status writes; event = Kubernetes Events the controller recorded.")
PY
