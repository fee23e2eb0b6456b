"""End to end over real sockets: the emulator, and the function served by
functions-framework in its own process, driven over HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from switch.drill import HOST, PROJECT, REGION, SERVICE, TOKEN, ZONE, Function, notification
from switch.emulator import Emulator, HomeSite
from switch.traffic.cloudflare import rule_ref

CF_TOKEN = "e2e-cloudflare-token"


@pytest.fixture(scope="module")
def world():
    emulator = Emulator(ready_delay=0.3, delete_delay=0.3, cloudflare_token=CF_TOKEN).start()
    home = HomeSite().start()
    function = Function({
        "SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_SERVICE": SERVICE,
        "SWITCH_IMAGE": "europe-west1-docker.pkg.dev/switch-drill/site/www:1", "SWITCH_TOKEN": TOKEN,
        "SWITCH_RUN_ENDPOINT": emulator.url, "SWITCH_MONITORING_ENDPOINT": emulator.url,
        "SWITCH_CLOUDFLARE_ENDPOINT": emulator.cloudflare_url, "SWITCH_CLOUDFLARE_TOKEN": CF_TOKEN,
        "SWITCH_CLOUDFLARE_ZONE_ID": ZONE, "SWITCH_CLOUDFLARE_HOST": HOST,
        "SWITCH_HOME_URL": home.url, "SWITCH_PROBE_COUNT": "2", "SWITCH_PROBE_INTERVAL_SECONDS": "0",
        "SWITCH_MIN_ACTIVE_SECONDS": "0", "SWITCH_POLL_INTERVAL_SECONDS": "0.1", "SWITCH_API_RETRIES": "5",
        "SWITCH_RETRY_BASE_SECONDS": "0.05",
        "SWITCH_READY_TIMEOUT_SECONDS": "20",
    })
    function.start()
    yield emulator, home, function
    function.stop()
    home.stop()
    emulator.stop()


@pytest.fixture
def emulator(world):
    """A clean standby with the home site dark, as during an outage."""
    emulator, home, function = world
    emulator.clear_faults()
    function.call("POST", "/failback", {"force": True})
    time.sleep(0.35)  # let the emulated background deletion finish
    home.go_down()
    emulator.clear_requests()
    yield emulator
    emulator.clear_faults()
    home.come_back()


@pytest.fixture
def home(world):
    return world[1]


@pytest.fixture
def function(world):
    return world[2]


OUR_REF = rule_ref(SERVICE, HOST)


def alert(state: str, incident: str = "0.e2e") -> dict:
    return notification(state, incident, int(time.time()) - 60, int(time.time()) if state == "closed" else None)


def creates(emulator) -> int:
    """Create calls that the emulator accepted."""
    return len([r for r in emulator.calls("POST", "/services") if r.status == 200 and ":" not in r.path])


def public(emulator) -> bool:
    """Anyone may visit: Cloud Run checks no invoker IAM (switch's way), or allUsers holds the invoker role."""
    service = emulator.services(PROJECT, REGION)[SERVICE]
    if service["metadata"]["annotations"].get("run.googleapis.com/invoker-iam-disabled") == "true":
        return True
    policy = emulator.iam_policy(PROJECT, REGION, SERVICE)
    return any(b["role"] == "roles/run.invoker" and "allUsers" in b["members"] for b in policy.get("bindings", []))


def test_open_makes_a_ready_public_replica_with_traffic_on_it(emulator, function):
    answer = function.call("POST", "/", alert("open"))

    assert answer.status_code == 200, answer.text
    service = emulator.services(PROJECT, REGION)[SERVICE]
    ready = {c["type"]: c["status"] for c in service["status"]["conditions"]}["Ready"]
    assert ready == "True" and public(emulator)
    assert service["metadata"]["labels"]["managed-by"] == "switch"
    visitor = requests.get(f"{emulator.url}_edge/{HOST}/x", allow_redirects=True, timeout=5)
    assert visitor.status_code == 200 and f"_run/{REGION}/{SERVICE}/x" in visitor.url


def test_a_duplicate_open_makes_no_second_replica_and_one_get(emulator, function):
    function.call("POST", "/", alert("open"))
    emulator.clear_requests()

    answer = function.call("POST", "/", alert("open")).json()

    assert answer["action"] == "none" and answer["changed"] is False
    google_calls = [r for r in emulator.calls() if "client/v4" not in r.path]
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in google_calls] == [("GET", SERVICE)]


def test_ten_concurrent_opens_end_with_exactly_one_replica(emulator, function):
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: function.call("POST", "/", alert("open", f"0.c{i}")), range(10)))

    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers if a.status_code != 200]
    assert creates(emulator) == 1
    assert list(emulator.services(PROJECT, REGION)) == [SERVICE] and public(emulator)
    assert all(a.json()["state"] == "active" for a in answers)


def test_close_removes_the_replica_and_the_redirect(emulator, function, home):
    function.call("POST", "/", alert("open"))
    home.come_back()

    answer = function.call("POST", "/", alert("closed"))

    assert answer.status_code == 200 and answer.json()["action"] == "failback"
    assert SERVICE not in emulator.services(PROJECT, REGION)
    assert not any(r["enabled"] for r in emulator.redirect_rules(ZONE) if r["ref"] == OUR_REF)


