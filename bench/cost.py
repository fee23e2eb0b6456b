"""Per-event cost, in process: how many API round trips each kind of event
makes, and how long a warm instance takes to answer the cheap ones.

The function runs in this process through functions-framework's own Flask
app (``create_app("switch", "main.py").test_client()``): the WSGI stack the
deployed function runs, minus gunicorn and a socket on the function's side,
so a sample is the function's work and not loopback noise. Its Google and
Cloudflare calls still go over real loopback sockets to the in-process
emulator (no added latency), through switch's own transport, so connection
reuse counts. The baseline (``baseline.py``) runs against the same emulator.
"""

from __future__ import annotations

import contextlib
import time
from types import SimpleNamespace

from . import common
from .baseline import failover_baseline
from .common import BEARER, cloudflare_calls, describe, google_calls, median, ms, percentile, quiet


def _reset_process_state() -> None:
    """As on a fresh function instance: no memo of replicas seen public, no controller."""
    from switch import controllers
    from switch.failover import Switch

    Switch._public_seen.clear()
    Switch._domain_ready.clear()
    controllers.reset()


class InProcess:
    """The function's Flask app, called in process.

    Use it as a context manager: the function's SWITCH_* environment is set
    once for the whole block, so no sample pays for swapping it.
    """

    def __init__(self, emulator, server):
        import functions_framework

        self.emulator = emulator
        self.server = server
        self.env = common.function_env(emulator)
        with common.environ(self.env):
            self.app = functions_framework.create_app("switch", str(common.ROOT / "main.py"))
        self.client = self.app.test_client()
        self._environ = None

    def __enter__(self) -> "InProcess":
        self._environ = common.environ(self.env)
        self._environ.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._environ.__exit__(*exc)

    def call(self, method: str, path: str, body=None, env: dict | None = None):
        with (common.environ(env) if env else contextlib.nullcontext()), quiet():
            if method == "POST" and body is None:
                body = {}  # commands are JSON objects, {} at least
            answer = self.client.open(path, method=method, json=body, headers=BEARER)
        if answer.status_code != 200:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.get_data(as_text=True)[:400]}")
        return answer.get_json()

    def standby(self) -> None:
        self.call("POST", "/failback", {"force": True})

    def counted(self, method: str, path: str, body=None, env: dict | None = None) -> tuple[dict, list, int]:
        """The answer, the API calls it made, and how many connections it opened."""
        self.emulator.clear_requests()
        before, _ = self.server.counters()
        answer = self.call(method, path, body, env)
        return answer, self.emulator.calls(), self.server.counters()[0] - before


def _count(records, connections: int | None = None, **extra) -> dict:
    google, cloudflare = google_calls(records), cloudflare_calls(records)
    counted = {"google": len(google), "cloudflare": len(cloudflare)}
    if connections is not None:
        counted["new_connections"] = connections
    return {**counted, "calls": describe(records), **extra}


def _polls(records) -> tuple[int, list[str]]:
    """Ready polls (GETs of the service right after create), and any Google call beyond
    get + create + polls + the note that visitors are on the replica."""
    google = google_calls(records)
    names = describe(google)
    try:
        created = next(i for i, r in enumerate(google) if r.method == "POST" and r.path.endswith("/services"))
    except StopIteration:
        return 0, names
    polls = []
    for i in range(created + 1, len(google)):
        if google[i].method != "GET" or ":" in google[i].path:
            break
        polls.append(i)
    mark = next((i for i, r in enumerate(google) if r.method == "PUT"), None)
    expected = {0, created, *polls} | ({mark} if mark is not None else set())
    first_is_get = google[0].method == "GET"
    return len(polls), [names[i] for i in range(len(google)) if i not in expected or (i == 0 and not first_is_get)]


def api_calls(emulator, function: InProcess, ready_delay: float) -> dict:
    """Round trips per event type, from the emulator's record of what it was asked."""
    emulator.set_ready_delay(ready_delay)
    function.standby()
    _reset_process_state()
    function.call("GET", "/status")  # builds the clients: counts below are a warm instance's
    result = {}

    with_alerts = {**function.env, "SWITCH_ALERT_POLICY": common.ALERT_POLICY}
    _, calls, opened = function.counted("POST", "/reconcile", env=with_alerts)
    result["reconcile_nothing_to_do"] = _count(calls, opened, note=(
        "standby, no open alert; SWITCH_ALERT_POLICY set, so reconcile asks Monitoring (alerts.list)"))
    function.call("GET", "/status")  # back on the controller without SWITCH_ALERT_POLICY

    answer, calls, opened = function.counted("POST", "/", common.open_alert())
    polls, beyond = _polls(calls)
    bound = 1 + 1 + polls + 1
    visits = len([r for r in emulator.requests if r.kind == "replica"])
    result["fresh_failover"] = _count(calls, opened, ready_polls=polls, bound=bound, beyond_bound=beyond,
                                      replica_visits=visits, ready_delay_s=ready_delay,
                                      steps=[s["step"] for s in answer["steps"]],
                                      note="bound: get + create + ready polls + the note that visitors are on "
                                           "it (Google; public at creation, so no IAM call); the traffic step is "
                                           "Cloudflare's")

    _, calls, opened = function.counted("POST", "/", common.open_alert())
    result["duplicate_open"] = _count(calls, opened, note="the same open again: the replica is in place, visitors "
                                                          "are on it, and this instance has seen it public")

    _, calls, opened = function.counted("GET", "/status")
    result["status"] = _count(calls, opened)

    _, calls, opened = function.counted("POST", "/", common.closed_alert())
    result["failback"] = _count(calls, opened, note="closing notification; no SWITCH_HOME_URL, so no home probe; "
                                                    "the replica is read again before each destructive step")
    return result


