"""The function through its real entry point (functions-framework's app), with
Google's API intercepted by ``responses`` through switch's transport."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from tests.conftest import (notification, BEARER, IMAGE, PROJECT, RUN_ROOT, SERVICE, SERVICE_URL, TOKEN, api_calls,
                            basic_header, echo_replace, fixture_json, google_error, run_service, serving, writes)

NOT_FOUND = google_error(404, "NOT_FOUND", f"Resource '{SERVICE}' of kind 'SERVICE' does not exist.")
# The incident of the sample notification, as the replica made for it carries it.
OURS = {"switch/incident": "0.nx4k2ab9pq7z"}
IAM_GET = f"{SERVICE_URL}:getIamPolicy"
IAM_SET = f"{SERVICE_URL}:setIamPolicy"


def open_alert() -> dict:
    return notification("open")


def closed_alert() -> dict:
    return notification("closed")


def sent_json(call) -> dict:
    return json.loads(call.request.body)


ORG_POLICY = google_error(400, "FAILED_PRECONDITION", "the organization policy constraint "
                          "'constraints/run.managed.requireInvokerIam' requires the invoker IAM check")


def expect_fresh_failover(google, policy=None, org_policy=False):
    """A fresh failover's answers; ``org_policy``: the invoker IAM check may not be switched off."""
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    if org_policy:
        google.add(responses.POST, RUN_ROOT, status=400, json=ORG_POLICY)
    google.add(responses.POST, RUN_ROOT, json=run_service(ready="Unknown", open_to_all=not org_policy))
    google.add(responses.GET, SERVICE_URL, json=run_service(open_to_all=not org_policy))
    google.add(responses.GET, IAM_GET, json=policy or {"version": 1, "etag": "BwX1"})
    google.add(responses.POST, IAM_SET, json={"version": 1, "etag": "BwX2"})
    echo_replace(google)


# -- failover ------------------------------------------------------------------


