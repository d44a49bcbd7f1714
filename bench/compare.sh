#!/usr/bin/env bash
# Sluice side by side with upstream Argo Rollouts' controller (issue 19), in
# one invocation, on the same work. Each controller gets a fresh dedicated
# sandbox (kwok nodes of 1000 pods, API server audit log on, control plane
# without client QPS limits) and ROLLOUTS replica-count canaries of 2 pods
# (steps: setWeight 50, pause):
#
#   A  create                -> all Healthy
#   B  image bump            -> all Paused at step 1 (50%)
#   C  promote (reaction)    -> all Healthy; promote -> first ReplicaSet scale, p50/p99
#
# Per phase and controller: wall time until all reach the state, controller
# CPU seconds (/proc/PID/stat utime+stime), peak RSS (VmHWM), reconciles
# (controller-runtime's controller_runtime_reconcile_total for Sluice,
# upstream's rollout_reconcile_count), and the controller's successful API
# writes by kind from the audit log, per Rollout per transition (Events
# included); then Sluice/upstream ratios. Neither controller has a
# client-side QPS limit (Sluice's default; upstream --qps/--burst raised).
#
#   bench/compare.sh                          # 200 Rollouts, upstream v1.9.2
#   bench/compare.sh --rollouts 1000
#   UNRELATED_PODS=5000 bench/compare.sh      # plus a 5000-replica Deployment the controllers do not own
#   CONTROLLERS=sluice SLUICE_BIN=/tmp/old-sluice bench/compare.sh   # one side only, another binary
#                                             #   (default: built as shipped, static, -trimpath, -s -w)
#   UPSTREAM=v1.8.5 UPSTREAM_QPS=40 UPSTREAM_BURST=80 bench/compare.sh   # upstream's default limits
#   KEEP=1 bench/compare.sh                   # keep the sandboxes (sluice-cmp-sluice, sluice-cmp-upstream)
#   AUDIT_BODIES=1 KEEP_AUDIT=/tmp/a bench/compare.sh   # keep the audit logs, Event and status bodies included;
#                                             #   then bench/audit-detail.py /tmp/a/sluice (writes by reason/field)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${ROLLOUTS:-200}
while (( $# )); do
  case $1 in
    --rollouts) N=$2; shift 2 ;;
    --rollouts=*) N=${1#*=}; shift ;;
    *) echo "compare: unknown argument $1" >&2; exit 2 ;;
  esac
done
R=2
UNRELATED=${UNRELATED_PODS:-0}
UPSTREAM=${UPSTREAM:-v1.9.2}
CONTROLLERS=${CONTROLLERS:-sluice upstream}
SLUICE_BIN=${SLUICE_BIN:-}
cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
upbin=$cache/bin/argo-rollouts-$UPSTREAM
nodes=$(( (N * R * 2 + UNRELATED) / 800 + 1 ))
results=$(mktemp -d)
source bench/lib/audit-sandbox.sh
if [[ -z $SLUICE_BIN ]]; then
  # The controller as it is shipped (internal/imagebuild, hack/release.sh):
  # static, -trimpath, stripped (-s -w); its file-backed RSS depends on it.
  SLUICE_BIN=$results/bin/sluice
  CGO_ENABLED=0 GOFLAGS= go build -trimpath -buildvcs=false -ldflags "$(go run ./hack/image -ldflags)" -o "$SLUICE_BIN" ./cmd/sluice
