#!/usr/bin/env python3
"""A stand-in OpenAI-compatible gateway on 127.0.0.1 for trying `sluice
probe` (and feeding `sluice exporter`) without a real LiteLLM: POST
/v1/chat/completions answers 200 for every model except mistral-small,
which fails like the seeds' broken OpenRouter :free upstream (alternating
404 and 429). Each request is also appended to --log as a LiteLLM-style
JSON line (event request_completed), so the exporter can follow it.

Usage: fake_gateway.py [--port 4000] [--log access.log] [--latency-ms 40]
"""
import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=4000)
ap.add_argument("--log")
ap.add_argument("--latency-ms", type=float, default=40)
args = ap.parse_args()
lock = threading.Lock()
counts = {}
logf = open(args.log, "a", buffering=1) if args.log else None


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        t0 = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)) or 0)
        try:
            model = json.loads(body).get("model", "")
        except ValueError:
            model = ""
        with lock:
            n = counts[model] = counts.get(model, 0) + 1
        time.sleep(random.uniform(0.5, 1.5) * args.latency_ms / 1000)
        if self.path != "/v1/chat/completions":
            code, out = 404, {"error": {"message": "no route " + self.path}}
        elif model == "mistral-small":
            code = 429 if n % 2 == 0 else 404
            out = {"error": {"message": "Rate limit exceeded: free-models-per-min" if code == 429
                             else "No endpoints found for mistralai/mistral-small:free"}}
        else:
            code, out = 200, {"choices": [{"message": {"role": "assistant", "content": "ok"}}], "model": model}
        data = json.dumps(out).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if logf:
            user = self.headers.get("X-User")
            line = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "INFO",
                    "event": "request_completed", "model": model, "status_code": code,
                    "response_time": round(time.time() - t0, 4)}
            if user:
                line["api_user"] = user
            with lock:
                logf.write(json.dumps(line) + "\n")


ThreadingHTTPServer(("127.0.0.1", args.port), H).serve_forever()
