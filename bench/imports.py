"""Where a cold start goes: what main.py imports, and what the first request
loads and builds before it can make its first API call.

Two views, each in fresh processes against the running emulator:

- **timed pieces**: in the order the first request needs them, each timed with
  perf_counter: importing main.py (through functions-framework's create_app),
  then switch.failover, the Cloudflare router, switch.transport and
  googleapiclient.discovery (with the modules switch never uses deferred, as
  switch.transport does), then building the Run v1 client from its static discovery document, then the
  first request (clients exist; what is left is sessions and the two calls),
  then a second, warm request. A module shared by two pieces counts in the
  first. Medians over the runs.
- **python -X importtime** of the same sequence once: the biggest imports by
  cumulative time, split into those main.py pays at start and those the first
  request pays. importtime inflates what it measures; read it for proportions.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from . import common
from .common import median

MARK = "@@bench-phase first-request"

SCRIPT = r'''
import json, sys, time
t = time.perf_counter
out = {}
s = t()
import functions_framework
app = functions_framework.create_app("switch", sys.argv[1])
client = app.test_client()
out["import main.py (create_app)"] = t() - s
sys.stderr.write("MARK\n"); sys.stderr.flush()
for name in ("switch.failover", "switch.traffic.cloudflare", "switch.transport", "googleapiclient.discovery"):
    s = t()
    if name == "googleapiclient.discovery":
        from switch import transport
        transport._defer_unused_imports()  # as build_client does before this import
    __import__(name)
    out["import " + name] = t() - s
import os
from switch import transport
s = t()
transport.client("run", "v1", os.environ["SWITCH_RUN_ENDPOINT"], 30.0)
out["build the Run v1 discovery client"] = t() - s
headers = {"Authorization": "Bearer " + sys.argv[2]}
s = t()
answer = client.get("/status", headers=headers)
out["first request, clients built (sessions + 2 calls)"] = t() - s
assert answer.status_code == 200, answer.get_data(as_text=True)
s = t()
client.get("/status", headers=headers)
out["second request (warm)"] = t() - s
print(json.dumps(out))
'''.replace("MARK", MARK)

LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _run(env: dict, importtime: bool) -> tuple[dict, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    full_env.update(env)
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", SCRIPT,
            str(common.ROOT / "main.py"), common.TOKEN]
    done = subprocess.run(args, cwd=common.ROOT, env=full_env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"import timing failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _top(lines: list[str], n: int) -> list[dict]:
    """Top-level imports (those nothing else in the list imported), biggest cumulative first."""
    found = []
    for line in lines:
        m = LINE.match(line)
        if m and len(m.group(3)) == 1:
            found.append({"module": m.group(4), "cumulative_ms": round(int(m.group(2)) / 1000, 1)})
    found.sort(key=lambda x: -x["cumulative_ms"])
    return found[:n]


def _nested(lines: list[str], names: tuple[str, ...]) -> dict:
    """Cumulative ms of chosen modules wherever they were first imported."""
    found = {}
    for line in lines:
        m = LINE.match(line)
        if m and m.group(4) in names and m.group(4) not in found:
            found[m.group(4)] = round(int(m.group(2)) / 1000, 1)
    return found


def measure(emulator, runs: int) -> dict:
    env = common.function_env(emulator)
    timed = [_run(env, importtime=False)[0] for _ in range(runs)]
    pieces = {key: round(median([t[key] for t in timed]) * 1000, 1) for key in timed[0]}
    _, stderr = _run(env, importtime=True)
    lines = stderr.splitlines()
    cut = lines.index(MARK) if MARK in lines else len(lines)
    at_start, first_request = lines[:cut], lines[cut + 1:]
    return {
        "runs": runs,
        "pieces_ms": pieces,
        "importtime": {
            "at_start_top": _top(at_start, 8),
            "first_request_top": _top(first_request, 10),
            "first_request_selected": _nested(first_request, (
                "googleapiclient.discovery", "googleapiclient.http", "google.auth", "google.oauth2.service_account",
                "google.auth.transport.requests", "httplib2", "pyparsing", "cryptography", "requests", "urllib3",
                "switch.failover", "switch.cloudrun", "switch.probe", "switch.transport",
                "switch.traffic.cloudflare")),
        },
    }
