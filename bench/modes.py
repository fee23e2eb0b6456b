"""Each way of running switch, measured the same way: from the triggering event to traffic switched.

The modes (README, "How fast visitors see the site again"):

- ``on-demand, IAM grant``: the replica is created on the alert and made public
  by an allUsers grant (where an organization policy keeps the invoker IAM check);
- ``on-demand``: created on the alert, public at creation (the default);
- ``standby``: SWITCH_STANDBY=true, the replica is already there and Ready;
- ``standby + probe``: also SWITCH_PROBE_FAILOVER_AFTER=2; the event is the
  reconcile round that finds home dark the second time in a row (no alert).

The function is served by functions-framework in its own process with its
production defaults; each process answers one request before the samples,
so the figures are a warm instance's (the cold start is measured on its
own). The emulator's ready delay T is the same for every mode; home is dark
(a closed port). Per sample: the wall time from sending the event to the
answer (traffic is switched before the answer), the Google calls it made,
and whether it created a replica or wrote an IAM policy.
"""

from __future__ import annotations

import time

import requests

from switch.drill import Function

from . import common
from .common import median

MODES = ("on-demand, IAM grant", "on-demand", "standby", "standby + probe")
ENV = {
    "on-demand, IAM grant": {},
    "on-demand": {},
    "standby": {"SWITCH_STANDBY": "true"},
    "standby + probe": {"SWITCH_STANDBY": "true", "SWITCH_PROBE_FAILOVER_AFTER": "2"},
}


def _call(function: Function, path: str, body: dict) -> dict:
    answer = function.call("POST", path, body)
    if answer.status_code != 200:
        raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text[:400]}")
    return answer.json()


def _wait_ready(emulator, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        service = emulator.services(common.PROJECT, common.REGION).get(common.SERVICE) or {}
        conditions = {c["type"]: c["status"] for c in (service.get("status") or {}).get("conditions", [])}
        if conditions.get("Ready") == "True":
            return
        time.sleep(0.02)
    raise RuntimeError("the standby did not turn ready")


def _sample(emulator, function: Function, mode: str, delay: float, i: int) -> dict:
    if mode.startswith("standby") and common.SERVICE not in emulator.services(common.PROJECT, common.REGION):
        _call(function, "/reconcile", {})  # creates the standby (the first time only)
        _wait_ready(emulator, delay + 10)
    if mode == "standby + probe":
        first = _call(function, "/reconcile", {})  # round 1: counted on the standby, no failover
        if first.get("state") != "standby":
            raise RuntimeError(f"round 1 failed over: {first}")
    emulator.clear_requests()
    sent = time.perf_counter()
    if mode == "standby + probe":
        answer = _call(function, "/reconcile", {})
    else:
        answer = _call(function, "/", common.open_alert(f"0.modes-{i}"))
    elapsed = time.perf_counter() - sent
    if answer.get("state") != "active":
        raise RuntimeError(f"{mode}: no failover: {answer}")
    records = emulator.calls()
    sample = {
        "elapsed_s": round(elapsed, 3),
        "google_calls": len(common.google_calls(records)),
        "cloudflare_calls": len(common.cloudflare_calls(records)),
        "created": any(r.method == "POST" and r.path.endswith("/services") for r in records),
        "iam_writes": len([r for r in records if r.path.endswith(":setIamPolicy")]),
        "steps_ms": {s["step"]: s["ms"] for s in answer.get("steps", [])},
    }
    _call(function, "/failback", {"force": True})  # on demand: delete; standby: keep it, idle
    return sample


def measure(emulator, delay: float, samples: int, progress=None) -> dict:
    dark_home = f"http://127.0.0.1:{common.free_port()}"
    emulator.set_ready_delay(delay)
    emulator.set_delete_delay(0)
    rows = {}
    try:
        for mode in MODES:
            emulator.run.require_invoker_iam = mode == "on-demand, IAM grant"
            function = Function(common.function_env(emulator, SWITCH_HOME_URL=dark_home, **ENV[mode]))
            function.start()
            try:
                function.call("GET", "/status")  # a warm instance: imports and clients are built
                taken = [_sample(emulator, function, mode, delay, i) for i in range(samples)]
                _call(function, "/failback", {"force": True})
            finally:
                function.stop()
                # The standby of one mode is not the next mode's: remove it, as teardown would.
                requests.delete(f"{emulator.url}v1/projects/{common.PROJECT}/locations/{common.REGION}/services/"
                                f"{common.SERVICE}", timeout=10)
            elapsed = [s["elapsed_s"] for s in taken]
            rows[mode] = {
                "event_to_traffic_s": round(median(elapsed), 3),
                "max_s": max(elapsed),
                "google_calls": taken[-1]["google_calls"],
                "cloudflare_calls": taken[-1]["cloudflare_calls"],
                "created": taken[-1]["created"],
                "iam_writes": taken[-1]["iam_writes"],
                "samples": taken,
            }
            if progress:
                progress(f"  {mode}: {rows[mode]['event_to_traffic_s']:.3f} s event → traffic "
                         f"(T = {delay:g} s), {rows[mode]['google_calls']} Google calls")
    finally:
        emulator.run.require_invoker_iam = False
    return {"ready_delay_s": delay, "samples": samples, "modes": rows,
            "home": "dark (SWITCH_HOME_URL on a closed port)"}