def test_open_notification_creates_the_replica_with_the_expected_body(client, google, env):
    env(CONTAINER_ENV='{"SITE_MODE": "failover"}', MAX_INSTANCES="4")
    expect_fresh_failover(google)

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["action"] == "failover" and body["state"] == "active" and body["changed"] is True
    assert body["url"] == "https://site-replica-q2w3e4r5ta-ew.a.run.app"
    assert [s["step"] for s in body["steps"]] == ["get", "create", "ready", "traffic", "activated"]
    assert all(isinstance(s["ms"], int) for s in body["steps"])
    assert api_calls(google, None, "IamPolicy") == []  # public at creation: no IAM read, no IAM write
    [mark] = api_calls(google, "PUT")
    assert "switch/activated-at" in sent_json(mark)["metadata"]["annotations"]  # visitors on it from now

    [create] = api_calls(google, "POST", "/services?")
    sent = sent_json(create)
    assert create.request.url.startswith("https://europe-west1-run.googleapis.com/v1/projects/switch-demo/")
    assert sent["apiVersion"] == "serving.knative.dev/v1" and sent["kind"] == "Service"
    assert sent["metadata"]["name"] == SERVICE
    assert sent["metadata"]["namespace"] == PROJECT
    assert sent["metadata"]["labels"] == {"managed-by": "switch"}
    assert sent["metadata"]["annotations"]["run.googleapis.com/ingress"] == "all"
    assert sent["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] == "true"
    assert "switch/pinned" not in sent["metadata"]["annotations"]
    assert "switch/activated-at" not in sent["metadata"]["annotations"]  # no visitor has seen it yet
    assert sent["metadata"]["annotations"]["switch/incident"] == "0.nx4k2ab9pq7z"
    template = sent["spec"]["template"]
    assert template["metadata"]["annotations"] == {"autoscaling.knative.dev/maxScale": "4"}
    [container] = template["spec"]["containers"]
    assert container == {
        "image": IMAGE,
        "ports": [{"containerPort": 8080, "name": "http1"}],
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
        "env": [{"name": "SITE_MODE", "value": "failover"}],
    }
    assert sent["spec"]["traffic"] == [{"percent": 100, "latestRevision": True}]


def test_where_the_iam_check_must_stay_all_users_is_granted_right_after_create_keeping_every_binding(client,
                                                                                                    google):
    existing = {"version": 1, "etag": "BwXetag", "bindings": [
        {"role": "roles/run.invoker", "members": ["serviceAccount:uptime@switch-demo.iam.gserviceaccount.com"]},
        {"role": "roles/run.developer", "members": ["user:owner@example.org"]},
    ]}
    expect_fresh_failover(google, policy=existing, org_policy=True)

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 200
    creates = api_calls(google, "POST", "/services?")
    assert [sent_json(c)["metadata"]["annotations"].get("run.googleapis.com/invoker-iam-disabled")
            for c in creates] == ["true", None]
    steps = [s["step"] for s in answer.get_json()["steps"]]
    assert steps[:4] == ["get", "create", "public", "ready"]  # granted before Ready is observed
    assert "allUsers is granted instead" in answer.get_json()["steps"][1]["detail"]

    [set_call] = api_calls(google, "POST", ":setIamPolicy")
    policy = sent_json(set_call)["policy"]
    assert policy["etag"] == "BwXetag"
    assert policy["bindings"] == [
        {"role": "roles/run.invoker",
         "members": ["serviceAccount:uptime@switch-demo.iam.gserviceaccount.com", "allUsers"]},
        {"role": "roles/run.developer", "members": ["user:owner@example.org"]},
    ]


def test_a_stale_iam_etag_redoes_the_read_modify_write(client, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(open_to_all=False))  # made public the old way
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "old"})
    google.add(responses.POST, IAM_SET, status=409, json=google_error(409, "ABORTED", "There were concurrent policy changes."))
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "new", "bindings": [
        {"role": "roles/viewer", "members": ["user:a@example.org"]}]})
    google.add(responses.POST, IAM_SET, json={"version": 1, "etag": "newer"})
    echo_replace(google)

    assert client.post("/", json=open_alert(), headers=BEARER).status_code == 200

    sets = api_calls(google, "POST", ":setIamPolicy")
    assert [sent_json(c)["policy"]["etag"] for c in sets] == ["old", "new"]
    assert {"role": "roles/viewer", "members": ["user:a@example.org"]} in sent_json(sets[1])["policy"]["bindings"]


def test_duplicate_open_on_a_warm_instance_costs_one_get_and_no_write(client, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving(**OURS)))
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "e", "bindings": [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]})

    first = client.post("/", json=open_alert(), headers=BEARER).get_json()
    calls_after_first = len(google.calls)
    second = client.post("/", json=open_alert(), headers=BEARER).get_json()

    assert first["action"] == "none" and first["reason"] == "the replica is already in place"
    assert second["action"] == "none" and second["changed"] is False
    assert writes(google) == []
    assert len(google.calls) - calls_after_first == 1  # one GET of the service, nothing else


def test_a_409_on_create_means_it_exists_and_is_not_created_again(client, google):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.POST, RUN_ROOT, status=409, json=fixture_json("run-error-409.json"))
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "e"})
    google.add(responses.POST, IAM_SET, json={"version": 1, "etag": "f"})
    echo_replace(google)

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 200
    assert len(api_calls(google, "POST", "/services?")) == 1
    assert answer.get_json()["state"] == "active"


def test_a_replica_that_exists_but_is_not_ready_or_public_is_finished(client, google):
    old_way = dict(annotations=OURS, open_to_all=False)  # a replica made public by an allUsers grant
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="Unknown", generation=2, observed=1, **old_way))
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="Unknown", generation=2, observed=2, **old_way))
    google.add(responses.GET, SERVICE_URL, json=run_service(generation=2, observed=2, **old_way))
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "e"})
    google.add(responses.POST, IAM_SET, json={"version": 1, "etag": "f"})
    echo_replace(google)

    body = client.post("/", json=open_alert(), headers=BEARER).get_json()

    assert [s["step"] for s in body["steps"]] == ["get", "ready", "public", "reachable", "traffic", "activated"]
    assert api_calls(google, "POST", "/services?") == []
    assert len(api_calls(google, "GET", f"{SERVICE}?")) == 3


