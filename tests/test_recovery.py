"""Recovery in seconds: public at creation, the warm standby, and detection by probe.

Through the functions-framework app against the emulator over real sockets.
Timing is the subject: the flap guard, the public timeout and the probe keep
their defaults except where a test says otherwise.
"""

from __future__ import annotations

import time

import pytest
import requests

from switch.cloudrun import PROBE_FAILURES
from tests import reliability
from tests.reliability import PROJECT, REGION, SERVICE

IMAGE_V2 = "europe-west1-docker.pkg.dev/reliability/site/www:v2"
SERVICES = f"/locations/{REGION}/services"


@pytest.fixture
def fn(world, env, client):
    with reliability.with_defaults(world, env, client, PROBE_COUNT=None, PROBE_TIMEOUT_SECONDS=None,
                                   POLL_INTERVAL_SECONDS=None) as function:
        yield function


@pytest.fixture
def standby(fn, env):
    """SWITCH_STANDBY=true, and the standby made by a reconcile round and Ready."""
    env(STANDBY="true")
    answer = fn.command("/reconcile")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["action"] == "standby"
    assert _wait_ready(fn)
    fn.emulator.clear_requests()
    return fn


def _wait_ready(fn, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn.state()["ready"]:
            return True
        time.sleep(0.02)
    return False


def run_writes(fn) -> list:
    return [r for r in fn.emulator.calls() if SERVICES in r.path and r.method in ("POST", "PUT", "DELETE")]


def iam_writes(fn) -> list:
    return fn.emulator.calls("POST", ":setIamPolicy")


def redirect_writes(fn) -> list:
    return [r for r in fn.emulator.calls() if "client/v4" in r.path and r.method in ("POST", "PUT", "PATCH")]


def annotations(fn) -> dict:
    service = fn.emulator.services(PROJECT, REGION).get(SERVICE) or {}
    return (service.get("metadata") or {}).get("annotations") or {}


def timed(call):
    start = time.monotonic()
    answer = call()
    return answer, time.monotonic() - start


# -- on demand: public at creation --------------------------------------------------


def test_a_fresh_failover_answers_within_the_ready_delay_plus_a_second_with_no_iam_write(fn):
    fn.emulator.set_ready_delay(3)
    fn.outage()

    answer, took = timed(lambda: fn.notify("open"))

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["action"] == "failover"
    assert 3 <= took < 4, took
    assert iam_writes(fn) == []
    state = fn.state()
    reliability.check_final(state, "active")
    # A visitor gets the site, not Google's 403: public without any grant.
    assert requests.get(state["url"], timeout=5).status_code == 200


def test_where_the_invoker_check_must_stay_the_grant_is_written_before_ready_is_seen(fn):
    fn.emulator.set_ready_delay(3)
    fn.emulator.run.require_invoker_iam = True
    fn.outage()

    answer, took = timed(lambda: fn.notify("open"))

    assert answer.status_code == 200, answer.get_json()
    assert took < 4, took
    calls = fn.emulator.calls()
    grant = next(i for i, r in enumerate(calls) if r.path.endswith(":setIamPolicy"))
    created = next(i for i, r in enumerate(calls) if r.method == "POST" and r.path.endswith(SERVICES) and r.status == 200)
    polls = [i for i, r in enumerate(calls) if r.method == "GET" and r.path.endswith(f"{SERVICES}/{SERVICE}")]
    assert created < grant < max(polls)  # the grant went out while Cloud Run was still starting the container
    assert "allUsers is granted instead" in " ".join(s["detail"] for s in answer.get_json()["steps"])
    reliability.check_final(fn.state(), "active")


# -- the warm standby -----------------------------------------------------------------


def test_a_standby_failover_switches_traffic_within_a_second_with_no_create_and_no_iam_write(standby):
    fn = standby
    fn.outage()

    answer, took = timed(lambda: fn.notify("open"))

    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["action"] == "failover"
    assert took < 1.0, (took, body["steps"])
    assert [r.method for r in run_writes(fn)] == ["PUT"]  # the mark only: no create, no new revision
    assert iam_writes(fn) == []
    reliability.check_final(fn.state(), "active")
    # The incident note went with the mark: one write.
    assert annotations(fn)["switch/incident"] == "0.reliability"
    # ... and the standby was woken with one request of its own before visitors came.
    warmed = [r for r in fn.emulator.requests if r.kind == "replica" and r.headers.get("User-Agent") == "switch-warm"]
    assert len(warmed) == 1


def test_failback_keeps_the_standby_idle_and_the_next_outage_starts_clean(standby):
    fn = standby
    fn.outage()
    assert fn.notify("open").get_json()["action"] == "failover"
    uid = fn.emulator.services(PROJECT, REGION)[SERVICE]["metadata"]["uid"]
    fn.recovery()
    fn.age(600)  # past the flap guard's default 300 s

    answer = fn.notify("closed")

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["action"] == "failback"
    state = fn.state()
    assert state["replica"] and state["ready"] and state["public"] and not state["serving"]
    assert not state["redirect"]
    assert fn.emulator.calls("DELETE") == []
    assert fn.emulator.services(PROJECT, REGION)[SERVICE]["metadata"]["uid"] == uid
    assert not {"switch/activated-at", "switch/incident", "switch/close-pending"} & set(annotations(fn))


def test_the_flap_guard_holds_a_standby_failback_too(standby):
    fn = standby
    fn.outage()
    fn.notify("open")
    fn.recovery()

    answer = fn.notify("closed")

    assert answer.get_json()["action"] == "none" and answer.get_json()["refused"]
    assert fn.state()["redirect"] and fn.state()["serving"]


def test_a_manual_failover_pins_the_standby_until_a_manual_failback(standby):
    fn = standby

    assert fn.command("/failover").get_json()["action"] == "failover"
    assert annotations(fn)["switch/pinned"] == "true"
    fn.age(600)
    assert fn.notify("closed").get_json()["refused"]  # a close never takes a pinned replica away
    assert fn.state()["redirect"]

    back = fn.command("/failback").get_json()

    assert back["action"] == "failback"
    state = fn.state()
    assert state["replica"] and not state["serving"] and not state["pinned"] and not state["redirect"]


def test_an_open_with_home_healthy_switches_nothing_and_keeps_the_standby(standby, env):
    fn = standby
    env(PROBE_COUNT="1")  # one good answer is enough to say "not down"; speed only
    fn.emulator.open_alert(reliability.POLICY, PROJECT)  # the alert says down, home answers

    answer = fn.notify("open")

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["action"] == "none" and body["refused"]
    assert "warm standby waits" in body["reason"]
    assert run_writes(fn) == [] and redirect_writes(fn) == []
    state = fn.state()
    assert state["replica"] and not state["serving"] and not state["redirect"]


def test_reconcile_recreates_a_deleted_standby(standby):
    fn = standby
    requests.delete(f"{fn.emulator.url}v1/projects/{PROJECT}/locations/{REGION}/services/{SERVICE}", timeout=5)
    assert not fn.state()["replica"]

    answer = fn.command("/reconcile")

    assert answer.get_json()["action"] == "standby"
    assert _wait_ready(fn)
    state = fn.state()
    assert state["public"] and not state["serving"] and not state["redirect"]


def test_reconcile_rolls_the_standby_to_a_new_image_without_touching_the_redirect(standby, env):
    fn = standby
    env(IMAGE=IMAGE_V2)

    answer = fn.command("/reconcile")

    body = answer.get_json()
    assert body["action"] == "standby", body
    assert [s["step"] for s in body["steps"] if s["changed"]] == ["roll"]
    assert redirect_writes(fn) == []
    assert _wait_ready(fn)
    service = fn.emulator.services(PROJECT, REGION)[SERVICE]
    assert service["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V2
    assert "-00002-" in service["status"]["latestReadyRevisionName"]
    # In step now: the next round changes nothing.
    fn.emulator.clear_requests()
    assert fn.command("/reconcile").get_json()["changed"] is False
    assert run_writes(fn) == []


def test_a_standby_with_visitors_on_it_is_not_rolled_until_it_is_given_back(standby, env):
    fn = standby
    fn.outage()
    fn.notify("open")
    env(IMAGE=IMAGE_V2)

    fn.command("/reconcile")

    service = fn.emulator.services(PROJECT, REGION)[SERVICE]
    assert service["spec"]["template"]["spec"]["containers"][0]["image"] != IMAGE_V2
    assert fn.state()["redirect"]


def test_status_shows_the_standby_and_its_revision(standby):
    answer = standby.client.get("/status", headers=reliability.BEARER)

    body = answer.get_json()
    assert body["standby"] is True
    assert body["replica"]["role"] == "warm standby"
    assert body["replica"]["revision"].startswith(f"{SERVICE}-00001-")
    assert body["replica"]["serving"] is False and body["state"] == "standby"


# -- detection by probe -----------------------------------------------------------------


@pytest.fixture
def probing(standby, env):
    env(PROBE_FAILOVER_AFTER="2")
    return standby


def _forget_process_state():
    """A new instance between rounds: nothing of the last round is in memory."""
    from switch import controllers
    from switch.failover import Switch

    controllers.reset()
    Switch._public_seen.clear()


def test_the_second_failed_round_fails_over_without_any_alert(probing):
    fn = probing
    fn.home.go_down()  # no alert is open

    first = fn.command("/reconcile").get_json()
    assert first["action"] == "standby" and "round 1 of 2" in first["reason"]
    assert annotations(fn)[PROBE_FAILURES] == "1"
    assert not fn.state()["redirect"]
    _forget_process_state()

    second = fn.command("/reconcile").get_json()

    assert second["action"] == "failover", second
    assert "without waiting for the alert" in second["reason"]
    reliability.check_final(fn.state(), "active")
    assert PROBE_FAILURES not in annotations(fn)
    assert [r for r in run_writes(fn) if r.method == "POST"] == []


def test_one_failed_round_then_a_healthy_one_does_not_fail_over(probing):
    fn = probing
    fn.home.go_down()
    fn.command("/reconcile")
    fn.home.come_back()

    answer = fn.command("/reconcile").get_json()

    assert answer["action"] == "standby"
    assert PROBE_FAILURES not in annotations(fn)  # the count starts over
    fn.home.go_down()
    assert fn.command("/reconcile").get_json()["action"] == "standby"  # round 1 again, not 2
    state = fn.state()
    assert not state["redirect"] and not state["serving"]


def test_after_a_failover_by_probe_failback_still_waits_for_the_flap_guard(probing):
    fn = probing
    fn.home.go_down()
    fn.command("/reconcile")
    fn.command("/reconcile")
    fn.home.come_back()

    held = fn.command("/reconcile").get_json()
    assert held["action"] == "none" and "flap" in held["reason"]
    fn.age(600)

    back = fn.command("/reconcile").get_json()

    assert back["action"] == "failback", back
    state = fn.state()
    assert state["replica"] and not state["serving"] and not state["redirect"]


def test_probe_detection_without_the_standby_is_a_configuration_error(fn, env):
    env(PROBE_FAILOVER_AFTER="2")

    answer = fn.command("/reconcile")

    assert answer.status_code == 500
    assert fn.emulator.calls() == []  # nothing was looked at, nothing changed


def test_a_redirect_left_on_a_standby_by_a_failover_cut_short_is_switched_off(standby):
    fn = standby
    from switch import config
    from switch.traffic import router_for

    router_for(config.load()).send_to(fn.state()["url"])  # the redirect went on; the mark never came
    assert fn.state()["redirect"] and not fn.state()["serving"]

    answer = fn.command("/reconcile").get_json()

    assert answer["changed"]
    state = fn.state()
    assert state["replica"] and not state["redirect"]
