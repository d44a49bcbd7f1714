#!/usr/bin/env python3
"""The seeds' "Path B" sidecar, written from its description: read LiteLLM's
JSON access log on stdin, count request_completed events in
litellm_request_total{model, status, api_user}, serve them on :PORT.

Every line that fails to parse, or lacks a field, is dropped silently: that
is the behaviour `sluice exporter` replaces. This file is the benchmark's
baseline, kept as small as the original sketch.

Usage: litellm_sketch.py [PORT] < access.log   (PORT 0: don't serve)
"""
import json
import os
import sys

from prometheus_client import Counter, start_http_server

req = Counter("litellm_request_total", "Requests", ["model", "status", "api_user"])
port = int(sys.argv[1]) if len(sys.argv) > 1 else 9090
if port:
    start_http_server(port)

for line in sys.stdin:
    try:
        e = json.loads(line)
        if e.get("event") == "request_completed":
            req.labels(e["model"], str(e["status_code"]), e.get("api_user", "anon")).inc()
    except (ValueError, KeyError):
        pass

# Not in the sketch: the benchmark asks for the total to cross-check counts.
if os.environ.get("SKETCH_SUMMARY"):
    total = sum(s.value for m in req.collect() for s in m.samples if s.name.endswith("_total"))
    print("sketch: counted %d events" % total, file=sys.stderr)
