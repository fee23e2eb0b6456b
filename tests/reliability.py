"""The reliability suite's figures, and the state checks they count.

The hostile, credential, fault, ordering, load and log tests add to these
counters; ``conftest.pytest_terminal_summary`` prints them after the run (added
up across pytest-xdist's workers), and the README's Reliability section quotes
them. Import it as ``tests.reliability`` so every
test module and the conftest share one copy.
"""

from __future__ import annotations

import contextlib
import threading
import time

_lock = threading.Lock()
figures = {"hostile": 0, "load": 0, "faults": 0, "states": 0, "unexpected_5xx": 0}

# Answers the function documents for the HTTP entry point (README "Answers").
DOCUMENTED = {200, 400, 401, 404, 405, 409, 413, 415, 500, 502}


def count(name: str, n: int = 1) -> None:
    with _lock:
        figures[name] += n


def answered(status: int, documented_5xx: bool = False) -> None:
    """One hostile request answered; a 5xx that is not a documented one is counted as unexpected."""
    count("hostile")
    if status >= 500 and not documented_5xx:
        count("unexpected_5xx")


def summary() -> str | None:
    with _lock:
        f = dict(figures)
    if not any(f.values()):
        return None
    return (f"reliability: {f['hostile']} hostile requests tried, {f['load']} concurrent requests, "
            f"{f['faults']} faults injected, {f['states']} final states checked, "
            f"{f['unexpected_5xx']} unexpected 5xx")


# -- the state checks ------------------------------------------------------------

def our_ref(service: str) -> str:
    """The ref of the deployment's redirect rule (switch/traffic/cloudflare.py)."""
    from switch.traffic.cloudflare import rule_ref

    return rule_ref(service, HOST)


def world_state(emulator, project: str, region: str, service: str, zone: str | None) -> dict:
    """One atomic look at the emulator: the replica, whether it is public, and our redirect rule."""
    state = emulator.state()  # taken under the emulator's lock: services, IAM and rules agree
    services = state["services"].get(f"{project}/{region}", {})
    replica = services.get(service)
    ready = public = False
    url = None
    if replica is not None:
        conditions = {c["type"]: c["status"] for c in replica.get("status", {}).get("conditions", [])}
        ready = conditions.get("Ready") == "True"
        url = replica.get("status", {}).get("url")
        policy = state["iam"].get(f"projects/{project}/locations/{region}/services/{service}", {})
        open_to_all = replica["metadata"]["annotations"].get("run.googleapis.com/invoker-iam-disabled") == "true"
        public = open_to_all or any(b["role"] == "roles/run.invoker" and "allUsers" in b["members"]
                                    for b in policy.get("bindings", []))
    rule = None
    if zone is not None:
        rules = (state["rulesets"].get(zone) or {}).get("rules", [])
        rule = next((r for r in rules if r.get("ref") == our_ref(service)), None)
    enabled = bool(rule and rule.get("enabled", True))
    target = None
    if rule is not None:
        expression = rule["action_parameters"]["from_value"]["target_url"].get("expression", "")
        target = expression.split('"')[1] if '"' in expression else None
    return {"services": sorted(services), "replica": replica is not None, "ready": ready, "public": public,
            "url": url, "managed": bool(replica and replica["metadata"]["labels"].get("managed-by") == "switch"),
            "pinned": bool(replica and replica["metadata"]["annotations"].get("switch/pinned") == "true"),
            "serving": bool(replica and replica["metadata"]["annotations"].get("switch/activated-at")),
            "redirect": enabled, "target": target}


def check_safe(state: dict) -> None:
    """What must hold at every quiet moment, whatever happened before: never a redirect
    to a replica that is missing, not ready or not public; never more than our one service."""
    assert len(state["services"]) <= 1, state
    if state["redirect"]:
        assert state["replica"] and state["ready"] and state["public"], f"redirect to a missing or unfit replica: {state}"
        assert state["target"] == state["url"], f"redirect points elsewhere: {state}"


def check_final(state: dict, expect: str, *, router: bool = True) -> None:
    """The converged state: ``active`` (one ready, public replica, visitors sent to it) or
    ``standby`` (no replica, no redirect). Counted in the figures."""
    check_safe(state)
    if expect == "active":
        assert state["replica"] and state["managed"] and state["ready"] and state["public"], state
        if router:
            assert state["redirect"] and state["target"] == state["url"], state
    else:
        assert not state["replica"] and not state["redirect"], state
    count("states")


# -- driving the emulator ----------------------------------------------------------