def test_a_failed_revision_answers_502_with_googles_message(client, google):
    message = "The user-provided container failed to start and listen on the port defined provided by the PORT=8080"
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)
    google.add(responses.POST, RUN_ROOT, json=run_service(ready="Unknown"))
    google.add(responses.GET, SERVICE_URL, json=run_service(ready="False", message=message))

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 502
    assert message in answer.get_json()["error"]["message"]
    assert api_calls(google, "POST", ":setIamPolicy") == []


def test_retryable_503_and_429_answers_are_retried(client, google):
    unavailable = google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
    google.add(responses.GET, SERVICE_URL, status=503, json=unavailable)
    google.add(responses.GET, SERVICE_URL, status=429, json=google_error(429, "RESOURCE_EXHAUSTED", "Quota"))
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving(**OURS)))
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "e", "bindings": [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]})

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 200
    assert len(api_calls(google, "GET", f"{SERVICE}?")) == 3


def test_a_google_failure_after_retries_answers_502_with_googles_message(client, google, env):
    env(API_RETRIES="1")
    for _ in range(2):
        google.add(responses.GET, SERVICE_URL, status=500, json=google_error(500, "INTERNAL", "Internal error XYZ"))

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 502
    assert "Internal error XYZ" in answer.get_json()["error"]["message"]
    assert len(google.calls) == 2


def test_permission_denied_is_not_retried_and_answers_502(client, google):
    google.add(responses.GET, SERVICE_URL, status=403, json=google_error(
        403, "PERMISSION_DENIED", "Permission 'run.services.get' denied on resource (or resource may not exist)."))

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 502
    assert "run.services.get" in answer.get_json()["error"]["message"]
    assert len(google.calls) == 1


def test_a_foreign_service_of_the_same_name_is_left_untouched(client, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(managed=False))

    for path, payload in (("/", open_alert()), ("/", closed_alert()), ("/failover", {}), ("/failback", {"force": True})):
        answer = client.post(path, json=payload, headers=BEARER)
        assert answer.status_code == 409, path
        assert "not created by switch" in answer.get_json()["error"]["message"]
    assert writes(google) == []


def test_manual_failover_pins_the_replica(client, google):
    expect_fresh_failover(google)

    answer = client.post("/failover", json={}, headers=BEARER)

    assert answer.status_code == 200
    [create] = api_calls(google, "POST", "/services?")
    assert sent_json(create)["metadata"]["annotations"]["switch/pinned"] == "true"


def test_manual_failover_pins_an_existing_replica_with_a_metadata_only_update(client, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.PUT, SERVICE_URL, json=run_service(annotations=serving(**{"switch/pinned": "true"})))
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "e", "bindings": [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]})

    answer = client.post("/failover", json={}, headers=BEARER)

    assert answer.status_code == 200
    [put] = api_calls(google, "PUT")
    sent = sent_json(put)
    assert sent["metadata"]["annotations"]["switch/pinned"] == "true"
    assert sent["spec"] == run_service(annotations=serving())["spec"]  # the revision template is untouched
    assert "status" not in sent


# -- failback ------------------------------------------------------------------


def test_closing_notification_deletes_the_labelled_replica(client, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.DELETE, SERVICE_URL, json={"apiVersion": "v1", "kind": "Status", "status": "Success"})

    answer = client.post("/", json=closed_alert(), headers=BEARER)

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["action"] == "failback" and body["state"] == "standby" and body["changed"] is True
    assert [s["step"] for s in body["steps"]] == ["get", "look again", "traffic", "delete"]
    assert len(api_calls(google, "DELETE")) == 1