fi
export SANDBOX_DISABLE_QPS_LIMITS=1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
count() { # JSONPATH VALUE: how many Rollouts have it
  kubectl -n scale get rollouts -o jsonpath="{range .items[*]}$1{\"\\n\"}{end}" | grep -cx "$2" || true
}
wait_all() { # T0 JSONPATH VALUE -> seconds (float) from T0 until all N have it
  local t0=$1 n=0
  shift
  while :; do
    n=$(count "$1" "$2")
    (( n == N )) && { python3 -c "import time; print('%.1f' % (time.time() - $t0))"; return 0; }
    if python3 -c "import sys, time; sys.exit(0 if time.time() - $t0 > 900 else 1)"; then
      echo "compare: timed out: $n of $N at $2 ($ctl); log: $work/controller.log" >&2
      return 1
    fi
    sleep 0.5
  done
}
cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' /proc/$pid/stat; }
hwm() { awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status; }
rss() { awk '/^(VmRSS|RssAnon|RssFile)/ {printf "%s %.1f MB  ", $1, $2/1024}' /proc/$pid/status; }
reconciles() {
  curl -s "http://127.0.0.1:$port/metrics" | awk -v ctl="$ctl" '
    ctl == "sluice" && /^controller_runtime_reconcile_total\{/ && /controller="rollout"/ {n += $2}
    ctl == "upstream" && /^rollout_reconcile_count/ {n += $2}
    END {printf "%d", n}'
}
run() { # CONTROLLER
  ctl=$1
  audit_sandbox "sluice-cmp-$ctl" "$nodes"
  work=$WORK
  local out=$results/$ctl
  mkdir -p "$out"
  # Upstream's controller waits for an Experiment informer before it starts
  # any worker: Sluice's CRDs (installed by audit_sandbox) carry the kind.
  kubectl create namespace scale >/dev/null
  if (( UNRELATED > 0 )); then
    kubectl create namespace other >/dev/null
    kubectl -n other create deployment unrelated --image=unrelated:1 --replicas="$UNRELATED" >/dev/null
    local t0=$SECONDS
    until [[ $(kubectl -n other get deployment unrelated -o jsonpath='{.status.readyReplicas}') == "$UNRELATED" ]]; do
      (( SECONDS - t0 < 900 )) || { echo "compare: $UNRELATED unrelated pods not ready after 900 s" >&2; exit 1; }
      sleep 2
    done
    echo "[$ctl] $UNRELATED unrelated pods ready in $((SECONDS - t0))s" >&2
  fi
  rollouts_yaml app:1 >"$work/v1.yaml"
  rollouts_yaml app:2 >"$work/v2.yaml"
  port=$(free_port)
  if [[ $ctl == sluice ]]; then
    "$SLUICE_BIN" controller --kubeconfig "$KUBECONFIG" --metrics-bind-address=127.0.0.1:$port \
      --health-probe-bind-address=0 >"$work/controller.log" 2>&1 &
  else
    # Out of cluster, cluster-wide like Sluice; no client-side rate limit
    # unless UPSTREAM_QPS/UPSTREAM_BURST say so (its defaults are 40/80).
    "$upbin" --kubeconfig "$KUBECONFIG" --leader-elect=false --metricsPort "$port" --healthzPort 0 \
      --qps "${UPSTREAM_QPS:-100000}" --burst "${UPSTREAM_BURST:-200000}" --loglevel warn >"$work/controller.log" 2>&1 &
  fi
  pid=$!
  trap 'kill $pid 2>/dev/null || true; audit_sandbox_down' EXIT
  local t0=$SECONDS
  until curl -sf "http://127.0.0.1:$port/metrics" >/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "compare: $ctl exited at start:" >&2; tail -20 "$work/controller.log" >&2; exit 1; }
    (( SECONDS - t0 < 120 )) || { echo "compare: $ctl metrics never came up" >&2; exit 1; }
    sleep 0.5
  done
  sleep 3 # informers synced, workers started
  echo "[$ctl] started (pid $pid); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

  phase() { # NAME LABEL JSONPATH VALUE COMMAND...
    local name=$1 label=$2 jp=$3 val=$4; shift 4
    local c0 r0 t t0
    c0=$(cpu) r0=$(reconciles) t0=$(date +%s.%N)
    echo "$(now) $name" >>"$out/marks"
    "$@" >/dev/null
    local drive
    drive=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))") # the driver's own time (kubectl apply of N objects)
    t=$(wait_all "$t0" "$jp" "$val") || exit 1
    sleep 5 # Events and late writes of the transition land in its window
    echo "$name $t $(python3 -c "print('%.2f' % ($(cpu) - $c0))") $(hwm) $(( $(reconciles) - r0 )) $(cut -d' ' -f1 /proc/loadavg) $drive" >>"$out/phases"
    echo "[$ctl] $label: ${t}s" >&2
  }
  promote_all() { for i in $(seq 1 "$N"); do echo "app-$i"; done | xargs -P 8 -I{} "bin/sluice" promote {} -n scale >/dev/null; }
  phase A "create -> all Healthy" '{.status.phase}' Healthy kubectl -n scale apply -f "$work/v1.yaml" -o name
  phase B "image bump -> all Paused at step 1" '{.status.phase}/{.status.currentStepIndex}' Paused/1 kubectl -n scale apply -f "$work/v2.yaml" -o name
  phase C "promote -> all Healthy" '{.status.phase}/{.status.currentStepIndex}' Healthy/2 promote_all
  echo "$(now) end" >>"$out/marks"
  rss >"$out/rss"
  sleep 1
  if [[ -n ${KEEP_AUDIT:-} ]]; then # the audit log and phase marks, for bench/audit-detail.py
    mkdir -p "$KEEP_AUDIT/$ctl" && cp "$AUDIT" "$out/marks" "$KEEP_AUDIT/$ctl/"
  fi
  python3 - "$AUDIT" "$out" "$ctl" <<'PY'
