"""The Pub/Sub entry point: the same notification, delivered as a CloudEvent."""

from __future__ import annotations

import base64
import json

import pytest
import responses

from tests.conftest import (echo_replace, ROOT, RUN_ROOT, SERVICE_URL, api_calls, fixture_json, google_error, notification,
                            run_service, writes)


@pytest.fixture
def pubsub(env):
    import functions_framework

    return functions_framework.create_app("switch_pubsub", str(ROOT / "main.py")).test_client()


def deliver(client, data: bytes | str, *, message_id: str = "17285904338211045"):
    """POST a Pub/Sub message as Eventarc does (binary-mode CloudEvent)."""
    if isinstance(data, bytes):
        data = base64.b64encode(data).decode()
    body = {"message": {"data": data, "messageId": message_id, "publishTime": "2026-11-20T00:01:19.482Z"},
            "subscription": "projects/switch-demo/subscriptions/eventarc-europe-west1-switch-481516-sub-342"}
    headers = {"ce-specversion": "1.0", "ce-id": message_id, "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
               "ce-source": "//pubsub.googleapis.com/projects/switch-demo/topics/switch-alerts",
               "Content-Type": "application/json"}
    return client.post("/", data=json.dumps(body), headers=headers)


def test_an_open_notification_as_a_cloudevent_fails_over(pubsub, google):
    google.add(responses.GET, SERVICE_URL, status=404, json=google_error(404, "NOT_FOUND", "none"))
    google.add(responses.POST, RUN_ROOT, json=run_service())
    google.add(responses.GET, f"{SERVICE_URL}:getIamPolicy", json={"etag": "e"})
    google.add(responses.POST, f"{SERVICE_URL}:setIamPolicy", json={"etag": "f"})
    echo_replace(google)

    answer = deliver(pubsub, json.dumps(notification("open")).encode())

    assert answer.status_code == 200
    [create] = api_calls(google, "POST", "/services?")
    assert json.loads(create.request.body)["metadata"]["labels"] == {"managed-by": "switch"}


def test_the_reference_sample_message_decodes_to_the_same_incident(pubsub, google, capsys):
    # The stored sample is dated; it is acknowledged as stale, which proves it parsed.
    answer = deliver(pubsub, fixture_json("cloudevent-pubsub.json")["message"]["data"])

    assert answer.status_code == 200
    assert len(google.calls) == 0
    assert '"incident":"0.nx4k2ab9pq7z"' in capsys.readouterr().out


@pytest.mark.parametrize("data", [b"not json", b"[]", b'{"incident": {"state": "open"}}', "%%not-base64%%", ""])
def test_a_malformed_message_is_acknowledged_without_an_api_call(pubsub, google, capsys, data):
    answer = deliver(pubsub, data)

    assert answer.status_code == 200  # acknowledged: Pub/Sub will not redeliver it forever
    assert len(google.calls) == 0
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(entry["severity"] == "ERROR" and "acknowledged" in entry["message"] for entry in logged)


def test_a_retryable_api_failure_raises_so_pubsub_redelivers(pubsub, google, env):
    env(API_RETRIES="1")
    for _ in range(2):
        google.add(responses.GET, SERVICE_URL, status=503, json=google_error(503, "UNAVAILABLE", "try later"))

    answer = deliver(pubsub, json.dumps(notification("open")).encode())

    assert answer.status_code == 500  # functions-framework's answer to a raised exception: Pub/Sub retries
    assert writes(google) == []


def test_a_permanent_api_failure_is_acknowledged(pubsub, google):
    google.add(responses.GET, SERVICE_URL, status=403, json=google_error(403, "PERMISSION_DENIED", "denied"))

    answer = deliver(pubsub, json.dumps(notification("open")).encode())

    assert answer.status_code == 200
    assert writes(google) == []


def test_a_foreign_service_is_left_alone_and_the_message_acknowledged(pubsub, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(managed=False))

    answer = deliver(pubsub, json.dumps(notification("closed")).encode())

    assert answer.status_code == 200
    assert writes(google) == []
