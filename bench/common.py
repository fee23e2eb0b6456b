"""What every measurement shares: the function's environment against the
emulator, statistics that hold on a noisy machine, the machine's description,
progress lines, and a way to keep switch's log lines out of the table."""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from switch.drill import HOST, IMAGE, PROJECT, REGION, SERVICE, TOKEN, ZONE, free_port, notification

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
CF_TOKEN = "bench-cloudflare-token"
ALERT_POLICY = f"switch: {HOST} down"
BEARER = {"Authorization": f"Bearer {TOKEN}"}

__all__ = ["ROOT", "BENCH", "CF_TOKEN", "ALERT_POLICY", "BEARER", "HOST", "IMAGE", "PROJECT", "REGION", "SERVICE",
           "TOKEN", "ZONE", "free_port", "notification"]


def function_env(emulator, **extra: str) -> dict[str, str]:
    """The function's SWITCH_* variables: production defaults, API roots on the emulator.

    Polling, retries and timeouts keep their defaults (SWITCH_POLL_INTERVAL_SECONDS
    = 1 s): the benchmark measures the function as it is deployed.
    SWITCH_MIN_ACTIVE_SECONDS=0 only so a failback may follow a failover at once.
    """
    env = {
        "SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_SERVICE": SERVICE, "SWITCH_IMAGE": IMAGE,
        "SWITCH_TOKEN": TOKEN,
        "SWITCH_RUN_ENDPOINT": emulator.url, "SWITCH_MONITORING_ENDPOINT": emulator.url,
        "SWITCH_CLOUDFLARE_ENDPOINT": emulator.cloudflare_url, "SWITCH_CLOUDFLARE_TOKEN": CF_TOKEN,
        "SWITCH_CLOUDFLARE_ZONE_ID": ZONE, "SWITCH_CLOUDFLARE_HOST": HOST,
        "SWITCH_MIN_ACTIVE_SECONDS": "0",
    }
    env.update(extra)
    return env


def open_alert(incident: str = "0.bench") -> dict:
    return notification("open", incident, int(time.time()) - 60, None)


def closed_alert(incident: str = "0.bench") -> dict:
    now = int(time.time())
    return notification("closed", incident, now - 60, now + 1)


def google_calls(records) -> list:
    """Calls to Google's APIs: every recorded API call except Cloudflare's."""
    return [r for r in records if "client/v4" not in r.path]


def cloudflare_calls(records) -> list:
    return [r for r in records if "client/v4" in r.path]


def describe(records) -> list[str]:
    """``GET services/site-replica``-style names, for the JSON."""
    names = []
    for r in records:
        path = r.path
        if "client/v4" in path:
            tail = "cloudflare " + "/".join(path.split("/")[-2:])
        else:
            tail = "/".join(path.split("/")[-2:])
        names.append(f"{r.method} {tail}")
    return names


# -- statistics -----------------------------------------------------------------


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values, p: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# -- the machine ------------------------------------------------------------------


def machine() -> dict:
    """What the figures were taken on; results/ is not committed, so it travels in the JSON."""
    model = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        found = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = found.group(1).strip() if found else None
    except (OSError, subprocess.SubprocessError):
        pass
    if model is None:
        with contextlib.suppress(OSError):
            found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
            model = found.group(1).strip() if found else None
    memory_mb = None
    with contextlib.suppress(OSError, AttributeError, ValueError):
        found = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        memory_mb = int(found.group(1)) // 1024 if found else None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = None
    with contextlib.suppress(OSError, AttributeError):
        load = [round(x, 2) for x in os.getloadavg()]
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_mb": memory_mb,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": load,
    }


# -- processes ------------------------------------------------------------------------


def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 10.0) -> int:
    """One GET on a fresh connection (http.client: no pooling, little overhead); the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's worker under functions-framework's arbiter)."""
    found = []
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(c) for c in (task / "children").read_text().split())
    return sorted(set(found))


def proc_kb(pid: int, field: str, source: str = "status") -> int | None:
    """A ``kB`` field of /proc/PID/status (VmHWM, VmRSS) or smaps_rollup (Pss)."""
    try:
        text = Path(f"/proc/{pid}/{source}").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s*(\d+) kB", text, re.M)
    return int(found.group(1)) if found else None


# -- output -------------------------------------------------------------------------


class _Sink:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def quiet():
    """Swallow switch's JSON log lines (they are still formatted: that is part of the cost)."""
    with contextlib.redirect_stdout(_Sink()):
        yield


@contextlib.contextmanager
def environ(values: dict[str, str]):
    """os.environ with every SWITCH_* replaced by ``values``, restored afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("SWITCH_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("SWITCH_")]:
            del os.environ[key]
        os.environ.update(saved)


class Progress:
    """One line per measurement as it starts and finishes, on stderr."""

    def __init__(self, out=None):
        self.out = out or sys.stderr
        self.start = time.monotonic()

    def line(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self.start:6.1f} s] {text}\n")
        self.out.flush()

    @contextlib.contextmanager
    def measuring(self, name: str, what: str):
        self.line(f"▸ {name}: {what}")
        began = time.monotonic()
        summary = {"text": ""}
        yield summary
        self.line(f"✓ {name} ({time.monotonic() - began:.1f} s){': ' + summary['text'] if summary['text'] else ''}")