import bisect, collections, json, sys
audit, out, ctl = sys.argv[1:4]
bounds, names = [], []
for line in open(out + "/marks"):
    ts, name = line.split()
    bounds.append(ts); names.append(name)
def controller(ua):
    return ua.startswith("sluice-controller/") if ctl == "sluice" else ua.startswith("argo-rollouts")
writes = collections.defaultdict(collections.Counter)
agents = collections.Counter()
promotes, scales = {}, collections.defaultdict(list)
for line in open(audit):
    e = json.loads(line)
    if e.get("stage") != "ResponseComplete" or e.get("responseStatus", {}).get("code", 200) >= 300:
        continue
    ts, ua, ref = e["requestReceivedTimestamp"], e.get("userAgent", ""), e.get("objectRef", {})
    i = bisect.bisect_right(bounds, ts) - 1
    if i < 0 or i >= len(names) - 1:
        continue
    res, sub = ref.get("resource", ""), ref.get("subresource", "")
    if ref.get("namespace") not in ("scale", None) and res != "events":
        continue
    if names[i] == "C" and res == "rollouts" and sub == "status" and not controller(ua):
        promotes.setdefault(ref.get("name"), ts)
    if not controller(ua):
        continue
    agents[ua.split(" ")[0]] += 1
    if res == "leases":
        continue
    kind = {"rollouts": "rollouts/status" if sub == "status" else "rollouts", "replicasets": "replicasets",
            "events": "events", "services": "services", "analysisruns": "analysisruns"}.get(res, "other:" + res)
    writes[names[i]][kind] += 1
    if names[i] == "C" and res == "replicasets" and e.get("verb") in ("update", "patch"):
        scales[ref.get("name", "").rsplit("-", 1)[0]].append(ts)
from datetime import datetime
def t(s): return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
reaction = []
for ro, p in promotes.items():
    after = [s for s in scales.get(ro, []) if s >= p]
    if after:
        reaction.append((t(min(after)) - t(p)).total_seconds())
json.dump({"writes": writes, "reaction": sorted(reaction), "promotes": len(promotes), "agents": agents}, open(out + "/audit.json", "w"))
PY
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
  audit_sandbox_down
}

