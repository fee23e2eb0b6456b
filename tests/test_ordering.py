"""Order and repetition: notifications arrive twice, late, out of order, or at
the same time, and the rules of switch/events.py decide what happens:

1. duplicates are harmless;
2. an event older than SWITCH_MAX_EVENT_AGE_SECONDS (its start for an open, its
   end for a close) is acknowledged and ignored; reconcile decides instead;
3. an open only sends visitors to a replica that has had none if the home
   probe fails too, unless SWITCH_TRUST_ALERTS;
4. a close only fails back past the guards (not a policy cancel, not pinned,
   active long enough, home healthy);
and, for requests running at the same time, the post-checks after the redirect
is switched on (failover) and after the replica is deleted (failback).

The function runs in-process against the emulator; interleavings that depend
on timing are forced by holding one API call until another request is past a
given point.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import reliability
from tests.conftest import ROOT
from tests.reliability import PROJECT, REGION, SERVICE

SERVICE_PATH = rf"/locations/{REGION}/services/{SERVICE}$"
ENTRYPOINT = r"/rulesets/phases/.*/entrypoint$"
# The first redirect write in a zone without redirect rules: switch creates the ruleset.
FIRST_RULE = r"/zones/[0-9a-f]+/rulesets$"


@pytest.fixture
def fn(world, env, client):
    # Timing and order are the subject here: the flap guard keeps its default
    # (SWITCH_MIN_ACTIVE_SECONDS=300), and a test says how long an outage lasted (fn.age).
    with reliability.with_defaults(world, env, client) as function:
        yield function


def creates(fn) -> int:
    return len([r for r in fn.emulator.calls("POST") if r.path.endswith(f"/locations/{REGION}/services")])


def redirect_writes(fn) -> list[bool]:
    return reliability.redirect_writes(fn.emulator)


def body(answer) -> dict:
    return answer.get_json()


# -- 1. duplicates -----------------------------------------------------------------


def test_a_duplicated_open_makes_one_replica(fn):
    fn.outage()

    answers = [fn.notify("open") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [body(a)["action"] for a in answers] == ["failover", "none", "none"]
    assert creates(fn) == 1
    reliability.check_final(fn.state(), "active")


def test_a_duplicated_close_deletes_once(fn):
    fn.outage()
    fn.notify("open")
    fn.age(600)
    fn.recovery()

    answers = [fn.notify("closed") for _ in range(3)]

    assert [body(a)["action"] for a in answers] == ["failback", "none", "none"]
    assert len(fn.emulator.calls("DELETE")) == 1
    reliability.check_final(fn.state(), "standby")


def test_the_same_open_by_webhook_and_by_pubsub_makes_one_replica(fn):
    import functions_framework

    pubsub = functions_framework.create_app("switch_pubsub", str(ROOT / "main.py")).test_client()
    fn.outage()
    note = fn.notification("open")
    message = {"message": {"data": base64.b64encode(json.dumps(note).encode()).decode(), "messageId": "1"}}
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
               "ce-type": "google.cloud.pubsub.topic.v1.messagePublished"}

    webhook = fn.client.post("/", json=note, headers=reliability.BEARER)
    delivered = [pubsub.post("/", json=message, headers=headers) for _ in range(2)]

    assert webhook.status_code == 200 and [d.status_code for d in delivered] == [200, 200]
    assert creates(fn) == 1
    reliability.check_final(fn.state(), "active")


# -- 2. late events ------------------------------------------------------------------


def test_an_open_older_than_the_bound_is_ignored_without_an_api_call(fn, env):
    env(MAX_EVENT_AGE_SECONDS="3600")
    fn.outage()

    answer = fn.notify("open", age=3601)

    assert answer.status_code == 200 and body(answer)["action"] == "none"
    assert "SWITCH_MAX_EVENT_AGE_SECONDS=3600" in body(answer)["reason"]
    assert fn.emulator.calls() == []
    reliability.check_final(fn.state(), "standby")


def test_an_open_just_inside_the_bound_is_acted_on(fn, env):
    env(MAX_EVENT_AGE_SECONDS="3600")
    fn.outage()

    answer = fn.notify("open", age=3500)

    assert body(answer)["action"] == "failover"
    reliability.check_final(fn.state(), "active")


def test_a_late_close_is_ignored_and_reconcile_decides(fn, env):
    env(MAX_EVENT_AGE_SECONDS="3600")
    fn.outage()
    fn.notify("open")
    fn.age(600)
    fn.recovery()

    late = fn.notify("closed", age=9000, ended_age=3700)

    assert body(late)["action"] == "none" and "SWITCH_MAX_EVENT_AGE_SECONDS" in body(late)["reason"]
    reliability.check_final(fn.state(), "active")
    assert body(fn.command("/reconcile"))["action"] == "failback"
    reliability.check_final(fn.state(), "standby")


def test_a_close_without_an_end_is_dated_by_its_start(fn, env):
    env(MAX_EVENT_AGE_SECONDS="3600")
    fn.outage()
    fn.notify("open")
    fn.recovery()
    note = fn.notification("closed", age=4000)
    note["incident"]["ended_at"] = None

    answer = fn.client.post("/", json=note, headers=reliability.BEARER)

    assert body(answer)["action"] == "none"
    reliability.check_final(fn.state(), "active")


def test_an_event_from_a_little_in_the_future_is_acted_on(fn):
    """Clocks differ by seconds: an event dated ahead of us is not refused."""
    fn.outage()

    answer = fn.notify("open", age=-30)

    assert body(answer)["action"] == "failover"
    reliability.check_final(fn.state(), "active")


# -- 3. an open while home is healthy -------------------------------------------------------


def test_a_close_that_overtook_its_open_leaves_standby(fn):
    fn.recovery()  # home is back: the incident is over

    close = fn.notify("closed", "0.overtaken")
    late_open = fn.notify("open", "0.overtaken")

    assert body(close)["action"] == "none"
    assert late_open.status_code == 200 and body(late_open)["action"] == "none"
    assert "home site answers its health check" in body(late_open)["reason"]
    assert True not in redirect_writes(fn)
    reliability.check_final(fn.state(), "standby")


def test_an_open_redelivered_after_its_close_within_the_bound_does_nothing(fn):
    fn.outage()
    fn.notify("open", "0.redelivered")
    fn.age(600)
    fn.recovery()
    fn.notify("closed", "0.redelivered")
    writes_before = len(redirect_writes(fn))

    again = fn.notify("open", "0.redelivered", age=1800)

    assert body(again)["action"] == "none" and body(again)["state"] == "standby"
    assert True not in redirect_writes(fn)[writes_before:]
    reliability.check_final(fn.state(), "standby")


def test_with_trust_alerts_an_open_is_acted_on_though_home_answers(fn, env):
    env(TRUST_ALERTS="true")
    fn.recovery()

    answer = fn.notify("open")

    assert body(answer)["action"] == "failover"
    assert not any(s["step"] == "probe" for s in body(answer)["steps"])
    reliability.check_final(fn.state(), "active")


def test_a_real_outage_after_an_earlier_close_fails_over(fn):
    """A close for an old incident, then a new open while home is dark: act on the open."""
    fn.notify("closed", "0.old")
    fn.outage()

    answer = fn.notify("open", "0.new")

    assert body(answer)["action"] == "failover"
    reliability.check_final(fn.state(), "active")


# -- 4. the failback guards -------------------------------------------------------------------


def test_a_policy_cancel_close_keeps_the_replica(fn):
    fn.outage()
    fn.notify("open")
    fn.recovery()
    note = fn.notification("closed")
    note["incident"]["summary"] = ("Incident cancelled because the alert policy condition was deleted or modified "
                                   "while incident was active.")

    answer = fn.client.post("/", json=note, headers=reliability.BEARER)

    assert body(answer)["action"] == "none" and "edited or deleted" in body(answer)["reason"]
    reliability.check_final(fn.state(), "active")


def test_a_close_while_home_is_still_dark_keeps_the_replica(fn):
    fn.outage()
    fn.notify("open")
    fn.age(600)

    answer = fn.notify("closed")

    assert body(answer)["action"] == "none" and "not healthy" in body(answer)["reason"]
    reliability.check_final(fn.state(), "active")


# -- concurrent requests --------------------------------------------------------------------


def run(fn, call) -> tuple[threading.Thread, list]:
    """Run ``call(client)`` on a thread with a test client of its own; the answer lands in the list."""
    out: list = []
    client = fn.another_client()
    thread = threading.Thread(target=lambda: out.append(call(client)), daemon=True)
    thread.start()
    return thread, out


def test_a_failback_that_deletes_during_the_redirect_switch_leaves_no_redirect(fn):
    """failover has checked the replica is ready and public and is about to switch traffic on;
    failback deletes the replica meanwhile. The failover's look after its switch sees the
    replica gone and switches traffic off again."""
    fn.outage()
    held = fn.chaos.hold(FIRST_RULE, "POST")
    failover, answers = run(fn, lambda c: fn.notify("open", client=c))
    held.wait()
    fn.recovery()

    failback = fn.notify("closed")
    held.release()
    failover.join(5)

    assert body(failback)["action"] == "failback"
    assert answers[0].status_code == 502 and "concurrent failback" in body(answers[0])["error"]["message"]
    assert redirect_writes(fn) == [True, False]
    reliability.check_final(fn.state(), "standby")


def test_a_redirect_switched_on_between_delete_and_post_check_is_switched_off(fn):
    """failover switches traffic on while failback's delete is in flight and sees the replica
    still there; failback's look after its delete finds the redirect on and turns it off."""
    fn.outage()
    traffic = fn.chaos.hold(FIRST_RULE, "POST")
    failover, failover_answer = run(fn, lambda c: fn.notify("open", client=c))
    traffic.wait()
    fn.recovery()
    delete = fn.chaos.hold(SERVICE_PATH, "DELETE")
    failback, failback_answer = run(fn, lambda c: fn.notify("closed", client=c))
    delete.wait()

    traffic.release()
    failover.join(5)
    delete.release()
    failback.join(5)

    assert failover_answer[0].status_code == 200 and body(failover_answer[0])["state"] == "active"
    steps = [s["step"] for s in body(failback_answer[0])["steps"]]
    assert steps[-2:] == ["delete", "traffic"], steps
    assert redirect_writes(fn) == [True, False]
    reliability.check_final(fn.state(), "standby")


