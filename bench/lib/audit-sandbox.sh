# Sourced by the bench scripts: audit_sandbox NAME NODES starts a dedicated
# sandbox whose API server keeps an audit log of writes, installs the CRDs,
# and sets KUBECONFIG, AUDIT (the log) and WORK (a scratch dir). The caller
# removes it with audit_sandbox_down (KEEP=1 keeps it).
audit_sandbox() {
  local name=$1 nodes=$2
  local cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
  export KWOK_WORKDIR=${KWOK_WORKDIR:-$cache/kwok}
  WORK=$(mktemp -d)
  make -s build sandbox-bins >/dev/null
  # AUDIT_BODIES=1: Events and Rollout status writes are logged with their
  # request bodies (reasons, what changed), for bench/audit-detail.py.
  local bodies=""
  [[ -n ${AUDIT_BODIES:-} ]] && bodies='
  - level: Request
    verbs: [create, update, patch]
    resources: [{group: "", resources: [events]}, {group: events.k8s.io, resources: [events]}, {group: argoproj.io, resources: [rollouts/status]}]'
  cat >"$WORK/policy.yaml" <<YAML
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:$bodies
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
YAML
  hack/sandbox/down.sh "$name" 2>/dev/null || true
  SANDBOX_NODES=$nodes SANDBOX_AUDIT_POLICY=$WORK/policy.yaml hack/sandbox/up.sh "$name" 2>"$WORK/up.log" || { cat "$WORK/up.log"; exit 1; }
  export KUBECONFIG=$PWD/.sandbox/$name.kubeconfig
  AUDIT=$(find "$KWOK_WORKDIR/clusters/$name" -name 'audit*.log' | head -1)
  [[ -n $AUDIT ]] || { echo "bench: no audit log under $KWOK_WORKDIR/clusters/$name" >&2; exit 1; }
  local f
  for f in config/crd/argoproj.io_*.yaml; do kubectl apply --server-side -f "$f" >/dev/null; done
  kubectl wait --for condition=established --timeout=60s crd --all >/dev/null
  SANDBOX_NAME=$name
}

audit_sandbox_down() {
  [[ -n ${KEEP:-} ]] || hack/sandbox/down.sh "$SANDBOX_NAME" 2>/dev/null
  rm -rf "$WORK"
}

# start_controller ARGS...: runs bin/sluice controller in the background
# (log in $WORK/controller.log) and removes it and the sandbox on exit.
start_controller() {
  bin/sluice controller --health-probe-bind-address=0 "$@" >"$WORK/controller.log" 2>&1 &
  CTRL=$!
  trap 'kill $CTRL 2>/dev/null || true; audit_sandbox_down' EXIT
}

# rollouts_yaml IMAGE: N replica-count canaries (app-1..app-N) of R pods
# each, steps setWeight 50 / pause, running IMAGE — the scale benchmarks' work.
rollouts_yaml() {
  for i in $(seq 1 "$N"); do
    cat <<YAML
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: app-$i}
spec:
  replicas: $R
  selector: {matchLabels: {app: app-$i}}
  template:
    metadata: {labels: {app: app-$i}}
    spec: {containers: [{name: app, image: $1}]}
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {}}]
YAML
  done
}