class Chaos:
    """Faults the emulator's own ``inject`` cannot place, laid over it; and a count of every firing.

    - ``slow(...)``: the next ``count`` matching API calls wait ``seconds`` before the
      emulator performs them (longer than the function's HTTP timeout: a timeout
      whose call still happened, as on the real network);
    - ``arm_after(...)``: once a matching call has been answered, ``inject`` a fault
      (to hit, say, the readiness polls that follow a create, not the first GET);
    - ``hold(...)``: the next matching call waits until its ``Hold`` is released (to
      force an interleaving of concurrent requests).
    ``settle()`` waits until no slowed or held call is still in flight.
    """

    def __init__(self, emulator):
        import re

        self._re = re
        self.emulator = emulator
        self.rules: list[dict] = []
        self.fired = 0
        self.inflight = 0
        self._cond = threading.Condition()
        self._original = emulator._api
        emulator._api = self._api
        take = emulator.faults.take

        def counted(method, path):
            fault = take(method, path)
            if fault is not None:
                with self._cond:
                    self.fired += 1
            return fault

        emulator.faults.take = counted

    def reset(self) -> None:
        self.release()
        with self._cond:
            self.rules.clear()
        self.emulator.clear_faults()

    def _add(self, **rule) -> dict:
        rule["path"] = self._re.compile(rule["path"])
        rule.setdefault("method", None)
        with self._cond:
            self.rules.append(rule)
        return rule

    def slow(self, path: str, method: str | None = None, *, count: int = 1, seconds: float = 0.3) -> None:
        self._add(kind="slow", path=path, method=method, count=count, seconds=seconds)

    def arm_after(self, trigger_path: str, trigger_method: str | None = None, **fault) -> None:
        self._add(kind="arm", path=trigger_path, method=trigger_method, count=1, fault=fault)

    def hold(self, path: str, method: str | None = None) -> "Hold":
        hold = Hold()
        self._add(kind="hold", path=path, method=method, count=1, hold=hold)
        return hold

    def release(self) -> None:
        with self._cond:
            for rule in self.rules:
                if rule["kind"] == "hold":
                    rule["hold"].release()

    def _take(self, kind: str, request) -> dict | None:
        with self._cond:
            for rule in self.rules:
                if (rule["kind"] == kind and rule["count"] > 0 and rule["method"] in (None, request.method)
                        and rule["path"].search(request.path)):
                    rule["count"] -= 1
                    return rule
        return None

    def _api(self, request, path, environ):
        slow, held = self._take("slow", request), self._take("hold", request)
        if slow or held:
            with self._cond:
                self.inflight += 1
                self.fired += bool(slow)
        try:
            if held:
                held["hold"].reached.set()
                held["hold"].gate.wait(10)
            if slow:
                time.sleep(slow["seconds"])
            response = self._original(request, path, environ)
        finally:
            if slow or held:
                with self._cond:
                    self.inflight -= 1
                    self._cond.notify_all()
        armed = self._take("arm", request)
        if armed:
            self.emulator.inject(**armed["fault"])
        return response

    def settle(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.inflight == 0, timeout)


class Hold:
    """A call the emulator keeps waiting: ``reached`` is set when it arrives, ``release()`` lets it go."""

    def __init__(self):
        self.reached = threading.Event()
        self.gate = threading.Event()

    def release(self) -> None:
        self.gate.set()

    def wait(self, timeout: float = 5.0) -> None:
        assert self.reached.wait(timeout), "the held call never came"


def churned(emulator, project: str, region: str, service: str) -> bool:
    """Whether the replica was deleted since the emulator's state was last reset (a delete and
    re-create would be a second replica under the same name)."""
    with emulator._lock:
        return (project, region, service) in emulator.run.deleting


def reset(emulator) -> None:
    """Back to an empty project and zone: no services, no rules, no faults, no record, no open alert."""
    with emulator._lock:
        emulator.faults.clear()
        emulator.run.stored.clear()
        emulator.run.deleting.clear()
        emulator.cloudflare.rulesets.clear()
        emulator.clear_requests()


# -- the function in-process, against the emulator -----------------------------------

PROJECT, REGION, SERVICE = "switch-demo", "europe-west1", "site-replica"
ZONE, HOST, POLICY = "0123456789abcdef0123456789abcdef", "www.example.org", "site-down"
CF_TOKEN = "reliability-cloudflare-token-0123456789"
BEARER = {"Authorization": "Bearer t0ken-for-tests-0123456789"}  # tests/conftest.py's TOKEN