def test_a_503_burst_is_retried_and_converges_with_one_replica(emulator, function):
    emulator.inject(status=503, count=3)

    answer = function.call("POST", "/", alert("open"))

    assert answer.status_code == 200, answer.text
    assert creates(emulator) == 1 and public(emulator)
    assert len([r for r in emulator.calls() if r.status == 503]) == 3


def test_a_429_burst_on_create_is_retried_without_a_duplicate(emulator, function):
    emulator.inject(status=429, count=2, method="POST", contains="/services", retry_after=0.05)

    answer = function.call("POST", "/", alert("open"))

    assert answer.status_code == 200, answer.text
    assert creates(emulator) == 1


def test_a_create_that_succeeded_but_answered_503_is_not_duplicated(emulator, function):
    emulator.inject(kind="after", status=503, count=1, method="POST", contains=f"/locations/{REGION}/services")

    answer = function.call("POST", "/", alert("open"))

    assert answer.status_code == 200, answer.text
    assert list(emulator.services(PROJECT, REGION)) == [SERVICE]
    assert [r.status for r in emulator.calls("POST", "/services") if ":" not in r.path] == [503, 409]


def test_a_failing_revision_is_reported_with_googles_message_and_gets_no_traffic(world):
    emulator, home, _ = world
    broken = Function({**_env(world), "SWITCH_IMAGE": "europe-west1-docker.pkg.dev/p/site/fail:1",
                       "SWITCH_SERVICE": "broken-replica"})
    broken.start()
    notification = alert("open")
    notification["incident"]["policy_user_labels"]["switch-service"] = "broken-replica"  # its own policy
    try:
        answer = broken.call("POST", "/", notification)
    finally:
        broken.stop()

    assert answer.status_code == 502
    assert "failed to start and listen on the port" in answer.json()["error"]["message"]
    assert not any(r["enabled"] and "broken-replica" in str(r) for r in emulator.redirect_rules(ZONE))


def _env(world) -> dict:
    return dict(world[2].env)


def test_the_function_refuses_a_stranger_over_the_wire(emulator, function):
    answer = requests.post(f"{function.url}/", json=alert("open"), timeout=5)

    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Basic realm="switch"'
    assert emulator.calls() == []


def test_status_without_credentials_answers_401_and_with_them_the_state(emulator, function):
    stranger = requests.get(f"{function.url}/status", timeout=5)
    operator = function.call("GET", "/status")

    assert stranger.status_code == 401 and stranger.json()["error"]["code"] == "unauthorized"
    assert operator.status_code == 200 and operator.json()["state"] == "standby"


def test_other_redirect_rules_are_byte_for_byte_unchanged_after_failover_and_failback(emulator, function, home):
    foreign = [{"ref": "old_blog", "description": "someone else's", "enabled": True,
                "expression": '(http.request.uri.path eq "/blog")', "action": "redirect",
                "action_parameters": {"from_value": {"target_url": {"value": "https://blog.example.org"},
                                                     "status_code": 301}}},
               {"ref": "shop", "enabled": False, "expression": '(http.host eq "shop.example.org")',
                "action": "redirect", "action_parameters": {"from_value": {
                    "target_url": {"value": "https://example.org/shop"}, "status_code": 308}}}]
    entrypoint = f"{emulator.cloudflare_url}zones/{ZONE}/rulesets/phases/http_request_dynamic_redirect/entrypoint"
    existing = [r for r in emulator.redirect_rules(ZONE) if r["ref"] == OUR_REF]
    for rule in existing:  # keep the rule switch owns, as a real zone would after earlier failovers
        rule.pop("id"), rule.pop("version", None), rule.pop("last_updated", None)
    answer = requests.put(entrypoint, json={"rules": foreign + existing}, timeout=5,
                          headers={"Authorization": f"Bearer {CF_TOKEN}"})
    assert answer.status_code == 200, answer.text
    before = [r for r in emulator.redirect_rules(ZONE) if r["ref"] != OUR_REF]

    function.call("POST", "/", alert("open"))
    during = emulator.redirect_rules(ZONE)
    home.come_back()
    function.call("POST", "/", alert("closed"))
    after = emulator.redirect_rules(ZONE)

    assert [r for r in during if r["ref"] != OUR_REF] == before
    assert [r for r in after if r["ref"] != OUR_REF] == before
    assert [r["ref"] for r in during][:2] == ["old_blog", "shop"]  # their order too


def test_while_redirected_the_health_path_still_reaches_home(emulator, function):
    function.call("POST", "/", alert("open"))

    page = requests.get(f"{emulator.url}_edge/{HOST}/pricing", allow_redirects=False, timeout=5)
    health = requests.get(f"{emulator.url}_edge/{HOST}/healthz", allow_redirects=False, timeout=5)

    assert page.status_code == 302 and "site-replica/pricing" in page.headers["Location"]
    assert health.status_code != 302 and "Location" not in health.headers
