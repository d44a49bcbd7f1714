#!/usr/bin/env python3
"""Runs the exporter (the lean sluice-exporter sidecar binary, and `sluice
exporter` from the full binary) and the seeds' Python sketch on the same log,
in interleaved rounds, and reports lines/s per core (lines over the process's
user+sys CPU time, so the figure does not depend on how busy the machine's
other cores are), the best round of each, and the ratio. Also checks that
both counted the same number of events.

Usage: compare_exporter.py SLUICE_BIN SLUICE_EXPORTER_BIN PYTHON LOG LINES ROUNDS
"""
import os
import re
import socket
import subprocess
import sys
import time

sluice, lean, python, log = sys.argv[1:5]
lines, rounds = int(sys.argv[5]), int(sys.argv[6])
KINDS = ("sluice-exporter", "sluice exporter", "sketch")
here = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(argv, env=None, path=None):
    with open(path or log, "rb") as f:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        err = p.stderr.read().decode()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
    if status != 0:
        sys.exit("%s failed (%d):\n%s" % (argv[0], status, err))
    return ru.ru_utime + ru.ru_stime, wall, ru.ru_maxrss, err


def cmd(k):
    if k != "sketch":
        prefix = [lean] if k == "sluice-exporter" else [sluice, "exporter"]
        return prefix + ["--exit-on-eof", "--listen", "127.0.0.1:%d" % free_port(),
                         "--log-malformed-every", "0", "--log-skipped-every", "0"], None
    return [python, os.path.join(here, "litellm_sketch.py"), str(free_port())], dict(os.environ, SKETCH_SUMMARY="1")


results = {k: [] for k in KINDS}
startup = {k: [] for k in KINDS}
counted = {}
for r in range(rounds):
    for k in KINDS:
        argv, env = cmd(k)
        cpu, wall, rss, err = run(argv, env)
        m = re.search(r"(\d+) parsed" if k != "sketch" else r"counted (\d+) events", err)
        counted[k] = int(m.group(1)) if m else None
        results[k].append((cpu, wall, rss))
        argv, env = cmd(k)
        startup[k].append(run(argv, env, os.devnull)[0])
    print("round %d: cpu seconds: %s" % (r + 1, ", ".join(
        "%s %.3f (startup %.3f)" % (k, results[k][-1][0], startup[k][-1]) for k in KINDS)), flush=True)

best = {k: min(v) for k, v in results.items()}
boot = {k: min(v) for k, v in startup.items()}
rate = {k: lines / best[k][0] for k in best}
steady = {k: lines / max(best[k][0] - boot[k], 1e-9) for k in best}
size = os.path.getsize(log)
print()
print("best of %d rounds; per core = lines / (user+sys CPU seconds)" % rounds)
print("%-16s %14s %16s %10s %10s %10s %11s" % ("", "lines/s/core", "excl. startup", "MB/s/core", "cpu s", "wall s", "max RSS"))
for k in KINDS:
    cpu, wall, rss = best[k]
    print("%-16s %14.0f %16.0f %10.1f %10.3f %10.3f %8.1f MB" % (k, rate[k], steady[k], size / cpu / 1e6, cpu, wall, rss / 1024))
print()
same = len(set(counted.values())) == 1
print("events counted: %s%s" % (", ".join("%s %s" % (k, counted[k]) for k in KINDS), "" if same else "  MISMATCH"))
for k in ("sluice-exporter", "sluice exporter"):
    ratio = rate[k] / rate["sketch"]
    sratio = steady[k] / steady["sketch"]
    print("ratio: %s is %.1fx the Python sketch per core, whole process (%.1fx excluding each one's startup); target >= 20x: %s"
          % (k, ratio, sratio, "MET" if ratio >= 20 else "NOT MET"))
if not same:
    sys.exit(1)
