"""switch acts only on its own alert and never strands visitors, whatever the order of events.

Each test is an order of events that went wrong before (they are named for
what holds now). The function runs in-process against the emulator, with the
flap guard at its default (SWITCH_MIN_ACTIVE_SECONDS=300): how long an outage
lasted is set on the replica (``fn.age``), as the emulator's console would.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests import reliability
from tests.reliability import CF_TOKEN, PROJECT, REGION, SERVICE, ZONE


@pytest.fixture
def fn(world, env, client):
    # Timing and order are the subject here: the flap guard keeps its default
    # (SWITCH_MIN_ACTIVE_SECONDS=300), and a test says how long an outage lasted (fn.age).
    with reliability.with_defaults(world, env, client) as function:
        yield function


def body(answer) -> dict:
    return answer.get_json()


def redirect_on(fn) -> bool:
    return fn.state()["redirect"]


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# -- only our own alert ------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["another display name", "another service's labels"])
def test_a_notification_of_another_policy_is_acknowledged_without_a_call(fn, capsys, policy):
    fn.outage()
    note = fn.notification("open", "0.cpu")
    if policy == "another display name":
        note["incident"]["policy_user_labels"] = {"team": "web"}
        note["incident"]["policy_name"] = "CPU above 90%"
    else:
        note["incident"]["policy_user_labels"] = {"managed-by": "switch", "switch-service": "blog-replica"}
    fn.emulator.clear_requests()

    answer = fn.client.post("/", json=note, headers=reliability.BEARER)

    assert answer.status_code == 200 and body(answer)["action"] == "none"
    assert fn.emulator.calls() == []
    [line] = [line for line in log_lines(capsys) if line.get("incident") == "0.cpu"]
    assert line["outcome"] == "other_policy" and "not switch's" in line["message"] or "another service" in \
        line["message"]


def test_a_close_of_another_incident_does_not_fail_back_the_replica_of_this_one(fn):
    fn.outage()
    fn.notify("open", "0.this-outage")
    fn.age(600)
    fn.recovery()

    stray = fn.notify("closed", "0.an-older-incident")

    assert body(stray)["action"] == "none" and "0.this-outage" in body(stray)["reason"]
    reliability.check_final(fn.state(), "active")
    assert body(fn.notify("closed", "0.this-outage"))["action"] == "failback"
    reliability.check_final(fn.state(), "standby")


def test_without_home_url_a_close_of_ours_fails_back_and_says_loudly_it_was_unprobed(fn, env, capsys):
    env(HOME_URL=None)
    fn.outage()
    fn.notify("open")
    fn.age(600)
    assert "failback is unprobed" in " ".join(body(fn.client.get("/status", headers=reliability.BEARER))["warnings"])
    capsys.readouterr()

    answer = fn.notify("closed")

    assert body(answer)["action"] == "failback"
    warnings = [line for line in log_lines(capsys) if line["severity"] == "WARNING"]
    assert any("without probing home" in line["message"] for line in warnings)


def test_without_home_url_reconcile_fails_back_only_once_our_alert_has_closed(fn, env):
    env(HOME_URL=None)
    fn.outage()
    fn.notify("open")
    fn.age(600)

    assert body(fn.command("/reconcile"))["state"] == "active"  # the alert is still open: no evidence

    fn.recovery()  # the alert closes; its notification is lost
    assert body(fn.command("/reconcile"))["action"] == "failback"
    reliability.check_final(fn.state(), "standby")


# -- the flap guard never strands visitors -------------------------------------------------


def test_a_close_inside_the_flap_guard_is_carried_out_by_reconcile_once_the_time_has_passed(fn):
    fn.outage()
    fn.notify("open")
    fn.age(120)  # a two-minute outage
    fn.recovery()

    close = fn.notify("closed")  # Monitoring sends one close per incident

    assert body(close)["action"] == "none" and "reconcile" in body(close)["reason"]
    assert fn.state()["redirect"]
    assert body(fn.command("/reconcile"))["state"] == "active"  # still inside the guard: kept
    fn.age(301)  # one scheduler period later, past SWITCH_MIN_ACTIVE_SECONDS
    assert body(fn.command("/reconcile"))["action"] == "failback"
    reliability.check_final(fn.state(), "standby")


def test_the_flap_guard_counts_from_when_visitors_were_switched_not_from_creation(fn):
    fn.emulator.set_ready_delay(0)
    fn.outage()
    fn.notify("open")

    annotations = fn.emulator.services(PROJECT, REGION)[SERVICE]["metadata"]["annotations"]
    switched = time.mktime(time.strptime(annotations["switch/activated-at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    created = fn.emulator.services(PROJECT, REGION)[SERVICE]["metadata"]["creationTimestamp"]
    assert abs(switched - time.time()) < 5 and created


# -- reconcile never sends visitors away from a healthy home ---------------------------------


@pytest.mark.parametrize("how", ["a late open whose clean-up failed", "a crash right after create"])
def test_reconcile_removes_a_replica_no_visitor_saw_and_never_finishes_it(fn, how):
    if how == "a late open whose clean-up failed":
        fn.emulator.inject(status=503, count=3, method="DELETE", contains=f"/services/{SERVICE}")
        fn.notify("open")  # home healthy: no traffic; the replica cannot be removed
    else:
        # A replica exists that was never switched to: what a crash right after create leaves.
        fn.command("/failover")
        fn.emulator.annotate(PROJECT, REGION, SERVICE, {"switch/activated-at": None, "switch/pinned": None})
        _redirect_off(fn)
    assert fn.state()["replica"] and not fn.state()["redirect"]
    fn.emulator.clear_faults()
    fn.emulator.clear_requests()

    answer = fn.command("/reconcile")

    assert body(answer)["action"] == "failback" and "no visitor" in body(answer)["reason"]
    reliability.check_final(fn.state(), "standby")
    assert not any(w for w in _redirect_writes(fn) if w)


def test_a_redelivered_open_after_a_cut_short_failback_probes_home_and_switches_nothing(fn):
    fn.outage()
    fn.notify("open")
    fn.age(600)
    fn.recovery()
    _redirect_off(fn)  # a failback killed right after it sent visitors home
    fn.emulator.clear_requests()

    again = fn.notify("open")  # redelivered

    assert body(again)["action"] == "none" and "answers its health check" in body(again)["reason"]
    assert not fn.state()["redirect"]
    assert not any(_redirect_writes(fn))


def test_an_automatic_failback_never_deletes_a_replica_pinned_while_it_probed_home(fn, env):
    env(PROBE_COUNT="1")
    fn.outage()
    fn.notify("open")
    fn.age(600)
    fn.recovery()
    fn.home.delay = 0.5  # the probe is in flight for half a second
    hits = fn.home.hits
    out: list = []
    client = fn.another_client()
    failback = threading.Thread(target=lambda: out.append(fn.notify("closed", client=client)), daemon=True)
    failback.start()
    deadline = time.monotonic() + 5
    while fn.home.hits == hits and time.monotonic() < deadline:
        time.sleep(0.01)

    manual = fn.command("/failover")  # the operator pins it while the close probes home
    failback.join(10)

    assert body(manual)["state"] == "active"
    assert body(out[0])["action"] == "none" and "pinned" in body(out[0])["reason"]
    state = fn.state()
    assert state["pinned"] and state["redirect"]
    reliability.check_final(state, "active")


# -- dates -------------------------------------------------------------------------------------


def test_an_event_dated_far_in_the_future_is_ignored_like_a_stale_one(fn):
    fn.outage()
    fn.emulator.clear_requests()

    answer = fn.notify("open", age=-3600)

    assert body(answer)["action"] == "none" and "in the future" in body(answer)["reason"]
    assert fn.emulator.calls() == []


# -- a failed replica recovers once the image is fixed -----------------------------------------


def test_fixing_the_image_is_enough_to_recover_a_failed_replica(fn, env):
    env(IMAGE="europe-west1-docker.pkg.dev/switch-demo/site/fail:1")  # the emulator fails images named so
    fn.outage()
    failed = fn.notify("open")
    assert failed.status_code == 502 and body(failed)["error"]["code"] == "replica_failed"
    assert "Fix SWITCH_IMAGE" in body(failed)["error"]["message"] and '"force": true' in body(failed)["error"]["message"]

    env(IMAGE="europe-west1-docker.pkg.dev/switch-demo/site/www:2")
    fixed = fn.notify("open")

    assert fixed.status_code == 200, fixed.get_data(as_text=True)
    assert "roll" in [s["step"] for s in body(fixed)["steps"]]
    reliability.check_final(fn.state(), "active")
    assert not reliability.churned(fn.emulator, PROJECT, REGION, SERVICE)  # rolled in place, not re-created


# -- helpers -----------------------------------------------------------------------------------


def _redirect_off(fn) -> None:
    """Switch our rule off behind switch's back (what a cut-short failback leaves)."""
    from switch.traffic.cloudflare import CloudflareRouter

    router = CloudflareRouter(token=CF_TOKEN, zone_id=ZONE, host=reliability.HOST, endpoint=fn.emulator.cloudflare_url,
                              service=SERVICE)
    router.restore()


def _redirect_writes(fn) -> list[bool]:
    return reliability.redirect_writes(fn.emulator)
