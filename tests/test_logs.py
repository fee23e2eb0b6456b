"""Structured logs: what Cloud Logging reads from the function's stdout.

The contract:
- every line switch writes is one JSON object with Cloud Logging's
  ``severity`` (a level it knows) and ``message``;
- every request (and every Pub/Sub message) ends with exactly one line
  carrying its ``outcome`` and ``duration_ms``; when it carried a
  notification, that line names the ``incident``, and when an action was
  decided or attempted, the ``action``, on failure as on success;
- retries against an API are events too, written the same way;
- no line carries a secret (tests/test_credentials.py reads every path for that).
"""

from __future__ import annotations

import base64
import json

import pytest

from tests import reliability
from tests.conftest import ROOT, TOKEN
from tests.reliability import REGION, SERVICE

SEVERITIES = {"DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"}
SERVICE_PATH = rf"/locations/{REGION}/services/{SERVICE}$"


@pytest.fixture
def fn(world, env, client):
    emulator, home, chaos = world
    reliability.configure(env, emulator, home, API_RETRIES="1")
    before = reliability.fresh(emulator, home, chaos)
    yield reliability.InProcess(client, emulator, home, chaos)
    reliability.faults_since(chaos, before)


def lines(capsys) -> list[dict]:
    out = capsys.readouterr().out
    parsed = []
    for raw in out.splitlines():
        record = json.loads(raw)  # every line is JSON, or this fails
        assert record["severity"] in SEVERITIES and isinstance(record["message"], str) and record["message"]
        assert record["component"] == "switch"
        parsed.append(record)
    return parsed


def final(records: list[dict]) -> dict:
    """The request's one closing line: the only one with an outcome and a duration."""
    closing = [r for r in records if "outcome" in r and "duration_ms" in r]
    assert len(closing) == 1, records
    assert isinstance(closing[0]["duration_ms"], int) and closing[0]["duration_ms"] >= 0
    assert closing[0] is records[-1]
    return closing[0]


def test_a_failover_by_notification_is_one_line_with_incident_action_outcome_duration(fn, capsys):
    fn.outage()

    answer = fn.notify("open", "0.logs-open")

    line = final(lines(capsys))
    assert answer.status_code == 200
    assert (line["severity"], line["incident"], line["action"], line["outcome"]) == ("INFO", "0.logs-open",
                                                                                     "failover", "ok")
    assert line["trigger"] == "webhook" and line["state"] == "active"


def test_a_failback_by_notification_is_one_line_too(fn, capsys):
    fn.outage()
    fn.notify("open", "0.logs-close")
    fn.recovery()
    capsys.readouterr()

    fn.notify("closed", "0.logs-close")

    line = final(lines(capsys))
    assert (line["incident"], line["action"], line["outcome"]) == ("0.logs-close", "failback", "ok")


def test_a_failed_failover_names_the_incident_and_the_action(fn, capsys):
    fn.outage()
    fn.emulator.inject(status=503, count=2, method="POST", contains=f"/locations/{REGION}/services")

    answer = fn.notify("open", "0.logs-failed")

    line = final(lines(capsys))
    assert answer.status_code == 502
    assert (line["severity"], line["incident"], line["action"], line["outcome"]) == ("ERROR", "0.logs-failed",
                                                                                     "failover", "upstream")


def test_a_failed_manual_command_names_the_action(fn, capsys):
    fn.emulator.inject(status=500, count=2, method="GET", contains=f"/services/{SERVICE}")

    answer = fn.command("/failback", {"force": True})

    line = final(lines(capsys))
    assert answer.status_code == 502
    assert (line["action"], line["outcome"]) == ("failback", "upstream") and "incident" not in line


def test_an_ignored_notification_says_why_with_a_duration(fn, capsys):
    fn.notify("open", "0.logs-stale", age=10 * 86400)

    line = final(lines(capsys))
    assert (line["incident"], line["action"], line["outcome"]) == ("0.logs-stale", "none", "stale")


@pytest.mark.parametrize("path,method,outcome", [("/status", "GET", "ok"), ("/reconcile", "POST", "ok"),
                                                 ("/nowhere", "POST", "not_found"), ("/", "GET", "method_not_allowed"),
                                                 ("/failover", "POST", "unsupported_media_type")])
def test_every_request_ends_with_one_line(fn, capsys, path, method, outcome):
    body = {"json": {}} if path == "/reconcile" else {}
    answer = fn.client.open(path, method=method, headers=reliability.BEARER, **body)

    line = final(lines(capsys))
    assert line["outcome"] == outcome, (answer.status_code, line)


def test_a_refused_request_is_one_warning_without_the_request(fn, capsys):
    answer = fn.client.post(f"/?auth_token={TOKEN}x", json={"incident": {"incident_id": "0.x", "state": "open"}})

    line = final(lines(capsys))
    assert answer.status_code == 401
    assert (line["severity"], line["outcome"], line["status"]) == ("WARNING", "unauthorized", 401)
    assert "0.x" not in json.dumps(line) and "incident" not in line  # the body was never read


def test_an_api_retry_is_a_json_line_before_the_closing_one(fn, capsys):
    fn.outage()
    fn.emulator.inject(status=503, count=1, method="POST", contains=f"/zones/{reliability.ZONE}/rulesets")

    answer = fn.notify("open", "0.logs-retry")

    records = lines(capsys)
    line = final(records)
    assert answer.status_code == 200 and line["action"] == "failover"
    retries = [r for r in records if r is not line]
    assert [r["severity"] for r in retries] == ["WARNING"] and "503" in retries[0]["message"]


def pubsub_post(fn, note: dict | bytes):
    import functions_framework

    data = note if isinstance(note, bytes) else json.dumps(note).encode()
    app = functions_framework.create_app("switch_pubsub", str(ROOT / "main.py"))
    return app.test_client().post("/", json={"message": {"data": base64.b64encode(data).decode(),
                                                         "messageId": "42"}},
                                  headers={"ce-specversion": "1.0", "ce-id": "42", "ce-source": "//pubsub/x",
                                           "ce-type": "google.cloud.pubsub.topic.v1.messagePublished"})


def test_a_pubsub_message_ends_with_one_line_on_every_path(fn, capsys):
    fn.outage()

    assert pubsub_post(fn, fn.notification("open", "0.logs-pubsub")).status_code == 200
    ok = final(lines(capsys))
    assert pubsub_post(fn, b"not json").status_code == 200
    refused = final(lines(capsys))
    fn.emulator.inject(status=503, count=2, method="GET", contains=f"/services/{SERVICE}")
    assert pubsub_post(fn, fn.notification("closed", "0.logs-pubsub")).status_code == 500  # redelivered
    failed = final(lines(capsys))

    assert (ok["incident"], ok["action"], ok["trigger"]) == ("0.logs-pubsub", "failover", "pubsub")
    assert refused["outcome"] == "bad_request" and refused["message_id"] == "42"
    assert (failed["incident"], failed["action"], failed["outcome"]) == ("0.logs-pubsub", "failback", "upstream")
    assert failed["message_id"] == "42"