def test_a_manual_failover_during_a_late_opens_probe_is_not_undone(fn):
    """A late open (home healthy) is creating a replica it will remove again; meanwhile the
    operator fails over by hand, which pins that replica. The open must leave it."""
    fn.recovery()
    fn.emulator.set_ready_delay(0.4)
    late, late_answer = run(fn, lambda c: fn.notify("open", client=c))
    deadline = time.monotonic() + 5
    while SERVICE not in fn.emulator.services(PROJECT, REGION) and time.monotonic() < deadline:
        time.sleep(0.01)

    manual = fn.command("/failover")
    late.join(5)

    assert manual.status_code == 200 and body(manual)["state"] == "active"
    assert late_answer[0].status_code == 200, late_answer[0].get_data(as_text=True)
    assert body(late_answer[0])["state"] == "active" and "pinned" in body(late_answer[0])["reason"]
    state = fn.state()
    assert state["pinned"]
    reliability.check_final(state, "active")


@pytest.mark.parametrize("home_up", [False, True], ids=["home dark", "home healthy"])
def test_opens_and_closes_at_the_same_time_end_as_home_says(fn, home_up):
    """With home dark every close is refused (keep the replica); with home healthy every open
    finds home up (no traffic). Either way the end state follows home, not the race."""
    fn.outage()
    if home_up:
        fn.recovery()
    pool = ThreadPoolExecutor(6)
    clients = [fn.another_client() for _ in range(6)]
    try:
        for round_ in range(4):
            kinds = ["open", "closed", "open", "closed", "open", "closed"]
            futures = [pool.submit(fn.notify, kind, f"0.race{round_}", clients[i]) for i, kind in enumerate(kinds)]
            statuses = [f.result().status_code for f in futures]
            assert set(statuses) <= {200, 502}, statuses
            reliability.check_safe(fn.state())
    finally:
        pool.shutdown()
    # Whatever the race left, the next notification of the same kind converges.
    final = fn.notify("closed" if home_up else "open", "0.race-final")
    assert final.status_code == 200
    reliability.check_final(fn.state(), "standby" if home_up else "active")
