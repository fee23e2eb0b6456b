"""Time to recovery in simulation: alert sent → answer (traffic switched),
minus the emulator's ready delay T. What is left is switch's own overhead:
its API calls, the polling granularity, and on the first alert of a fresh
process the imports and clients the first request builds.

The function is served by functions-framework in its own process (as the
drill and the end-to-end tests run it) with its default polling
(SWITCH_POLL_INTERVAL_SECONDS = 1 s: polls at 0, 0.25, 0.65, 1.29 s after
create, then every second). The home site is dark (SWITCH_HOME_URL points at
a closed port), as it is during an outage. For each T the process is new:
the first alert is the **cold** sample, the process's first failover (its
readiness check, an authenticated GET /status, has already built the clients:
what a first request adds, and the platform's own instance start, are in the
cold-start figures); any further alerts are **warm**. Between
samples a forced failback removes the replica. The answer returns only after
the traffic step, so "answer received" is "traffic switched".

The baseline (``baseline.py``, in this process, polling every 1 s) is run
once per T for comparison.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from switch.drill import Function

from . import common
from .baseline import failover_baseline
from .common import median


def _sample(emulator, function: Function, delay: float, incident: str) -> dict:
    emulator.clear_requests()
    sent = time.perf_counter()
    answer = function.call("POST", "/", common.open_alert(incident))
    elapsed = time.perf_counter() - sent
    if answer.status_code != 200 or answer.json().get("state") != "active":
        raise RuntimeError(f"the alert did not fail over: {answer.status_code} {answer.text[:400]}")
    steps = {s["step"]: s["ms"] for s in answer.json().get("steps", [])}
    polls = len([r for r in emulator.calls("GET") if r.path.endswith(f"/services/{common.SERVICE}")])
    waited = steps.get("ready", 0) / 1000
    return {"elapsed_s": round(elapsed, 3), "overhead_s": round(elapsed - delay, 3),
            # the overhead in two parts: waiting past T for the next poll, and everything else
            "poll_overshoot_s": round(waited - delay, 3), "work_s": round(elapsed - waited, 3),
            "steps_ms": steps, "service_gets": polls}


def _standby(function: Function) -> None:
    answer = function.call("POST", "/failback", {"force": True})
    if answer.status_code != 200:
        raise RuntimeError(f"failback failed: {answer.status_code} {answer.text[:400]}")


def measure(emulator, delays: list[float], samples_per_delay: int, with_baseline: bool, progress=None) -> dict:
    from switch import config

    dark_home = f"http://127.0.0.1:{common.free_port()}"
    env = common.function_env(emulator, SWITCH_HOME_URL=dark_home)
    settings = config.from_env(env)
    plain = SimpleNamespace(**{k: getattr(settings, k) for k in (
        "project", "region", "service", "image", "run_endpoint", "cloudflare_endpoint", "cloudflare_token",
        "cloudflare_zone_id", "cloudflare_host")})
    emulator.set_delete_delay(0)
    rows = []
    for delay in delays:
        emulator.set_ready_delay(delay)
        function = Function(env)
        function.start()
        try:
            # The process's first failover (its start-up check already built the clients).
            cold = _sample(emulator, function, delay, f"0.ttr-cold-{delay}")
            warm = []
            for i in range(samples_per_delay - 1):
                _standby(function)
                warm.append(_sample(emulator, function, delay, f"0.ttr-warm-{delay}-{i}"))
            _standby(function)
            row = {"ready_delay_s": delay, "cold": cold, "warm": warm,
                   "warm_overhead_median_s": round(median([w["overhead_s"] for w in warm]), 3) if warm else None}
            if with_baseline:
                began = time.perf_counter()
                done = failover_baseline(plain, poll_interval=1.0)
                took = time.perf_counter() - began
                row["baseline"] = {"elapsed_s": round(took, 3), "overhead_s": round(took - delay, 3),
                                   "poll_overshoot_s": round(done["ready_wait_s"] - delay, 3),
                                   "work_s": round(took - done["ready_wait_s"], 3), "polls": done["polls"]}
                row["baseline_overhead_s"] = row["baseline"]["overhead_s"]
                _standby(function)  # the baseline's replica carries switch's label: switch removes it
        finally:
            function.stop()
        rows.append(row)
        if progress:
            text = f"  T={delay:g} s: cold +{cold['overhead_s']:.3f} s"
            if warm:
                text += f", warm +{row['warm_overhead_median_s']:.3f} s (median of {len(warm)})"
            if with_baseline:
                text += f", baseline +{row['baseline_overhead_s']:.3f} s"
            progress(text)
    overheads = [r["cold"]["overhead_s"] for r in rows] + [w["overhead_s"] for r in rows for w in r["warm"]]
    cold_work = [r["cold"]["work_s"] for r in rows]
    warm_work = [w["work_s"] for r in rows for w in r["warm"]] or cold_work
    interval = settings.poll_interval_seconds
    return {
        # The overhead is polling overshoot plus work. Overshoot depends on where T falls between
        # polls (at 0, 0.25, 0.65, 1.29 s after create, then every interval; the baseline's every
        # 1 s, so it is exact at whole-second T): "work" is the phase-free part.
        "work_s": {"cold_median": round(median(cold_work), 3), "warm_median": round(median(warm_work), 3),
                   "baseline_median": round(median([r["baseline"]["work_s"] for r in rows]), 3)
                   if with_baseline else None},
        # For T beyond 1.29 s a replica may turn ready just after a poll and wait a whole interval.
        "worst_case_overhead_s": {"cold": round(interval + max(cold_work), 3),
                                  "warm": round(interval + max(warm_work), 3)},
        "expected_overhead_s": {"cold": round(interval / 2 + median(cold_work), 3),
                                "warm": round(interval / 2 + median(warm_work), 3)},
        "poll_interval_s": settings.poll_interval_seconds,
        "samples_per_delay": samples_per_delay,
        "rows": rows,
        "max_overhead_s": max(overheads),
        "max_warm_overhead_s": max([w["overhead_s"] for r in rows for w in r["warm"]], default=None),
        "max_cold_overhead_s": max(r["cold"]["overhead_s"] for r in rows),
        "baseline_max_overhead_s": max((r["baseline_overhead_s"] for r in rows), default=None)
        if with_baseline else None,
        "home": "dark (SWITCH_HOME_URL on a closed port)",
    }