def _timed(server, fn, n: int) -> dict:
    """Run ``fn`` n times one after the other: rate, latency, and the emulator's share."""
    samples, own = [], []
    connections, _ = server.counters()
    began = time.perf_counter()
    for _ in range(n):
        _, inside = server.counters()
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        samples.append(took)
        own.append(took - (server.counters()[1] - inside))
    total = time.perf_counter() - began
    return {"n": n, "events_per_s": round(n / total, 1), "p50_ms": ms(median(samples)),
            "p99_ms": ms(percentile(samples, 99)), "own_p50_ms": ms(median(own)),
            "new_connections_per_event": round((server.counters()[0] - connections) / n, 2)}


def throughput(emulator, function: InProcess, n: int) -> dict:
    """Events per second and latency for a duplicate open and GET /status, one at a time.

    ``own_p50_ms`` is the latency minus the time the emulator spent answering
    (it runs in this process, so its work would otherwise count as switch's).
    """
    emulator.set_ready_delay(0)
    function.call("POST", "/", common.open_alert())  # the replica in place
    body = common.open_alert("0.bench-dup")
    for _ in range(max(5, n // 20)):
        function.call("POST", "/", body)
        function.call("GET", "/status")
    emulator.clear_requests()
    server = function.server
    result = {
        "duplicate_open": _timed(server, lambda: function.call("POST", "/", body), n),
        "status": _timed(server, lambda: function.call("GET", "/status"), n),
    }
    emulator.clear_requests()
    return result


def baseline(emulator, function: InProcess, n_duplicate: int, n_fresh: int) -> dict:
    """The blog post's way against the same emulator: latency, round trips and connections, next to switch's."""
    from switch import config

    emulator.set_ready_delay(0)
    settings = config.load()
    plain = SimpleNamespace(**{k: getattr(settings, k) for k in (
        "project", "region", "service", "image", "run_endpoint", "cloudflare_endpoint", "cloudflare_token",
        "cloudflare_zone_id", "cloudflare_host")})
    server = function.server

    function.call("POST", "/", common.open_alert())  # the replica in place
    emulator.clear_requests()
    failover_baseline(plain)
    dup_calls = emulator.calls()
    body = common.open_alert("0.bench-dup")
    base_dup = _timed(server, lambda: failover_baseline(plain), n_duplicate)
    switch_dup = _timed(server, lambda: function.call("POST", "/", body), n_duplicate)

    def fresh(run) -> tuple[list[float], list, int]:
        samples, calls, opened = [], [], 0
        for _ in range(n_fresh):
            function.standby()
            emulator.clear_requests()
            before, _ = server.counters()
            start = time.perf_counter()
            run()
            samples.append(time.perf_counter() - start)
            calls, opened = emulator.calls(), server.counters()[0] - before
        return samples, calls, opened

    base_samples, base_calls, base_opened = fresh(lambda: failover_baseline(plain))
    switch_samples, switch_calls, switch_opened = fresh(lambda: function.call("POST", "/", common.open_alert()))
    function.standby()
    emulator.clear_requests()

    base_fresh, switch_fresh = median(base_samples), median(switch_samples)
    return {
        "duplicate_open": {
            "baseline": {**base_dup, **_count(dup_calls)},
            "switch": switch_dup,
            "latency_ratio": round(base_dup["p50_ms"] / switch_dup["p50_ms"], 2),
        },
        "fresh_failover": {
            "ready_delay_s": 0,
            "n": n_fresh,
            "baseline": {"p50_ms": ms(base_fresh), **_count(base_calls, base_opened)},
            "switch": {"p50_ms": ms(switch_fresh), **_count(switch_calls, switch_opened)},
            "latency_ratio": round(base_fresh / switch_fresh, 2),
        },
    }
