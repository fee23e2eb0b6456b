"""Cloud Monitoring notifications → Incident."""

import base64
import json

import pytest

from switch import alert
from switch.errors import BadRequest
from tests.conftest import fixture_json


def test_open_sample_parses_with_its_id_policy_and_times():
    incident = alert.parse(fixture_json("incident-open.json"))

    assert incident.id == "0.nx4k2ab9pq7z"
    assert incident.state == "open"
    assert incident.policy == "site-down-failover"
    assert incident.started_at == 1795132861 and incident.ended_at is None
    assert not incident.cancelled and not incident.is_test


def test_closed_sample_has_the_same_id_and_an_end_time():
    incident = alert.parse(fixture_json("incident-closed.json"))

    assert (incident.id, incident.state, incident.ended_at) == ("0.nx4k2ab9pq7z", "closed", 1795134122)
    assert incident.event_time == 1795134122


@pytest.mark.parametrize("state", ["OPEN", "Open", " open "])
def test_state_is_case_insensitive(state):
    payload = fixture_json("incident-open.json")
    payload["incident"]["state"] = state

    assert alert.parse(payload).state == "open"


def test_console_test_notification_is_recognised():
    payload = {"incident": {"incident_id": "12345", "state": "OPEN", "started_at": 0, "ended_at": 0,
                            "documentation": "Test notification", "summary": "Test Incident",
                            "policy_name": "projects/12345/alertPolicies/12345"}, "version": "test"}

    incident = alert.parse(payload)

    assert incident.is_test and incident.id == "12345"


def test_policy_cancel_close_is_flagged_as_not_a_recovery():
    payload = fixture_json("incident-closed.json")
    payload["incident"]["observed_value"] = ("Incident cancelled because the alert policy condition was deleted "
                                             "or modified while incident was active.")

    assert alert.parse(payload).cancelled


def test_a_cancel_sentence_only_in_the_summary_is_also_recognised():
    payload = fixture_json("incident-closed.json")
    payload["incident"]["summary"] = ("Incident cancelled because the alert policy condition was deleted or "
                                      "modified while incident was active.")

    assert alert.parse(payload).cancelled


def test_documentation_as_a_string_and_missing_metric_labels_are_accepted():
    payload = fixture_json("incident-open.json")
    payload["incident"]["documentation"] = "plain text"
    del payload["incident"]["metric"]["labels"]

    assert alert.parse(payload).state == "open"


@pytest.mark.parametrize("payload,fragment", [
    ([], "JSON object"),
    ({}, "no \"incident\""),
    ({"incident": {"state": "open"}}, "incident_id"),
    ({"incident": {"incident_id": "", "state": "open"}}, "incident_id"),
    ({"incident": {"incident_id": "x", "state": "resolved"}}, "neither"),
    ({"incident": {"incident_id": "x", "state": None}}, "incident.state"),
    ({"incident": {"incident_id": "x", "state": "open", "started_at": [1]}}, "started_at"),
    ({"incident": {"incident_id": "x", "state": "open", "started_at": 10**30}}, "started_at"),
])
def test_malformed_notifications_raise_bad_request_saying_what_is_wrong(payload, fragment):
    with pytest.raises(BadRequest, match=fragment):
        alert.parse(payload)


def test_pubsub_message_data_is_decoded():
    message = fixture_json("pubsub-push.json")["message"]

    assert alert.from_pubsub_message(message).id == "0.nx4k2ab9pq7z"


@pytest.mark.parametrize("message", [None, {}, {"data": ""}, {"data": "%%%not-base64"},
                                     {"data": base64.b64encode(b"not json").decode()},
                                     {"data": base64.b64encode(json.dumps([1]).encode()).decode()}])
def test_a_bad_pubsub_message_raises_bad_request(message):
    with pytest.raises(BadRequest):
        alert.from_pubsub_message(message)
