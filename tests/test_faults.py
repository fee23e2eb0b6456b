"""Faults at every step: whatever fails, and however, the next notification or
reconcile converges on the right state, with no second replica and never a
redirect to a replica that is missing, not ready or not public.

The function runs in-process (the real functions-framework app) against the
emulator over real sockets; the transport is the one production uses. Each
case starts from a known state, makes one step fail on every attempt (so the
first answer is usually 502), checks that what is left is safe, then lets a
second event converge: the same notification again or POST /reconcile, and the
other one after it (which must change nothing).

Fault kinds: a 429, a 500 or 503 (alternately by step), a timeout (the emulator answers after
the function's HTTP timeout but still performs the call), a dropped connection,
and "after": the call is performed and then answered 503, which for a create
means the retry meets a 409 for the service it just made.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests import reliability
from tests.reliability import CF_TOKEN, PROJECT, REGION, SERVICE, ZONE

HTTP_TIMEOUT = 0.1  # seconds; below the 1 s SWITCH_HTTP_TIMEOUT_SECONDS allows, so set on the settings object
RETRIES = 1  # each call is tried twice: a fault that fires twice makes the step fail

SERVICE_PATH = rf"/locations/{REGION}/services/{SERVICE}$"
STEPS = {
    # failover, from standby with home dark and the alert open
    "create": dict(path=rf"/locations/{REGION}/services$", method="POST"),
    # (the replica takes 50 ms to be ready, so the create is followed by readiness polls, not IAM)
    "ready": dict(path=SERVICE_PATH, method="GET", after=(rf"/locations/{REGION}/services$", "POST"),
                  ready_delay=0.05),
    # where an organization policy keeps the invoker IAM check: allUsers is granted right after create
    "public": dict(path=r":setIamPolicy$", method="POST", require_invoker_iam=True),
    # the zone has no redirect rules yet: switch creates the ruleset with its rule in it
    "traffic on": dict(path=r"/zones/[0-9a-f]+/rulesets$", method="POST"),
    # the note that visitors are on the replica, which also proves it still exists
    "activated": dict(path=SERVICE_PATH, method="PUT"),
    # the same, in a zone that already has someone else's redirect rule: switch adds its own
    "rule added": dict(path=r"/rulesets/[0-9a-f]+/rules$", method="POST", foreign=True),
    # failback, from active with home back and the alert closed
    "traffic off": dict(path=r"/rulesets/[0-9a-f]+/rules/[0-9a-f]+$", method="PATCH"),
    "delete": dict(path=SERVICE_PATH, method="DELETE"),
    "post-check": dict(path=r"/rulesets/phases/.*/entrypoint$", method="GET", after=(SERVICE_PATH, "DELETE")),
    # an open notification while home is healthy: the replica made for it is removed again
    "cleanup delete": dict(path=SERVICE_PATH, method="DELETE"),
}
FAILOVER = ("create", "ready", "public", "traffic on", "activated", "rule added")
FAILBACK = ("traffic off", "delete", "post-check")
KINDS = ("429", "5xx", "timeout", "reset", "after")


@pytest.fixture
def fn(world, env, client, monkeypatch):
    emulator, home, chaos = world
    reliability.configure(env, emulator, home, API_RETRIES=str(RETRIES))
    reliability.patch_settings(monkeypatch, http_timeout_seconds=HTTP_TIMEOUT)
    before = reliability.fresh(emulator, home, chaos)
    yield reliability.InProcess(client, emulator, home, chaos)
    reliability.faults_since(chaos, before)


def inject(fn: reliability.InProcess, step: str, kind: str) -> None:
    """Make ``step`` fail on every attempt with ``kind``."""
    spec = STEPS[step]
    fn.emulator.run.require_invoker_iam = spec.get("require_invoker_iam", False)
    attempts = RETRIES + 1
    if kind == "timeout":
        if "after" in spec:
            raise NotImplementedError  # not needed: the armed steps are reads
        fn.chaos.slow(spec["path"], spec["method"], count=attempts, seconds=HTTP_TIMEOUT + 0.03)
        return
    fault = {"count": attempts, "method": spec["method"]}
    if kind == "reset":
        fault["kind"] = "reset"
    elif kind == "after":
        fault.update(kind="after", status=503)
    else:
        # 500 and 503 are retried alike; each step gets one of them.
        fault["status"] = int(kind) if kind != "5xx" else (500, 503)[list(STEPS).index(step) % 2]
        if kind == "429":
            fault["retry_after"] = 0.01
    # inject() matches a substring; the regex's literal middle is enough, and the order of calls does the rest.
    fault["contains"] = _literal(spec["path"])
    if "after" in spec:
        fn.chaos.arm_after(spec["after"][0], spec["after"][1], **fault)
    else:
        fn.emulator.inject(**fault)


def _literal(pattern: str) -> str:
    """The longest literal run of a simple regex, for Emulator.inject(contains=...)."""
    parts = re.split(r"\[[^\]]*\]\+|\.\*|\$|\\", pattern)
    return max(parts, key=len)


def applicable(step: str, kind: str) -> bool:
    # The armed steps (readiness, post-check) are reads: a 429, a timeout or a
    # performed-then-503 read fails like a 5xx, so a 5xx and a dropped connection cover them.
    return "after" not in STEPS[step] or kind in ("5xx", "reset")


CASES = [(step, kind) for step in STEPS for kind in KINDS if applicable(step, kind)]


def converge(fn: reliability.InProcess, state: str, expect: str, index: int) -> None:
    """The second event (the notification ``state`` again, or reconcile) converges; the other one
    after it changes nothing."""
    again = (lambda: fn.notify(state))
    reconcile = (lambda: fn.command("/reconcile"))
    order = (again, reconcile) if index % 2 == 0 else (reconcile, again)
    for event in order:
        answer = event()
        assert answer.status_code == 200, answer.get_data(as_text=True)
        reliability.check_final(fn.state(), expect)


FOREIGN = {"ref": "old_blog", "description": "not switch's", "expression": '(http.request.uri.path eq "/blog")',
           "action": "redirect", "action_parameters": {"from_value": {
               "target_url": {"value": "https://blog.example.org"}, "status_code": 301}}}


def add_foreign_rule(fn) -> None:
    answer = requests.put(f"{fn.emulator.cloudflare_url}zones/{ZONE}/rulesets/phases/http_request_dynamic_redirect/"
                          "entrypoint", json={"rules": [FOREIGN]}, headers={"Authorization": f"Bearer {CF_TOKEN}"},
                          timeout=5)
    assert answer.status_code == 200
    fn.emulator.clear_requests()


def foreign_rule_intact(fn) -> bool:
    rules = [r for r in fn.emulator.redirect_rules(ZONE) if r["ref"] == "old_blog"]
    return len(rules) == 1 and all(rules[0][k] == v for k, v in FOREIGN.items() if k != "action_parameters")


@pytest.mark.parametrize("step,kind", [c for c in CASES if c[0] in FAILOVER], ids=[f"{s}-{k}" for s, k in CASES
                                                                                  if s in FAILOVER])
def test_a_failed_failover_step_converges_on_the_next_event(fn, step, kind):
    index = CASES.index((step, kind))
    fn.outage()
    if STEPS[step].get("foreign"):
        add_foreign_rule(fn)
    fn.emulator.set_ready_delay(STEPS[step].get("ready_delay", 0))
    inject(fn, step, kind)

    first = fn.notify("open")

    fn.chaos.settle()
    assert first.status_code in (200, 502), first.get_data(as_text=True)
    if first.status_code == 502 and step in ("create", "ready", "public"):
        assert f"Cloud Run {'create' if step == 'create' else 'get' if step == 'ready' else 'setIamPolicy'}" \
            in first.get_json()["error"]["message"]  # the fault hit the step it was meant for
    reliability.check_safe(fn.state())
    fn.chaos.reset()
    converge(fn, "open", "active", index)
    assert not reliability.churned(fn.emulator, PROJECT, REGION, SERVICE), "the replica was deleted and made again"
    if STEPS[step].get("foreign"):
        assert foreign_rule_intact(fn)


@pytest.mark.parametrize("step,kind", [c for c in CASES if c[0] in FAILBACK], ids=[f"{s}-{k}" for s, k in CASES
                                                                                  if s in FAILBACK])
def test_a_failed_failback_step_converges_on_the_next_event(fn, step, kind):
    index = CASES.index((step, kind))
    fn.outage()
    assert fn.notify("open").status_code == 200
    fn.recovery()
    inject(fn, step, kind)

    first = fn.notify("closed")

    fn.chaos.settle()
    assert first.status_code in (200, 502), first.get_data(as_text=True)
    reliability.check_safe(fn.state())
    fn.chaos.reset()
    converge(fn, "closed", "standby", index)


@pytest.mark.parametrize("kind", [k for k in KINDS if applicable("cleanup delete", k)])
def test_a_failed_cleanup_after_a_late_open_never_sends_visitors_to_the_replica(fn, kind):
    """Home is healthy; an open arrives anyway (late, or from one checker region). The
    replica made while probing is removed again; if that removal fails, the next open
    must not finish the replica and send visitors to it."""
    inject(fn, "cleanup delete", kind)

    first = fn.notify("open")

    fn.chaos.settle()
    assert first.status_code in (200, 502), first.get_data(as_text=True)
    state = fn.state()
    reliability.check_safe(state)
    assert not state["redirect"] and not state["serving"]  # no visitor was ever sent to it
    fn.chaos.reset()
    converge(fn, "open", "standby", 0)  # the open again first: that is the case in question


@pytest.mark.parametrize("kind", ["5xx", "reset"])
def test_a_reconcile_that_cannot_read_the_alerts_converges_on_the_next_one(fn, kind):
    """A lost open notification: the alert is open, no replica. Reconcile reads the alert to know."""
    fn.outage()
    fault = {"count": RETRIES + 1, "method": "GET", "contains": "/alerts"}
    fn.emulator.inject(**(dict(fault, kind="reset") if kind == "reset" else dict(fault, status=503)))

    first = fn.command("/reconcile")

    assert first.status_code == 502
    reliability.check_safe(fn.state())
    assert not fn.state()["replica"]
    fn.chaos.reset()
    assert fn.command("/reconcile").status_code == 200
    reliability.check_final(fn.state(), "active")


def test_a_replica_not_ready_in_time_is_waited_for_by_the_next_event(fn, monkeypatch):
    reliability.patch_settings(monkeypatch, http_timeout_seconds=HTTP_TIMEOUT, ready_timeout_seconds=0.1)
    fn.outage()
    fn.emulator.set_ready_delay(0.4)

    first = fn.notify("open")

    assert first.status_code == 502 and first.get_json()["error"]["code"] == "replica_timeout"
    reliability.check_safe(fn.state())
    assert not fn.state()["redirect"]
    deadline = time.monotonic() + 2  # the next notification comes later: by then the revision is ready
    while not fn.state()["ready"] and time.monotonic() < deadline:
        time.sleep(0.02)
    converge(fn, "open", "active", 0)
    assert not reliability.churned(fn.emulator, PROJECT, REGION, SERVICE)


def test_a_failed_revision_never_gets_visitors_however_often_it_is_asked(fn, env):
    env(IMAGE="europe-west1-docker.pkg.dev/switch-demo/site/fail:1")  # the emulator fails images named so
    fn.outage()

    answers = [fn.notify("open"), fn.notify("open"), fn.command("/reconcile")]

    assert [(a.status_code, a.get_json()["error"]["code"]) for a in answers] == [(502, "replica_failed")] * 3
    state = fn.state()
    reliability.check_safe(state)
    assert state["replica"] and not state["serving"] and not state["redirect"]
    reliability.count("states")