def test_closing_notification_with_no_replica_changes_nothing(client, google):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)

    body = client.post("/", json=closed_alert(), headers=BEARER).get_json()

    assert body["action"] == "none" and body["state"] == "standby"
    assert body["reason"] == "no replica exists; already on standby"
    assert writes(google) == []


def test_a_policy_cancel_close_is_not_a_recovery(client, google):
    cancelled = closed_alert()
    cancelled["incident"]["observed_value"] = ("Incident cancelled because the alert policy condition was deleted "
                                               "or modified while incident was active.")
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))

    body = client.post("/", json=cancelled, headers=BEARER).get_json()

    assert body["action"] == "none" and body["state"] == "active"
    assert "edited or deleted" in body["reason"]
    assert writes(google) == []


def test_a_close_inside_min_active_seconds_is_noted_for_reconcile_not_dropped(client, google, env):
    env(MIN_ACTIVE_SECONDS="600")
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving(30)))
    echo_replace(google)

    body = client.post("/", json=closed_alert(), headers=BEARER).get_json()

    assert body["action"] == "none" and body["state"] == "active"
    assert "SWITCH_MIN_ACTIVE_SECONDS=600" in body["reason"] and "reconcile" in body["reason"]
    [note] = writes(google)
    assert note.request.method == "PUT"
    assert sent_json(note)["metadata"]["annotations"]["switch/close-pending"] == "0.nx4k2ab9pq7z"
    assert not api_calls(google, "DELETE")


def test_automatic_failback_leaves_a_pinned_replica_alone(client, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations={"switch/pinned": "true"}))

    body = client.post("/", json=closed_alert(), headers=BEARER).get_json()

    assert body["action"] == "none" and "pinned" in body["reason"]
    assert writes(google) == []


def test_automatic_failback_keeps_the_replica_while_home_is_unhealthy(client, google, env):
    env(HOME_URL="https://www.example.org", PROBE_COUNT="3")
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving()))
    google.add(responses.GET, "https://www.example.org/healthz", status=200)
    google.add(responses.GET, "https://www.example.org/healthz", status=503)

    body = client.post("/", json=closed_alert(), headers=BEARER).get_json()

    assert body["action"] == "none" and body["state"] == "active"
    assert "not healthy" in body["reason"] and "200, 503" in body["reason"]
    assert writes(google) == []


def test_automatic_failback_happens_after_consecutive_healthy_probes(client, google, env):
    env(HOME_URL="https://www.example.org/", PROBE_COUNT="2")
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, "https://www.example.org/healthz", status=200)
    google.add(responses.GET, "https://www.example.org/healthz", status=204)
    google.add(responses.DELETE, SERVICE_URL, json={"status": "Success"})

    body = client.post("/", json=closed_alert(), headers=BEARER).get_json()

    assert body["action"] == "failback"
    assert [s["step"] for s in body["steps"]] == ["get", "probe", "look again", "traffic", "delete"]


def test_manual_failback_with_force_skips_the_probe_and_ignores_the_pin(client, google, env):
    env(HOME_URL="https://www.example.org")
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations={"switch/pinned": "true"}))
    google.add(responses.DELETE, SERVICE_URL, json={"status": "Success"})

    body = client.post("/failback", json={"force": True}, headers=BEARER).get_json()

    assert body["action"] == "failback"
    assert api_calls(google, "GET", "example.org") == []


def test_manual_failback_without_force_still_probes_home(client, google, env):
    env(HOME_URL="https://www.example.org")
    google.add(responses.GET, SERVICE_URL, json=run_service())
    google.add(responses.GET, "https://www.example.org/healthz", body=requests.exceptions.ConnectionError("refused"))

    body = client.post("/failback", json={}, headers=BEARER).get_json()

    assert body["action"] == "none" and "not healthy" in body["reason"]
    assert writes(google) == []


