"""Cold start: from ``Popen`` to the first answers, and peak memory, of switch
and of the trivial function, started the same way in alternation.

``python -m functions_framework --target T --source S --host 127.0.0.1 --port P``
is spawned with switch's environment (against the running emulator, token
auth) and polled with one GET on a fresh connection every 5 ms. Two moments:

- **first answer**: the first HTTP answer of any kind: GET /status without
  credentials, which switch refuses (401) before any API client exists. This
  is Python + functions-framework + gunicorn + importing main.py.
- **first useful answer** (the one the bar is on): right after, GET /status
  with the token, which builds the Run client and the Cloudflare router and
  makes one Google call (GET the replica) and one Cloudflare call. This is
  what the alert that wakes a cold instance waits for before the failover's
  own calls begin.

The trivial function answers "ok" to both; its first answer is the yardstick
for both ratios. Pairs alternate which starts first, so drift on a shared
machine falls on both; the figures are medians.

CPU: user + system seconds of the arbiter and its worker at the useful
answer, and from it the start on a fraction of a vCPU (CPU seconds ÷ share),
which is what sizes the deployed function (switch/ops/deploy.py).

Peak RSS: VmHWM (peak resident set) from /proc after the useful answer.
functions-framework runs gunicorn: the arbiter (the spawned process, which
imported main.py) forks one worker that serves the requests. The bar is on
the **worker**: it holds everything the arbiter imported plus what the first
request loaded, and it is the process that grows. The arbiter's own VmHWM and
the tree's PSS (shared pages split between the two) are recorded too; summing
the two VmHWMs would count the shared pages twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import common
from .common import BEARER, children, http_get, median, proc_kb

CPU_SHARES = ("0.167", "0.333", "0.583", "1")
KINDS = {
    "switch": ("switch", common.ROOT / "main.py"),
    "trivial": ("trivial", common.BENCH / "trivial_main.py"),
}


def command(kind: str, port: int) -> list[str]:
    target, source = KINDS[kind]
    return [sys.executable, "-m", "functions_framework", "--target", target, "--source", str(source),
            "--host", "127.0.0.1", "--port", str(port)]


def start_once(kind: str, env: dict, timeout: float = 30.0) -> dict:
    port = common.free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    full_env.update(env)
    with tempfile.TemporaryFile(mode="w+") as log:
        began = time.perf_counter()
        process = subprocess.Popen(command(kind, port), cwd=common.ROOT, env=full_env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            deadline = began + timeout
            while True:
                try:
                    first_status = http_get(port, "/status")
                    first = time.perf_counter() - began
                    break
                except (ConnectionRefusedError, ConnectionResetError):
                    if process.poll() is not None or time.perf_counter() > deadline:
                        log.seek(0)
                        raise RuntimeError(f"{kind} did not start:\n{log.read()[-2000:]}") from None
                    time.sleep(0.005)
            useful_status = http_get(port, "/status", BEARER)
            useful = time.perf_counter() - began
            if useful_status != 200:
                log.seek(0)
                raise RuntimeError(f"{kind}: GET /status answered {useful_status}:\n{log.read()[-2000:]}")
            workers = children(process.pid)
            worker = workers[0] if workers else None
            pss = [proc_kb(pid, "Pss", "smaps_rollup") for pid in [process.pid, *workers]]
            cpu = [cpu_seconds(pid) for pid in [process.pid, *workers]]
            return {
                "first_s": first, "first_status": first_status, "useful_s": useful,
                "cpu_s": round(sum(cpu), 3) if all(c is not None for c in cpu) else None,
                "worker_hwm_mb": _mb(proc_kb(worker, "VmHWM")) if worker else None,
                "arbiter_hwm_mb": _mb(proc_kb(process.pid, "VmHWM")),
                "tree_pss_mb": _mb(sum(pss)) if all(p is not None for p in pss) else None,
                "workers": len(workers),
            }
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used (/proc/PID/stat utime and stime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def measure(emulator, repeat: int, warmup: bool, progress=None) -> dict:
    env = common.function_env(emulator)
    if warmup:  # fills the page cache with both import trees; not counted
        start_once("switch", env)
        start_once("trivial", env)
    samples = {"switch": [], "trivial": []}
    for i in range(repeat):
        order = ("switch", "trivial") if i % 2 == 0 else ("trivial", "switch")
        for kind in order:
            samples[kind].append(start_once(kind, env))
        if progress:
            progress(f"  pair {i + 1}/{repeat}: switch {samples['switch'][-1]['useful_s']:.2f} s, "
                     f"trivial {samples['trivial'][-1]['first_s']:.2f} s")

    def med(kind: str, key: str):
        values = [s[key] for s in samples[kind] if s[key] is not None]
        return round(median(values), 3) if values else None

    result = {kind: {key: med(kind, key) for key in ("first_s", "useful_s", "cpu_s", "worker_hwm_mb",
                                                      "arbiter_hwm_mb", "tree_pss_mb")}
              for kind in samples}
    cpu = result["switch"]["cpu_s"]
    # Start-up is CPU-bound: on a fraction of a vCPU the same work takes that much longer. The shares
    # are what Cloud Run functions give each memory size when no CPU is set (256 MB: 0.167 vCPU ...).
    result["projected_useful_s"] = {share: round(cpu / float(share), 2) for share in CPU_SHARES} if cpu else None
    trivial = result["trivial"]["first_s"]
    result["ratio_first"] = round(result["switch"]["first_s"] / trivial, 2)
    result["ratio_useful"] = round(result["switch"]["useful_s"] / trivial, 2)
    result["first_request_penalty_s"] = round(result["switch"]["useful_s"] - result["switch"]["first_s"], 3)
    result["pairs"] = repeat
    result["samples"] = samples
    result["definition"] = ("first: Popen to the first HTTP answer (GET /status without credentials: 401 from "
                            "switch, 'ok' from trivial); useful: Popen to the answer of GET /status with the "
                            "token (1 Google call + 1 Cloudflare call). Both ratios divide by trivial's first.")
    result["rss_definition"] = ("VmHWM of gunicorn's worker after the useful answer (the arbiter forks it after "
                                "importing main.py); arbiter VmHWM and tree PSS recorded alongside")
    return result