class InProcess:
    """The real functions-framework app (the ``client`` fixture) pointed at the emulator."""

    def __init__(self, client, emulator, home, chaos):
        self.client, self.emulator, self.home, self.chaos = client, emulator, home, chaos

    def notification(self, state: str, incident: str = "0.reliability", *, age: float = 120,
                     ended_age: float = 1) -> dict:
        from switch.drill import notification

        now = time.time()
        return notification(state, incident, int(now - age), int(now - ended_age) if state == "closed" else None)

    def notify(self, state: str, incident: str = "0.reliability", client=None, **times):
        return (client or self.client).post("/", json=self.notification(state, incident, **times), headers=BEARER)

    def command(self, path: str, body=None, client=None):
        return (client or self.client).post(path, json={} if body is None else body, headers=BEARER)

    def another_client(self):
        """A test client of its own, for a concurrent request from another thread."""
        return self.client.application.test_client()

    def state(self) -> dict:
        return world_state(self.emulator, PROJECT, REGION, SERVICE, ZONE)

    def age(self, seconds: float) -> None:
        """Visitors have been on the replica for ``seconds`` already (the outage lasted that long)."""
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
        self.emulator.annotate(PROJECT, REGION, SERVICE, {"switch/activated-at": at})

    def outage(self) -> None:
        """Home dark, the alert open."""
        self.home.go_down()
        self.emulator.open_alert(POLICY, PROJECT)

    def recovery(self) -> None:
        """Home back, the alert closed."""
        self.home.come_back()
        while self.emulator.close_alert(POLICY):
            pass


def start_world(ready_delay: float = 0.0):
    from switch.emulator import Emulator, HomeSite

    emulator = Emulator(ready_delay=ready_delay, delete_delay=0, cloudflare_token=CF_TOKEN).start()
    home = HomeSite().start()
    return emulator, home, Chaos(emulator)


def stop_world(emulator, home, chaos) -> None:
    chaos.reset()
    home.stop()
    emulator.stop()


def configure(env, emulator, home, **more) -> None:
    """SWITCH_* for the in-process function: the emulator's roots, Cloudflare, the alert policy, home."""
    values = dict(RUN_ENDPOINT=emulator.url, MONITORING_ENDPOINT=emulator.url,
                  CLOUDFLARE_ENDPOINT=emulator.cloudflare_url, CLOUDFLARE_TOKEN=CF_TOKEN, CLOUDFLARE_ZONE_ID=ZONE,
                  CLOUDFLARE_HOST=HOST, ALERT_POLICY=POLICY, HOME_URL=home.url, PROBE_COUNT="1",
                  PROBE_TIMEOUT_SECONDS="1", API_RETRIES="2", RETRY_BASE_SECONDS="0.01",
                  POLL_INTERVAL_SECONDS="0.05", READY_TIMEOUT_SECONDS="10", MIN_ACTIVE_SECONDS="0")
    values.update(more)
    env(**values)


def patch_settings(monkeypatch, **changes) -> None:
    """Settings below what SWITCH_* allows (an HTTP timeout under 1 s, say), on the settings object."""
    import dataclasses

    from switch import config

    load, patched = config.load, {}

    def load_patched(need=config.NEEDS):
        settings = load(need=need)
        if id(settings) not in patched:
            patched.clear()
            patched[id(settings)] = dataclasses.replace(settings, **changes)
        return patched[id(settings)]

    monkeypatch.setattr(config, "load", load_patched)


def redirect_writes(emulator) -> list[bool]:
    """Every redirect write the emulator saw, as whether it left the rule enabled."""
    writes = []
    for record in emulator.calls():
        if "client/v4" in record.path and record.method in ("PUT", "POST", "PATCH") and record.json:
            rule = record.json["rules"][0] if "rules" in record.json else record.json
            writes.append(bool(rule.get("enabled", True)))
    return writes


@contextlib.contextmanager
def with_defaults(world, env, client, **more):
    """The in-process function against the world, its timing settings at their defaults (the flap guard's
    300 s, unless ``more`` says otherwise): for the tests about timing and order. Faults fired are counted."""
    emulator, home, chaos = world
    configure(env, emulator, home, MIN_ACTIVE_SECONDS=None, **more)
    before = fresh(emulator, home, chaos)
    try:
        yield InProcess(client, emulator, home, chaos)
    finally:
        faults_since(chaos, before)
        emulator.set_ready_delay(0)


def fresh(emulator, home, chaos) -> int:
    """A clean start for one test; returns the fault count so far (see ``faults_since``)."""
    chaos.reset()
    reset(emulator)
    emulator.set_ready_delay(0)
    emulator.run.require_invoker_iam = False
    home.come_back()
    home.delay = 0.0
    while emulator.close_alert(POLICY):
        pass
    return chaos.fired


def faults_since(chaos, before: int) -> None:
    chaos.reset()
    count("faults", chaos.fired - before)
