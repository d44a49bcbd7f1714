#!/usr/bin/env python3
"""Runs `sluice exporter` and the seeds' Python sketch on the same log, in
interleaved rounds, and reports lines/s per core (lines over the process's
user+sys CPU time, so the figure does not depend on how busy the machine's
other cores are), the best round of each, and the ratio. Also checks that
both counted the same number of events.

Usage: compare_exporter.py SLUICE_BIN PYTHON LOG LINES ROUNDS
"""
import os
import re
import socket
import subprocess
import sys
import time

sluice, python, log, lines, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
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
    if k == "sluice":
        return [sluice, "exporter", "--exit-on-eof", "--listen", "127.0.0.1:%d" % free_port(),
                "--log-malformed-every", "0", "--log-skipped-every", "0"], None
    return [python, os.path.join(here, "litellm_sketch.py"), str(free_port())], dict(os.environ, SKETCH_SUMMARY="1")


results = {"sluice": [], "sketch": []}
startup = {"sluice": [], "sketch": []}
counted = {}
for r in range(rounds):
    for k in ("sluice", "sketch"):
        argv, env = cmd(k)
        cpu, wall, rss, err = run(argv, env)
        m = re.search(r"(\d+) parsed" if k == "sluice" else r"counted (\d+) events", err)
        counted[k] = int(m.group(1)) if m else None
        results[k].append((cpu, wall, rss))
        argv, env = cmd(k)
        startup[k].append(run(argv, env, os.devnull)[0])
    print("round %d: cpu seconds: sluice %.3f (startup %.3f), sketch %.3f (startup %.3f)" % (
        r + 1, results["sluice"][-1][0], startup["sluice"][-1], results["sketch"][-1][0], startup["sketch"][-1]), flush=True)

best = {k: min(v) for k, v in results.items()}
boot = {k: min(v) for k, v in startup.items()}
rate = {k: lines / best[k][0] for k in best}
steady = {k: lines / max(best[k][0] - boot[k], 1e-9) for k in best}
size = os.path.getsize(log)
print()
print("best of %d rounds; per core = lines / (user+sys CPU seconds)" % rounds)
print("%-8s %14s %16s %10s %10s %10s %11s" % ("", "lines/s/core", "excl. startup", "MB/s/core", "cpu s", "wall s", "max RSS"))
for k in ("sluice", "sketch"):
    cpu, wall, rss = best[k]
    print("%-8s %14.0f %16.0f %10.1f %10.3f %10.3f %8.1f MB" % (k, rate[k], steady[k], size / cpu / 1e6, cpu, wall, rss / 1024))
ratio = rate["sluice"] / rate["sketch"]
sratio = steady["sluice"] / steady["sketch"]
print()
print("events counted: sluice %s, sketch %s%s" % (counted["sluice"], counted["sketch"],
      "" if counted["sluice"] == counted["sketch"] else "  MISMATCH"))
print("ratio: sluice exporter is %.1fx the Python sketch per core, whole process (%.1fx excluding each one's startup); target >= 20x: %s"
      % (ratio, sratio, "MET" if ratio >= 20 else "NOT MET"))
if counted["sluice"] != counted["sketch"]:
    sys.exit(1)