echo "compare: $N Rollouts x $R pods (canary: setWeight 50, pause), $nodes kwok node(s) of 1000 pods$( ((UNRELATED)) && echo ", $UNRELATED unrelated pods"); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); upstream $UPSTREAM" >&2
for c in $CONTROLLERS; do run "$c"; done

python3 - "$results" "$N" "$CONTROLLERS" <<'PY'
import json, os, sys
results, n, ctls = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
label = {"A": "create -> all Healthy", "B": "image bump -> all Paused at step 1", "C": "promote -> all Healthy"}
data = {}
for c in ctls:
    d = {"phases": {}}
    for line in open(os.path.join(results, c, "phases")):
        p, wall, cpu, hwm, rec, load, drive = line.split()
        d["phases"][p] = dict(wall=float(wall), cpu=float(cpu), hwm=float(hwm), rec=int(rec), load=load, drive=float(drive))
    d.update(json.load(open(os.path.join(results, c, "audit.json"))))
    data[c] = d
kinds = ["rollouts/status", "rollouts", "replicasets", "events", "services"]
print("%d Rollouts x 2 pods; per phase: wall s (and of it, the driver's own: kubectl apply / promotes), controller CPU s, peak RSS MB (VmHWM so far), reconciles, writes per Rollout by kind" % n)
print()
hdr = "%-36s %-9s %7s %7s %7s %8s %8s" % ("phase", "ctl", "wall", "driver", "cpu", "peakRSS", "reconc") + "".join("%12s" % k.replace("rollouts/", "") for k in kinds) + "%8s %8s %6s" % ("other", "writes", "load")
print(hdr)
for p in "ABC":
    for c in ctls:
        ph, w = data[c]["phases"][p], data[c]["writes"].get(p, {})
        other = sum(v for k, v in w.items() if k not in kinds)
        total = sum(w.values())
        print("%-36s %-9s %7.1f %7.1f %7.2f %8.1f %8d" % (label[p], c, ph["wall"], ph["drive"], ph["cpu"], ph["hwm"], ph["rec"]) +
              "".join("%12.2f" % (w.get(k, 0) / n) for k in kinds) + "%8.2f %8.2f %6s" % (other / n, total / n, ph["load"]))
for c in ctls:
    r = data[c]["reaction"]
    if r:
        q = lambda f: r[min(len(r) - 1, int(f * len(r)))]
        print("%s: promote -> first ReplicaSet scale: p50 %.2fs p99 %.2fs max %.2fs over %d of %d promotes" % (c, q(0.5), q(0.99), r[-1], len(r), data[c]["promotes"]))
    print("%s: writes by user agent %s; at the end: %s" % (c, dict(data[c]["agents"]), open(os.path.join(results, c, "rss")).read().strip()))
if len(ctls) == 2:
    s, u = data[ctls[0]], data[ctls[1]]
    print()
    print("ratios %s/%s (target: bump wall <= 0.25, CPU <= 0.5, RSS <= 0.5, writes/transition <= 0.5)" % tuple(ctls))
    for p in "ABC":
        a, b = s["phases"][p], u["phases"][p]
        sw, uw = sum(s["writes"].get(p, {}).values()), sum(u["writes"].get(p, {}).values())
        div = lambda x, y: "%.2f" % (x / y) if y else "-"
        print("%-36s wall %s  cpu %s  peakRSS %s  reconciles %s  writes %s" % (label[p], div(a["wall"], b["wall"]), div(a["cpu"], b["cpu"]),
              div(a["hwm"], b["hwm"]), div(a["rec"], b["rec"]), div(sw, uw)))
    rs, ru = s["reaction"], u["reaction"]
    if rs and ru:
        print("%-36s p50 %.2f  p99 %.2f" % ("promote -> ReplicaSet scale", rs[len(rs)//2] / max(ru[len(ru)//2], 1e-3),
              rs[min(len(rs)-1, int(.99*len(rs)))] / max(ru[min(len(ru)-1, int(.99*len(ru)))], 1e-3)))
PY
rm -rf "$results"