# -- notifications that do nothing ---------------------------------------------


def test_console_test_notification_is_acknowledged_without_acting(client, google):
    test_note = {"incident": {"incident_id": "12345", "state": "OPEN", "started_at": 0, "ended_at": 0,
                              "summary": "Test Incident", "documentation": "Test",
                              "policy_name": "projects/12345/alertPolicies/12345"}, "version": "test"}

    answer = client.post("/", json=test_note, headers=BEARER)

    assert answer.status_code == 200
    assert answer.get_json()["action"] == "none"
    assert len(google.calls) == 0


def test_state_is_matched_case_insensitively(client, google):
    shouting = open_alert()
    shouting["incident"]["state"] = "OPEN"
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving(**OURS)))
    google.add(responses.GET, IAM_GET, json={"version": 1, "etag": "e", "bindings": [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]})

    assert client.post("/", json=shouting, headers=BEARER).get_json()["state"] == "active"


# -- status --------------------------------------------------------------------


def test_status_reports_the_replica(client, google):
    google.add(responses.GET, SERVICE_URL, json=run_service(annotations=serving(**{"switch/pinned": "true"})))

    answer = client.get("/status", headers=basic_header())

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["state"] == "active" and body["replica"]["ready"] is True and body["replica"]["pinned"] is True
    assert body["url"] == "https://site-replica-q2w3e4r5ta-ew.a.run.app"
    assert writes(google) == []


def test_status_on_standby(client, google):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)

    body = client.get("/status", headers=BEARER).get_json()

    assert body["state"] == "standby" and body["replica"] is None


# -- refused requests make no API call -----------------------------------------


@pytest.mark.parametrize("headers,query", [
    ({}, ""),
    ({"Authorization": "Bearer wrong-token-0123456789"}, ""),
    (basic_header(password="wrong"), ""),
    (basic_header(user="other"), ""),
    ({}, "?auth_token=wrong"),
    ({"Authorization": "Basic !!!notbase64"}, ""),
    ({"Authorization": "Digest abc"}, ""),
])
def test_bad_credentials_answer_401_and_make_no_api_call(client, google, headers, query):
    answer = client.post("/" + query, json=open_alert(), headers=headers)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="switch"'
    assert len(google.calls) == 0


@pytest.mark.parametrize("path,method", [("/status", "get"), ("/failover", "post"), ("/failback", "post"),
                                         ("/nowhere", "get")])
def test_every_route_refuses_a_caller_without_credentials(client, google, path, method):
    assert getattr(client, method)(path).status_code == 401
    assert len(google.calls) == 0


def test_token_as_query_parameter_is_accepted(client, google):
    google.add(responses.GET, SERVICE_URL, status=404, json=NOT_FOUND)

    assert client.get(f"/status?auth_token={TOKEN}").status_code == 200


def test_with_no_credentials_configured_every_request_is_refused(client, google, env, capsys):
    env(TOKEN=None, BASIC_USER=None, BASIC_PASSWORD=None)

    answer = client.get("/status", headers=BEARER)

    assert answer.status_code == 500
    assert answer.get_json()["error"]["code"] == "configuration"
    assert "SWITCH_TOKEN" not in answer.get_data(as_text=True)  # the caller is nobody yet
    assert "SWITCH_TOKEN" in capsys.readouterr().out  # the log names it
    assert len(google.calls) == 0


@pytest.mark.parametrize("body", [
    b"not json",
    b"[]",
    b"{}",
    b'{"incident": "open"}',
    b'{"incident": {"state": "open"}}',
    b'{"incident": {"incident_id": "x", "state": "maybe"}}',
    b'{"incident": {"incident_id": "x", "state": 1}}',
    b'{"incident": {"incident_id": "x", "state": "open", "started_at": "yesterday"}}',
    b'\xff\xfe\x00',
])
def test_a_body_that_is_not_a_notification_answers_400_and_makes_no_api_call(client, google, body):
    answer = client.post("/", data=body, headers={**BEARER, "Content-Type": "application/json"})

    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "bad_request"
    assert len(google.calls) == 0


