#!/usr/bin/env python3
"""What a controller wrote, per phase, from an audit log that bench/compare.sh
kept (AUDIT_BODIES=1 KEEP_AUDIT=DIR): Events by reason, Rollout status writes
by the fields they changed, ReplicaSet writes by verb, all per Rollout; and
one Rollout's writes in order with their times, to see where a transition
waits.

    bench/audit-detail.py DIR/sluice [--phase B] [--rollout app-7]
"""
import argparse, bisect, collections, json, os
from datetime import datetime

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--phase", default="B")
ap.add_argument("--rollout", default="app-7")
ap.add_argument("--controller", default="", help="user agent prefix (default: sluice-controller/ or argo-rollouts)")
a = ap.parse_args()

bounds, names = [], []
for line in open(os.path.join(a.dir, "marks")):
    ts, name = line.split()
    bounds.append(ts)
    names.append(name)
audit = [f for f in os.listdir(a.dir) if f.startswith("audit")][0]


def mine(ua):
    if a.controller:
        return ua.startswith(a.controller)
    return ua.startswith("sluice-controller/") or ua.startswith("argo-rollouts")


def t(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def changed(prev, cur):
    """The status fields that differ; conditions by type, times left out."""
    out = []
    for k in sorted(set(prev) | set(cur)):
        if k == "conditions":
            pc = {c["type"]: {x: y for x, y in c.items() if not x.endswith("Time")} for c in prev.get(k, [])}
            cc = {c["type"]: {x: y for x, y in c.items() if not x.endswith("Time")} for c in cur.get(k, [])}
            diff = [ty for ty in sorted(set(pc) | set(cc)) if pc.get(ty) != cc.get(ty)]
            if diff:
                out.append("conditions[" + ",".join(diff) + "]")
            elif [c.get("lastUpdateTime") for c in prev.get(k, [])] != [c.get("lastUpdateTime") for c in cur.get(k, [])]:
                out.append("conditions(times)")
        elif prev.get(k) != cur.get(k):
            out.append(k)
    return " ".join(out) or "(nothing)"


rollouts = set()
events = collections.Counter()
statuses = collections.Counter()
rs = collections.Counter()
last_status = {}
timeline = []
t0 = None
for line in open(os.path.join(a.dir, audit)):
    e = json.loads(line)
    if e.get("stage") != "ResponseComplete" or e.get("responseStatus", {}).get("code", 200) >= 300:
        continue
    ts, ua, ref = e["requestReceivedTimestamp"], e.get("userAgent", ""), e.get("objectRef", {})
    i = bisect.bisect_right(bounds, ts) - 1
    phase = names[i] if 0 <= i < len(names) - 1 else None
    res, sub, verb = ref.get("resource", ""), ref.get("subresource", ""), e.get("verb")
    body = e.get("requestObject") or {}
    if res == "rollouts" and sub == "status" and "status" in body:
        name = ref.get("name")
        prev = last_status.get(name, {})
        last_status[name] = body["status"]
        if phase == a.phase and mine(ua):
            what = changed(prev, body["status"])
            statuses[what] += 1
            rollouts.add(name)
            if name == a.rollout:
                timeline.append((ts, "status", what))
        continue
    if phase != a.phase or not mine(ua):
        continue
    if t0 is None:
        t0 = bounds[names.index(a.phase)]
    if res == "events":
        reason = body.get("reason") or ("series patch" if verb == "patch" else "?")
        events[reason] += 1
        obj = body.get("regarding") or body.get("involvedObject") or {}
        if obj.get("name") == a.rollout:
            timeline.append((ts, "event", reason + ": " + (body.get("note") or body.get("message") or "")))
    elif res == "rollouts":
        rs["rollout " + verb] += 1
        if ref.get("name") == a.rollout:
            timeline.append((ts, "rollout " + verb, ""))
    elif res == "replicasets":
        rs[verb] += 1
        if ref.get("name", "").rsplit("-", 1)[0] == a.rollout:
            timeline.append((ts, "replicaset " + verb, ref.get("name")))

n = max(1, len(rollouts))
print("phase %s, %d Rollouts with status writes; per Rollout:" % (a.phase, len(rollouts)))
print("Events by reason:")
for k, v in events.most_common():
    print("  %6.2f  %s" % (v / n, k))
print("status writes by what they changed:")
for k, v in statuses.most_common():
    print("  %6.2f  %s" % (v / n, k))
print("ReplicaSet and Rollout (not status) writes by verb:")
for k, v in rs.most_common():
    print("  %6.2f  %s" % (v / n, k))
if t0:
    print("%s, seconds from the phase's start:" % a.rollout)
    for ts, kind, what in sorted(timeline):
        print("  %7.3f  %-18s %s" % ((t(ts) - t(t0)).total_seconds(), kind, what[:110]))
