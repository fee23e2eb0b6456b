"""``setup``, ``teardown`` and ``status`` end to end against the emulator, over real sockets.

The library (``switch.ops``) and the real CLI (``python -m switch``,
a subprocess) talk to one started Emulator through every SWITCH_*_ENDPOINT.
The emulator validates like Google (a policy naming a missing channel, a
check still used by a policy, a stale IAM etag are all refused), so a run that
succeeds here sent calls in an order Google would accept. What was sent is
read from the emulator's record, what exists from its state.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from switch import config, ops
from switch.ops import marks
from switch.errors import ConfigError, UpstreamError
from switch.emulator import Emulator
from switch.ops import SetupOptions

from tests.conftest import PASSWORD, PROJECT, REGION, ROOT, SERVICE, TOKEN, USER

NUMBER = "123456789012"
FUNCTION_URL = f"https://{REGION}-{PROJECT}.cloudfunctions.net/switch"
TOPIC = f"projects/{PROJECT}/topics/switch-alerts"
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
POLICY_NAME = "switch: www.example.org down"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ENDPOINTS = ("RUN", "MONITORING", "SCHEDULER", "PUBSUB", "RESOURCEMANAGER", "FUNCTIONS", "SECRETMANAGER", "IAM")


@pytest.fixture
def emu():
    with Emulator(project_number=NUMBER, ready_delay=0.05, delete_delay=0.05, cert_delay=0.05) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def wired(env, emu, monkeypatch):
    """Every Google endpoint on the emulator; clients built for it are dropped afterwards."""
    from switch import transport

    env(HOME_URL="https://www.example.org", RETRY_BASE_SECONDS="0",
        **{f"{api}_ENDPOINT": emu.url for api in ENDPOINTS})
    # 100 000 PBKDF2 rounds cost ~60 ms a run; what matters here is that the fingerprint is stable.
    monkeypatch.setattr(marks, "FINGERPRINT_ROUNDS", 10)
    transport._clients.clear()
    yield
    transport._clients.clear()


def settings_with(env, **values) -> config.Settings:
    env(**values)
    return config.from_env(os.environ)


def options(emu, **values) -> SetupOptions:
    return SetupOptions(**{"function_url": FUNCTION_URL, **values})


def run_setup(emu, settings=None, dry_run: bool = False, **values) -> tuple[list, list[str]]:
    lines: list[str] = []
    outcomes = ops.setup(settings or config.from_env(os.environ), options(emu, **values),
                                dry_run=dry_run, out=lines.append)
    return outcomes, lines


def run_teardown(emu, dry_run: bool = False) -> tuple[list, list[str]]:
    lines: list[str] = []
    outcomes = ops.teardown(config.from_env(os.environ), options(emu), dry_run=dry_run, out=lines.append)
    return outcomes, lines


def writes(emu) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.calls() if r.method in WRITES]


def ours(emu, collection: str) -> list[dict]:
    return [i for i in emu.state()[collection] if (i.get("userLabels") or {}).get("managed-by") == "switch"]


def v3(emu, collection: str) -> str:
    return f"{emu.url}v3/projects/{PROJECT}/{collection}"


def seed(emu, collection: str, body: dict) -> dict:
    """Create something switch did not, through the emulated API itself."""
    response = requests.post(v3(emu, collection), json=body)
    assert response.status_code == 200, response.text
    return response.json()


def cli(emu, *args: str) -> subprocess.CompletedProcess:
    """``python -m switch ...`` in a subprocess whose environment points every endpoint at the emulator."""
    env = {k: v for k, v in os.environ.items() if k.startswith("SWITCH_") or k in ("PATH", "HOME", "LANG")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "switch", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


# -- first setup -------------------------------------------------------------------------


def test_first_setup_creates_channel_check_and_policy_with_the_documented_bodies(emu):
    outcomes, lines = run_setup(emu)

    assert [(o.action, o.kind) for o in outcomes] == [
        ("created", "notification channel"), ("created", "uptime check"), ("created", "alert policy")]
    [channel], [check], [policy] = (emu.state()[c] for c in ("notificationChannels", "uptimeCheckConfigs",
                                                             "alertPolicies"))
    assert channel["type"] == "webhook_basicauth" and channel["enabled"] is True
    assert channel["labels"] == {"url": FUNCTION_URL, "username": USER, "password": "******"}
    assert emu.calls("POST", "notificationChannels")[0].json["labels"]["password"] == PASSWORD
    assert channel["userLabels"]["managed-by"] == "switch" and channel["userLabels"]["switch-service"] == SERVICE

    assert (check["period"], check["timeout"]) == ("60s", "10s")
    assert check["monitoredResource"] == {"type": "uptime_url",
                                          "labels": {"project_id": PROJECT, "host": "www.example.org"}}
    assert check["httpCheck"] == {"requestMethod": "GET", "useSsl": True, "validateSsl": True, "path": "/healthz",
                                  "port": 443}
    assert check["selectedRegions"] == ["USA", "EUROPE", "ASIA_PACIFIC"]

    check_id = check["name"].rsplit("/", 1)[1]
    [cond] = policy["conditions"]
    threshold = cond["conditionThreshold"]
    assert cond["name"].startswith(policy["name"] + "/conditions/")
    assert f'metric.label.check_id="{check_id}"' in threshold["filter"]
    assert (threshold["comparison"], threshold["thresholdValue"], threshold["duration"]) == ("COMPARISON_GT", 1, "60s")
    assert threshold["aggregations"][0]["alignmentPeriod"] == "60s"
    assert threshold["aggregations"][0]["crossSeriesReducer"] == "REDUCE_COUNT_FALSE"
    assert policy["notificationChannels"] == [channel["name"]]
    assert (policy["displayName"], policy["combiner"], policy["severity"]) == (POLICY_NAME, "OR", "CRITICAL")
    assert policy["alertStrategy"]["notificationPrompts"] == ["OPENED", "CLOSED"]
    assert "When it opens" in policy["documentation"]["content"]
    assert "setup: 3 created" in lines
    assert all(PASSWORD not in line and TOKEN not in line for line in lines)


def test_lists_are_followed_across_pages(emu):
    # Foreign items fill the first pages; switch's parts are only found by following nextPageToken.
    emu.monitoring.page_size = 1
    for i in range(2):
        seed(emu, "notificationChannels", {"type": "email", "displayName": f"ops {i}",
                                           "labels": {"email_address": f"ops{i}@example.org"}})
    run_setup(emu)
    emu.clear_requests()

    outcomes, _ = run_setup(emu)

    assert [o.action for o in outcomes] == ["unchanged"] * 3
    assert any("pageToken" in r.query for r in emu.calls("GET", "notificationChannels"))
    assert writes(emu) == []


# -- idempotence and updates in place -----------------------------------------------------


def test_a_second_setup_changes_nothing_and_says_so(emu):
    run_setup(emu, scheduler=True)
    emu.clear_requests()

    outcomes, lines = run_setup(emu, scheduler=True)

    assert writes(emu) == []
    assert [o.action for o in outcomes] == ["unchanged"] * 4
    assert "setup: nothing to change (4 unchanged)" in lines


def test_a_longer_alert_duration_patches_the_policy_in_place(emu):
    run_setup(emu)
    [before] = ours(emu, "alertPolicies")
    emu.clear_requests()

    outcomes, _ = run_setup(emu, alert_duration_seconds=180)

    [after] = ours(emu, "alertPolicies")
    assert writes(emu) == [("PATCH", f"/v3/{before['name']}")]
    assert emu.calls("PATCH")[0].query["updateMask"] == "documentation,conditions"
    assert after["name"] == before["name"]
    assert after["conditions"][0]["name"] == before["conditions"][0]["name"]
    assert after["conditions"][0]["conditionThreshold"]["duration"] == "180s"
    assert after["creationRecord"] == before["creationRecord"]
    assert [o.action for o in outcomes] == ["unchanged", "unchanged", "updated"]


def test_a_new_health_path_patches_the_check_in_place_without_a_duplicate(emu, env):
    run_setup(emu)
    [check] = ours(emu, "uptimeCheckConfigs")
    [policy] = ours(emu, "alertPolicies")
    emu.clear_requests()

    outcomes, _ = run_setup(emu, settings_with(env, HEALTH_PATH="/status"))

    assert writes(emu) == [("PATCH", f"/v3/{check['name']}"), ("PATCH", f"/v3/{policy['name']}")]
    [patched] = ours(emu, "uptimeCheckConfigs")
    assert patched["name"] == check["name"] and patched["httpCheck"]["path"] == "/status"
    assert [o.action for o in outcomes] == ["unchanged", "updated", "updated"]


def test_a_new_home_host_replaces_the_check_once_the_policy_lets_go_of_the_old_one(emu, env):
    # The emulator refuses to delete a check a policy still uses: success proves the order.
    run_setup(emu)
    [old] = ours(emu, "uptimeCheckConfigs")

    run_setup(emu, settings_with(env, HOME_URL="https://site.example.net"))

    [new] = ours(emu, "uptimeCheckConfigs")
    [policy] = ours(emu, "alertPolicies")
    assert new["name"] != old["name"] and new["monitoredResource"]["labels"]["host"] == "site.example.net"
    assert f'check_id="{new["name"].rsplit("/", 1)[1]}"' in policy["conditions"][0]["conditionThreshold"]["filter"]
    assert all(r.status == 200 for r in emu.calls())


def test_switching_to_a_pubsub_channel_repoints_the_policy_before_deleting_the_webhook(emu):
    emu.create_topic(TOPIC)
    run_setup(emu)
    [webhook] = ours(emu, "notificationChannels")

    run_setup(emu, channel="pubsub", topic="switch-alerts", project_number=NUMBER)

    [channel] = ours(emu, "notificationChannels")
    assert channel["type"] == "pubsub" and channel["name"] != webhook["name"]
    assert ours(emu, "alertPolicies")[0]["notificationChannels"] == [channel["name"]]
    assert all(r.status == 200 for r in emu.calls())


# -- dry run -----------------------------------------------------------------------------------


def test_dry_run_setup_and_teardown_record_no_write(emu):
    outcomes, lines = run_setup(emu, dry_run=True, scheduler=True)
    assert writes(emu) == [] and emu.calls("GET")
    assert [o.action for o in outcomes] == ["would create"] * 4
    assert "dry run: nothing was sent" in lines[-1]

    run_setup(emu)
    emu.clear_requests()
    run_setup(emu, dry_run=True, alert_duration_seconds=120)
    outcomes, _ = run_teardown(emu, dry_run=True)

    assert writes(emu) == []
    assert [o.action for o in outcomes] == ["would delete"] * 3
    assert len(ours(emu, "alertPolicies")) == 1


# -- teardown ------------------------------------------------------------------------------------


def test_teardown_leaves_a_foreign_channel_check_and_policy_untouched(emu):
    channel = seed(emu, "notificationChannels", {"type": "email", "displayName": "ops",
                                                 "labels": {"email_address": "ops@example.org"}})
    check = seed(emu, "uptimeCheckConfigs", {
        "displayName": "blog", "timeout": "10s", "userLabels": {"team": "web"},
        "monitoredResource": {"type": "uptime_url", "labels": {"project_id": PROJECT, "host": "blog.example.org"}},
        "httpCheck": {"path": "/", "useSsl": True}})
    check_id = check["name"].rsplit("/", 1)[1]
    policy = seed(emu, "alertPolicies", {
        # Same display name as switch's, but someone else's labels: never switch's.
        "displayName": POLICY_NAME, "combiner": "OR", "userLabels": {"managed-by": "terraform"},
        "notificationChannels": [channel["name"]],
        "conditions": [{"displayName": "blog down", "conditionThreshold": {
            "filter": f'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND '
                      f'metric.label.check_id="{check_id}"',
            "comparison": "COMPARISON_GT", "thresholdValue": 1, "duration": "60s"}}]})
    foreign = {"notificationChannels": channel, "uptimeCheckConfigs": check, "alertPolicies": policy}
    run_setup(emu, scheduler=True)
    emu.clear_requests()

    outcomes, lines = run_teardown(emu)

    assert [o.action for o in outcomes] == ["deleted"] * 4
    assert [m for m, _ in writes(emu)] == ["DELETE"] * 4
    state = emu.state()
    for collection, item in foreign.items():
        assert state[collection] == [item], collection  # byte for byte as it was
    assert state["jobs"] == []
    assert "teardown: 4 deleted" in lines


def test_teardown_explains_a_channel_that_someone_elses_policy_still_uses(emu):
    run_setup(emu)
    [channel] = ours(emu, "notificationChannels")
    seed(emu, "alertPolicies", {"displayName": "also pages switch", "notificationChannels": [channel["name"]],
                                "conditions": [{"conditionThreshold": {
                                    "filter": 'metric.type="compute.googleapis.com/instance/cpu/utilization"',
                                    "comparison": "COMPARISON_GT", "thresholdValue": 0.9, "duration": "300s"}}]})

    with pytest.raises(UpstreamError) as caught:
        run_teardown(emu)

    assert caught.value.status_code == 400
    assert "still being referenced" in caught.value.message and "not switch's" in caught.value.message
    assert ours(emu, "notificationChannels") == [channel]


# -- Pub/Sub -----------------------------------------------------------------------------------------


def test_a_pubsub_channel_grants_the_notification_agent_keeping_an_existing_binding(emu):
    emu.create_topic(TOPIC)
    viewer = {"role": "roles/pubsub.viewer", "members": ["user:ops@example.org"]}
    requests.post(f"{emu.url}v1/{TOPIC}:setIamPolicy", json={"policy": {"bindings": [viewer]}})

    outcomes, lines = run_setup(emu, function_url=None, channel="pubsub", topic="switch-alerts")

    [channel] = ours(emu, "notificationChannels")
    assert channel["type"] == "pubsub" and channel["labels"] == {"topic": TOPIC}
    bindings = emu.state()["topics"][TOPIC]["iamPolicy"]["bindings"]
    assert bindings == [viewer, {"role": "roles/pubsub.publisher", "members": [AGENT]}]
    assert emu.calls("GET", f"/v1/projects/{PROJECT}") and emu.calls("GET", ":getIamPolicy")[0].query == {
        "options.requestedPolicyVersion": "3", "alt": "json"}
    assert ("granted", "publisher grant") in [(o.action, o.kind) for o in outcomes]
    assert any("service agent" in line for line in lines)

    emu.clear_requests()
    outcomes, _ = run_setup(emu, function_url=None, channel="pubsub", topic="switch-alerts")
    assert writes(emu) == []
    assert ("unchanged", "publisher grant") in [(o.action, o.kind) for o in outcomes]


def test_a_missing_topic_stops_setup_before_any_write_and_says_how_to_make_it(emu):
    with pytest.raises(ConfigError) as caught:
        run_setup(emu, function_url=None, channel="pubsub", topic="switch-alerts")

    assert caught.value.variable == "--topic" and "does not exist" in caught.value.message
    assert "python -m switch deploy" in caught.value.message and "gcloud pubsub topics create switch-alerts" in \
        caught.value.message
    assert writes(emu) == []


# -- scheduler -------------------------------------------------------------------------------------


def test_scheduler_job_calls_the_function_reconcile_every_five_minutes(emu):
    run_setup(emu, scheduler=True)

    [job] = emu.state()["jobs"]
    assert job["name"] == f"projects/{PROJECT}/locations/{REGION}/jobs/switch-reconcile-{SERVICE}"
    assert job["state"] == "ENABLED" and job["schedule"] == "*/5 * * * *"
    target = job["httpTarget"]
    assert (target["uri"], target["httpMethod"]) == (f"{FUNCTION_URL}/reconcile", "POST")
    assert target["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert target["headers"]["User-Agent"] == "Google-Cloud-Scheduler"
    assert base64.b64decode(target["body"]) == b"{}"
    assert job["description"].startswith("managed-by: switch")


def test_setup_fast_runs_reconcile_every_minute_opens_the_alert_at_once_and_says_what_to_set(emu):
    result = cli(emu, "setup", "--fast", "--function-url", FUNCTION_URL)

    assert result.returncode == 0, result.stderr
    [job] = emu.state()["jobs"]
    assert job["schedule"] == "* * * * *"
    [policy] = ours(emu, "alertPolicies")
    assert policy["conditions"][0]["conditionThreshold"]["duration"] == "0s"
    assert "SWITCH_STANDBY=true and SWITCH_PROBE_FAILOVER_AFTER=2" in result.stdout


def test_setup_fast_without_the_reconcile_job_is_refused_before_any_write(emu):
    result = cli(emu, "setup", "--fast", "--no-scheduler", "--function-url", FUNCTION_URL)

    assert result.returncode == 2
    assert "--fast" in result.stderr and "--no-scheduler" in result.stderr
    assert writes(emu) == []


# -- the replica at teardown ----------------------------------------------------------------------------


def _replica(emu, **annotations):
    from switch.cloudrun import CloudRunService, service_body

    settings = config.from_env(os.environ)
    run = CloudRunService.from_settings(settings)
    run.create(service_body(settings))
    if annotations:
        emu.annotate(PROJECT, REGION, SERVICE, annotations)


def test_teardown_removes_the_warm_standby_no_visitor_is_on(emu):
    _replica(emu)

    outcomes, lines = run_teardown(emu)

    assert ("deleted", "replica") in [(o.action, o.kind) for o in outcomes]
    assert SERVICE not in emu.services(PROJECT, REGION)


def test_teardown_keeps_a_replica_visitors_are_on_says_why_and_exits_3(emu):
    _replica(emu, **{"switch/activated-at": "2026-12-02T10:00:00Z"})

    result = cli(emu, "teardown")

    assert result.returncode == 3, result.stderr
    assert "kept" in result.stdout and "python -m switch failback" in result.stdout
    assert SERVICE in emu.services(PROJECT, REGION)


# -- status ------------------------------------------------------------------------------------------


def test_chain_status_links_the_open_alert_to_the_policy_setup_made(emu):
    run_setup(emu)
    assert "alert open: no" in ops.format_table(ops.chain_status(config.from_env(os.environ)))

    emu.open_alert(POLICY_NAME)

    rows = ops.chain_status(config.from_env(os.environ))
    assert [(r.part, r.state) for r in rows] == [("notification channel", "ok"), ("uptime check", "ok"),
                                                  ("alert policy", "ok"), ("scheduler job", "missing"),
                                                  ("function", "missing"), ("function", "missing")]
    assert "alert open: yes" in rows[2].detail


# -- the real CLI ----------------------------------------------------------------------------------


def test_the_cli_sets_up_then_reruns_unchanged_and_shows_status_with_the_open_alert(emu):
    first = cli(emu, "setup", "--function-url", FUNCTION_URL)

    assert first.returncode == 0, first.stderr
    assert "setup: 4 created" in first.stdout  # the reconcile job too: the CLI makes it unless --no-scheduler
    assert [line.split()[0] for line in first.stdout.splitlines()[:4]] == ["created"] * 4
    assert "scheduler job" in first.stdout.splitlines()[3]
    assert len(ours(emu, "alertPolicies")) == 1

    emu.open_alert(POLICY_NAME)
    emu.clear_requests()
    # Both only read: run them side by side to keep the test quick.
    with ThreadPoolExecutor(2) as pool:
        again, status = pool.map(lambda args: cli(emu, *args),
                                 [("setup", "--function-url", FUNCTION_URL), ("status",)])

    assert again.returncode == 0, again.stderr
    assert "setup: nothing to change (4 unchanged)" in again.stdout
    assert writes(emu) == []
    assert status.returncode == 0, status.stderr
    table = status.stdout.splitlines()
    assert table[0].split() == ["PART", "STATE", "NAME", "DETAIL"]
    parts = [line[:len("notification channel")].strip() for line in table[1:]]
    assert parts[:4] == ["notification channel", "uptime check", "alert policy", "scheduler job"]
    assert "replica" in parts
    assert "alert open: yes" in status.stdout
    assert PASSWORD not in status.stdout + first.stdout + again.stdout


# -- lost answers ------------------------------------------------------------------------------------


def test_a_create_whose_answer_was_lost_is_retried_without_failing_or_leaving_a_duplicate(emu):
    # "after": the create happens, then the client hears 503 and retries it.
    emu.inject(status=503, count=1, kind="after", method="POST", contains="/jobs")
    emu.inject(status=503, count=1, kind="after", method="POST", contains="notificationChannels")

    outcomes, _ = run_setup(emu, scheduler=True)

    # The job has a fixed name: the retry meets it (409) and setup takes it as its own.
    assert [r.status for r in emu.calls("POST", "/jobs")] == [503, 409]
    assert [o.action for o in outcomes] == ["created"] * 4
    assert len(emu.state()["jobs"]) == 1
    # A channel's name is the server's: the retry made a second one, which the next run removes.
    assert len(ours(emu, "notificationChannels")) == 2
    outcomes, _ = run_setup(emu, scheduler=True)
    assert [(o.action, o.kind) for o in outcomes].count(("deleted", "notification channel")) == 1
    assert len(ours(emu, "notificationChannels")) == 1
    assert all(r.status == 200 for r in emu.calls() if r.method == "DELETE")