@pytest.mark.parametrize("path,body", [("/failback", b'{"force": "yes"}'), ("/failback", b'{"forse": true}'),
                                       ("/failover", b'{"pin": false}'), ("/failover", b"[1]")])
def test_a_bad_command_answers_400_and_makes_no_api_call(client, google, path, body):
    answer = client.post(path, data=body, headers=BEARER, content_type="application/json")

    assert answer.status_code == 400
    assert len(google.calls) == 0


def test_an_unknown_path_answers_404(client, google):
    answer = client.post("/delete-everything", headers=BEARER)

    assert answer.status_code == 404
    assert len(google.calls) == 0


@pytest.mark.parametrize("method,path,allowed", [("get", "/", "POST"), ("get", "/failover", "POST"),
                                                 ("post", "/status", "GET"), ("delete", "/", "POST")])
def test_a_wrong_method_answers_405_with_allow(client, google, method, path, allowed):
    answer = getattr(client, method)(path, headers=BEARER)

    assert answer.status_code == 405
    assert answer.headers["Allow"] == allowed
    assert len(google.calls) == 0


def test_a_body_over_64_kib_answers_413_and_makes_no_api_call(client, google):
    huge = open_alert()
    huge["incident"]["summary"] = "x" * (64 * 1024)

    answer = client.post("/", data=json.dumps(huge), headers={**BEARER, "Content-Type": "application/json"})

    assert answer.status_code == 413
    assert len(google.calls) == 0


def test_a_configuration_error_answers_500_and_only_the_log_names_the_variable(client, google, env, capsys):
    env(IMAGE=None, MEMORY="lots")

    answer = client.post("/", json=open_alert(), headers=BEARER)

    assert answer.status_code == 500
    error = answer.get_json()["error"]
    assert error == {"code": "configuration", "message": "the function is misconfigured; its logs name the "
                                                          "variable to fix"}
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["outcome"] == "configuration" and "SWITCH_IMAGE" in line["message"]
    assert "SWITCH_MEMORY" in line["message"] and "'lots'" in line["message"]
    assert len(google.calls) == 0


def test_without_google_credentials_an_authenticated_caller_gets_a_500_that_names_them(client, google, monkeypatch):
    from switch import transport
    from switch.errors import ConfigError

    def no_credentials(endpoint):
        raise ConfigError("GOOGLE_APPLICATION_CREDENTIALS", transport.NO_CREDENTIALS)

    monkeypatch.setattr(transport, "credentials_for", no_credentials)
    transport._clients.clear()

    answer = client.post("/failover", json={}, headers=BEARER)

    assert answer.status_code == 500
    error = answer.get_json()["error"]
    assert error["code"] == "configuration" and error["variable"] == "GOOGLE_APPLICATION_CREDENTIALS"
    assert "gcloud auth application-default login" in error["message"]


@pytest.mark.parametrize("kind, data", [("form", {"force": "true"}), ("text/plain", '{"force": true}'),
                                        ("no body", None)])
@pytest.mark.parametrize("path", ["/failover", "/failback", "/reconcile"])
def test_a_command_that_is_not_json_is_refused_so_no_other_site_can_send_it(client, google, path, kind, data):
    headers = {**BEARER}
    if kind == "text/plain":
        headers["Content-Type"] = "text/plain"
    answer = client.post(path, data=data, headers=headers)

    assert answer.status_code == 415
    assert "Content-Type: application/json" in answer.get_json()["error"]["message"]
    assert len(google.calls) == 0


def test_every_answer_is_json(client, google):
    for answer in (client.get("/status"), client.post("/x", headers=BEARER), client.get("/", headers=BEARER)):
        assert answer.mimetype == "application/json"
        assert "error" in answer.get_json()
