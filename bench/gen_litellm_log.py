#!/usr/bin/env python3
"""Writes a realistic LiteLLM-style JSON access log to stdout, deterministic
for a given seed: ~90% request_completed events over six models, five API
users (a fifth of the events carry none), a status mix with 404/429/5xx,
~8% request_started events, ~2% debug lines, and one line in a thousand cut
in half (a crash mid-write). Lines are ~470 bytes, like the proxy's.

Usage: gen_litellm_log.py LINES [SEED] > access.log
"""
import random
import sys

n = int(sys.argv[1])
rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
models = ["qwen3.5", "mistral-small", "llama-3.3-70b", "gpt-4o-mini", "deepseek-r1", "gemma-3-27b"]
users = ["team-search", "team-chat", "batch-eval", "canary-probe", "alice@example.com"]
statuses = [200] * 8 + [404, 429, 500, 503]
out = sys.stdout
buf = []
for i in range(n):
    ts = "2026-05-04T17:%02d:%02d.%06dZ" % ((i // 60000) % 60, (i // 1000) % 60, rnd.randrange(1000000))
    x = rnd.randrange(100)
    if x < 8:
        line = ('{"timestamp":"%s","level":"INFO","event":"request_started","request_id":"chatcmpl-%016x",'
                '"model":"%s","api_base":"https://openrouter.ai/api/v1"}') % (ts, rnd.getrandbits(64), rnd.choice(models))
    elif x < 10:
        line = ('{"timestamp":"%s","level":"DEBUG","message":"router: selected deployment \\"%s\\" (healthy=4, cooldown=0)"}'
                % (ts, rnd.choice(models)))
    else:
        user = '"api_user":"%s",' % rnd.choice(users) if rnd.randrange(5) else ""
        line = ('{"timestamp":"%s","level":"INFO","event":"request_completed","request_id":"chatcmpl-%016x",'
                '"call_type":"acompletion","model":"%s","model_group":"%s","api_base":"https://openrouter.ai/api/v1",'
                '"status_code":%d,%s"response_time":%.3f,"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
                '"cache_hit":false,"metadata":{"tags":["canary","rollout"],"pod":"litellm-67b4ccbdb4-x2k9p",'
                '"user_agent":"OpenAI/Python 1.82.0"}}') % (
            ts, rnd.getrandbits(64), rnd.choice(models), rnd.choice(models), rnd.choice(statuses), user,
            rnd.random() * 8, rnd.randrange(2000), rnd.randrange(1000), rnd.randrange(3000))
    if rnd.randrange(1000) == 0:
        line = line[: len(line) // 2]
    buf.append(line)
    if len(buf) >= 10000:
        out.write("\n".join(buf) + "\n")
        buf = []
if buf:
    out.write("\n".join(buf) + "\n")
