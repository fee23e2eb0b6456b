"""The emulator over real sockets: each test names the behaviour it proves.

Delays are a few tenths of a second so the file runs in seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import requests

from switch.emulator import Emulator, HomeSite, main

PROJECT = "switch-demo"
NUMBER = "123456789012"
REGION = "europe-west1"
NAME = "site-replica"
IMAGE = "europe-west1-docker.pkg.dev/switch-demo/site/www:2026-11-19"
ZONE = "0123456789abcdef0123456789abcdef"
CF = {"Authorization": "Bearer cf-token"}
DELAY = 0.15


@pytest.fixture
def emu():
    with Emulator(ready_delay=DELAY, delete_delay=DELAY, cert_delay=DELAY, project_number=NUMBER) as emulator:
        yield emulator


def services_url(emu, name: str | None = None) -> str:
    url = f"{emu.url}v1/projects/{PROJECT}/locations/{REGION}/services"
    return f"{url}/{name}" if name else url


def service_body(name: str = NAME, image: str = IMAGE, labels=None, **spec) -> dict:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": PROJECT, "labels": labels if labels is not None else {"managed-by": "switch"}},
        "spec": {"template": {"spec": {"containers": [{"image": image}], **spec}}},
    }


def create(emu, body=None) -> requests.Response:
    return requests.post(services_url(emu), json=body or service_body())


def condition(service: dict, kind: str = "Ready") -> dict:
    return next(c for c in service["status"]["conditions"] if c["type"] == kind)


def error_of(response: requests.Response) -> dict:
    return response.json()["error"]


def wait_past_delay():
    time.sleep(DELAY + 0.05)


# -- Cloud Run: create, readiness ------------------------------------------------


def test_create_stores_the_service_as_google_returns_it(emu):
    service = create(emu).json()
    meta = service["metadata"]
    assert meta["namespace"] == NUMBER
    assert meta["selfLink"] == f"/apis/serving.knative.dev/v1/namespaces/{NUMBER}/services/{NAME}"
    assert meta["generation"] == 1 and meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"].endswith("Z")
    assert meta["labels"] == {"managed-by": "switch", "cloud.googleapis.com/location": REGION}
    assert meta["annotations"]["run.googleapis.com/ingress"] == "all"
    assert json.loads(meta["annotations"]["run.googleapis.com/urls"]) == [f"{emu.url}_run/{REGION}/{NAME}"]
    assert "serving.knative.dev/creator" in meta["annotations"]
    template = service["spec"]["template"]["spec"]
    assert template["containerConcurrency"] == 80 and template["timeoutSeconds"] == 300
    assert template["serviceAccountName"] == f"{NUMBER}-compute@developer.gserviceaccount.com"
    assert template["containers"][0]["resources"]["limits"]["cpu"] == "1000m"
    assert template["containers"][0]["ports"] == [{"containerPort": 8080, "name": "http1"}]


def test_a_new_service_is_unknown_until_the_ready_delay_has_passed(emu):
    created = create(emu).json()
    assert created["status"]["observedGeneration"] == 1
    assert {c["type"]: (c["status"], c.get("reason")) for c in created["status"]["conditions"]} == {
        "Ready": ("Unknown", "Deploying"), "ConfigurationsReady": ("Unknown", "Deploying"), "RoutesReady": ("Unknown", "Deploying"),
    }
    assert "url" not in created["status"]
    wait_past_delay()
    ready = requests.get(services_url(emu, NAME)).json()
    assert [c["status"] for c in ready["status"]["conditions"]] == ["True", "True", "True"]
    assert ready["status"]["url"] == f"{emu.url}_run/{REGION}/{NAME}"
    assert ready["status"]["address"] == {"url": ready["status"]["url"]}
    revision = ready["status"]["latestReadyRevisionName"]
    assert revision.startswith(f"{NAME}-00001-")
    assert ready["status"]["traffic"] == [{"revisionName": revision, "percent": 100, "latestRevision": True}]


def test_a_failing_image_turns_ready_false_with_health_check_container_error(emu):
    create(emu, service_body(image="europe-west1-docker.pkg.dev/p/r/fail:1"))
    wait_past_delay()
    service = requests.get(services_url(emu, NAME)).json()
    for kind in ("Ready", "ConfigurationsReady"):
        assert condition(service, kind)["status"] == "False"
        assert condition(service, kind)["reason"] == "HealthCheckContainerError"
    assert "failed to start and listen on the port defined provided by the PORT=8080" in condition(service)["message"]
    assert "url" not in service["status"]


def test_the_namespace_may_be_the_project_number(emu):
    body = service_body()
    body["metadata"]["namespace"] = NUMBER
    assert create(emu, body).status_code == 200


def _without(path: str):
    def edit(body):
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[key]
        del target[last]

    return edit


def _set(path: str, value):
    def edit(body):
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[key] if not key.isdigit() else target[int(key)]
        target[last] = value

    return edit


BAD_BODIES = {
    "wrong-apiVersion": _set("apiVersion", "serving.knative.dev/v1alpha1"),
    "wrong-kind": _set("kind", "Revision"),
    "name-with-uppercase": _set("metadata.name", "Site-replica"),
    "name-starting-with-a-digit": _set("metadata.name", "1site"),
    "name-ending-with-a-dash": _set("metadata.name", "site-"),
    "name-of-64-characters": _set("metadata.name", "s" * 64),
    "no-namespace": _without("metadata.namespace"),
    "namespace-of-another-project": _set("metadata.namespace", "other-project"),
    "two-containers": _set("spec.template.spec.containers", [{"image": IMAGE}, {"image": IMAGE}]),
    "no-container": _set("spec.template.spec.containers", []),
    "no-image": _set("spec.template.spec.containers", [{"image": ""}]),
    "two-ports": _set("spec.template.spec.containers", [{"image": IMAGE, "ports": [{"containerPort": 1}, {"containerPort": 2}]}]),
    "port-name-not-http1-or-h2c": _set("spec.template.spec.containers", [{"image": IMAGE, "ports": [{"name": "http"}]}]),
    "label-key-with-uppercase": _set("metadata.labels", {"Managed-By": "switch"}),
    "label-value-with-a-dot": _set("metadata.labels", {"version": "1.2"}),
    "label-value-not-a-string": _set("metadata.labels", {"replicas": 3}),
    "label-under-a-google-prefix": _set("metadata.labels", {"run.googleapis.com/owner": "me"}),
    "annotation-value-not-a-string": _set("metadata.annotations", {"switch/activated": True}),
    "unknown-run-annotation": _set("metadata.annotations", {"run.googleapis.com/made-up": "x"}),
    "scaling-annotation-on-the-service": _set("metadata.annotations", {"autoscaling.knative.dev/maxScale": "3"}),
    "reserved-env-name": _set("spec.template.spec.containers", [{"image": IMAGE, "env": [{"name": "PORT", "value": "1"}]}]),
}


@pytest.mark.parametrize("edit", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_malformed_service_body_answers_400_invalid_argument(emu, edit):
    body = service_body()
    edit(body)
    response = create(emu, body)
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT" and error_of(response)["message"]
    assert emu.services(PROJECT, REGION) == {}


def test_malformed_json_answers_400_invalid_argument(emu):
    response = requests.post(services_url(emu), data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_of(response)["status"] == "INVALID_ARGUMENT"


def test_template_annotations_for_scaling_are_accepted(emu):
    body = service_body()
    body["spec"]["template"]["metadata"] = {"annotations": {"autoscaling.knative.dev/maxScale": "3"}}
    assert create(emu, body).status_code == 200


# -- Cloud Run: conflicts, deletion, listing ---------------------------------------


def test_create_of_an_existing_name_answers_409_already_exists(emu):
    create(emu)
    response = create(emu)
    assert response.status_code == 409
    assert response.json() == {"error": {"code": 409, "message": f"Resource '{NAME}' already exists.", "status": "ALREADY_EXISTS"}}


def test_get_of_a_missing_service_answers_404_not_found(emu):
    response = requests.get(services_url(emu, "nothing"))
    assert response.status_code == 404
    assert error_of(response) == {
        "code": 404,
        "status": "NOT_FOUND",
        "message": f"Resource 'nothing' of kind 'SERVICE' in region '{REGION}' in project '{PROJECT}' does not exist.",
    }


def test_delete_answers_a_knative_status_and_get_is_404_at_once(emu):
    uid = create(emu).json()["metadata"]["uid"]
    response = requests.delete(services_url(emu, NAME))
    assert response.json() == {
        "apiVersion": "v1", "kind": "Status", "status": "Success", "details": {"name": NAME, "kind": "services", "uid": uid},
    }
    assert requests.get(services_url(emu, NAME)).status_code == 404
    assert requests.delete(services_url(emu, NAME)).status_code == 404


def test_create_of_a_name_still_being_deleted_answers_409(emu):
    create(emu)
    requests.delete(services_url(emu, NAME))
    response = create(emu)
    assert response.status_code == 409 and error_of(response)["status"] == "ALREADY_EXISTS"
    wait_past_delay()
    assert create(emu).status_code == 200


def test_list_filters_by_label_selector_and_pages_with_continue(emu):
    for name in ("a-one", "b-two", "c-three"):
        create(emu, service_body(name=name))
    create(emu, service_body(name="not-ours", labels={"team": "web"}))
    first = requests.get(services_url(emu), params={"labelSelector": "managed-by=switch", "limit": 2}).json()
    assert first["kind"] == "ServiceList"
    assert [s["metadata"]["name"] for s in first["items"]] == ["a-one", "b-two"]
    rest = requests.get(
        services_url(emu), params={"labelSelector": "managed-by=switch", "limit": 2, "continue": first["metadata"]["continue"]}
    ).json()
    assert [s["metadata"]["name"] for s in rest["items"]] == ["c-three"]
    assert "continue" not in rest["metadata"]


def test_an_empty_list_has_no_items_key(emu):
    answer = requests.get(services_url(emu), params={"labelSelector": "managed-by=switch", "alt": "json"}).json()
    assert "items" not in answer


# -- Cloud Run: replaceService ---------------------------------------------------


def test_replace_with_a_stale_resource_version_answers_409_aborted(emu):
    stale = create(emu).json()
    fresh = requests.put(services_url(emu, NAME), json=stale).json()
    assert fresh["metadata"]["resourceVersion"] != stale["metadata"]["resourceVersion"]
    response = requests.put(services_url(emu, NAME), json=stale)
    assert response.status_code == 409
    assert error_of(response) == {
        "code": 409, "status": "ABORTED",
        "message": f"Conflict for resource '{NAME}' for version '{stale['metadata']['resourceVersion']}'.",
    }


def test_the_resource_version_changes_when_the_service_turns_ready(emu):
    deploying = create(emu).json()
    wait_past_delay()
    ready = requests.get(services_url(emu, NAME)).json()
    assert ready["metadata"]["resourceVersion"] != deploying["metadata"]["resourceVersion"]


def test_a_spec_change_bumps_generation_and_deploys_again(emu):
    create(emu)
    wait_past_delay()
    current = requests.get(services_url(emu, NAME)).json()
    current["spec"]["template"]["spec"]["containers"][0]["image"] = IMAGE + "-v2"
    updated = requests.put(services_url(emu, NAME), json=current).json()
    assert updated["metadata"]["generation"] == 2 == updated["status"]["observedGeneration"]
    assert condition(updated)["status"] == "Unknown"
    assert updated["status"]["latestCreatedRevisionName"].startswith(f"{NAME}-00002-")
    assert updated["status"]["latestReadyRevisionName"].startswith(f"{NAME}-00001-")  # the old one serves meanwhile
    wait_past_delay()
    again = requests.get(services_url(emu, NAME)).json()
    assert condition(again)["status"] == "True"
    assert again["status"]["latestReadyRevisionName"] == updated["status"]["latestCreatedRevisionName"]


def test_a_label_only_change_keeps_generation_and_server_fields(emu):
    created = create(emu).json()
    wait_past_delay()
    current = requests.get(services_url(emu, NAME)).json()
    current["metadata"]["labels"]["pinned"] = "true"
    current["metadata"]["annotations"]["switch/activated-at"] = "2026-11-20T00:00:00Z"
    updated = requests.put(services_url(emu, NAME), json=current).json()
    assert updated["metadata"]["generation"] == 1
    assert condition(updated)["status"] == "True"
    assert updated["metadata"]["labels"]["pinned"] == "true"
    assert updated["metadata"]["labels"]["cloud.googleapis.com/location"] == REGION
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


def test_replace_with_a_different_name_answers_400(emu):
    create(emu)
    response = requests.put(services_url(emu, NAME), json=service_body(name="other"))
    assert response.status_code == 400 and error_of(response)["status"] == "INVALID_ARGUMENT"


def test_replace_of_a_missing_service_answers_404(emu):
    assert requests.put(services_url(emu, NAME), json=service_body()).status_code == 404


# -- Cloud Run: IAM ----------------------------------------------------------------


def test_a_new_service_has_an_empty_policy(emu):
    create(emu)
    assert requests.get(services_url(emu, NAME) + ":getIamPolicy").json() == {"version": 1, "etag": "ACAB"}


def test_set_iam_policy_stores_the_bindings_under_a_new_etag(emu):
    create(emu)
    read = requests.get(services_url(emu, NAME) + ":getIamPolicy").json()
    policy = {**read, "bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}
    written = requests.post(services_url(emu, NAME) + ":setIamPolicy", json={"policy": policy}).json()
    assert written["bindings"] == [{"role": "roles/run.invoker", "members": ["allUsers"]}]
    assert written["etag"] != read["etag"] and written["etag"].startswith("Bw")
    assert requests.get(services_url(emu, NAME) + ":getIamPolicy").json() == written
    assert emu.iam_policy(PROJECT, REGION, NAME) == written


def test_a_stale_iam_etag_answers_409_aborted(emu):
    create(emu)
    read = requests.get(services_url(emu, NAME) + ":getIamPolicy").json()
    requests.post(services_url(emu, NAME) + ":setIamPolicy", json={"policy": {"bindings": []}})  # someone else, blind
    response = requests.post(
        services_url(emu, NAME) + ":setIamPolicy",
        json={"policy": {**read, "bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}},
    )
    assert response.status_code == 409
    assert error_of(response)["status"] == "ABORTED"
    assert "concurrent policy changes" in error_of(response)["message"]


def test_an_etag_sent_back_in_url_safe_base64_is_the_same_etag(emu):
    # Proto JSON bytes: Google reads both alphabets, and gcloud (apitools) sends the URL-safe one.
    create(emu)
    for _ in range(200):  # until an etag holds '+' or '/' (about one in four does)
        read = requests.get(services_url(emu, NAME) + ":getIamPolicy").json()
        if "+" in read["etag"] or "/" in read["etag"]:
            break
        requests.post(services_url(emu, NAME) + ":setIamPolicy", json={"policy": {"bindings": []}})
    assert "+" in read["etag"] or "/" in read["etag"]
    url_safe = read["etag"].replace("+", "-").replace("/", "_")
    response = requests.post(services_url(emu, NAME) + ":setIamPolicy", json={"policy": {
        "etag": url_safe, "bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}})
    assert response.status_code == 200, response.text


def test_set_iam_policy_needs_the_policy_wrapper(emu):
    create(emu)
    response = requests.post(services_url(emu, NAME) + ":setIamPolicy", json={"bindings": []})
    assert response.status_code == 400 and error_of(response)["status"] == "INVALID_ARGUMENT"


def test_set_iam_policy_refuses_a_malformed_member(emu):
    create(emu)
    policy = {"bindings": [{"role": "roles/run.invoker", "members": ["everyone"]}]}
    response = requests.post(services_url(emu, NAME) + ":setIamPolicy", json={"policy": policy})
    assert response.status_code == 400 and "everyone" in error_of(response)["message"]


def test_iam_on_a_missing_service_answers_403_permission_denied(emu):
    response = requests.post(services_url(emu, "ghost") + ":setIamPolicy", json={"policy": {}})
    assert response.status_code == 403
    assert error_of(response)["message"] == (
        f"Permission 'run.services.setIamPolicy' denied on resource "
        f"'projects/{PROJECT}/locations/{REGION}/services/ghost' (or resource may not exist)."
    )
    assert requests.get(services_url(emu, "ghost") + ":getIamPolicy").status_code == 403


def test_the_iam_policy_goes_with_the_deleted_service(emu):
    create(emu)
    requests.post(services_url(emu, NAME) + ":setIamPolicy", json={"policy": {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}})
    requests.delete(services_url(emu, NAME))
    wait_past_delay()
    create(emu)
    assert "bindings" not in requests.get(services_url(emu, NAME) + ":getIamPolicy").json()


# -- the replica as a visitor sees it ----------------------------------------------


def make_public(emu, name=NAME):
    policy = {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}
    requests.post(services_url(emu, name) + ":setIamPolicy", json={"policy": policy}).raise_for_status()


def test_the_replica_page_is_403_until_public_then_200(emu):
    create(emu)
    wait_past_delay()
    url = requests.get(services_url(emu, NAME)).json()["status"]["url"]
    private = requests.get(url + "/blog/post")
    assert private.status_code == 403 and "Your client does not have permission" in private.text
    make_public(emu)
    public = requests.get(url + "/blog/post")
    assert public.status_code == 200
    assert NAME in public.text and IMAGE in public.text and "/blog/post" in public.text


def test_the_replica_of_an_unknown_service_is_404(emu):
    assert requests.get(f"{emu.url}_run/{REGION}/nothing/").status_code == 404


def test_the_replica_is_404_while_its_first_revision_deploys(emu):
    create(emu)
    make_public(emu)
    assert requests.get(f"{emu.url}_run/{REGION}/{NAME}").status_code == 404


# -- wrong paths ---------------------------------------------------------------------


def test_an_unknown_path_under_v1_answers_googles_html_404(emu):
    response = requests.get(f"{emu.url}v1/namespaces/{PROJECT}/services")
    assert response.status_code == 404
    assert "Error 404 (Not Found)!!1" in response.text and response.headers["Content-Type"].startswith("text/html")


def test_a_zone_given_as_region_answers_googles_html_404(emu):
    response = requests.get(f"{emu.url}v1/projects/{PROJECT}/locations/europe-west1-b/services")
    assert response.status_code == 404 and "Error 404 (Not Found)!!1" in response.text


# -- domain mappings --------------------------------------------------------------


def mapping_body(host="www.example.org", route=NAME) -> dict:
    return {
        "apiVersion": "domains.cloudrun.com/v1",
        "kind": "DomainMapping",
        "metadata": {"name": host, "namespace": PROJECT},
        "spec": {"routeName": route, "certificateMode": "AUTOMATIC"},
    }


def mappings_url(emu, name=None) -> str:
    url = f"{emu.url}v1/projects/{PROJECT}/locations/{REGION}/domainmappings"
    return f"{url}/{name}" if name else url


def test_a_domain_mapping_waits_for_its_certificate_then_is_ready(emu):
    create(emu)
    created = requests.post(mappings_url(emu), json=mapping_body()).json()
    assert condition(created, "CertificateProvisioned")["status"] == "Unknown"
    assert condition(created)["status"] == "Unknown"
    assert condition(created, "DomainRoutable")["status"] == "True"
    assert created["status"]["resourceRecords"] == [{"name": "www", "type": "CNAME", "rrdata": "ghs.googlehosted.com."}]
    assert created["status"]["mappedRouteName"] == NAME and created["status"]["url"] == "https://www.example.org"
    wait_past_delay()
    ready = requests.get(mappings_url(emu, "www.example.org")).json()
    assert condition(ready)["status"] == condition(ready, "CertificateProvisioned")["status"] == "True"


def test_a_domain_mapping_to_a_missing_service_reports_route_missing(emu):
    mapping = requests.post(mappings_url(emu), json=mapping_body()).json()
    assert condition(mapping)["status"] == "False" and condition(mapping)["reason"] == "RouteMissing"


def test_a_domain_mapping_survives_its_service_being_deleted(emu):
    create(emu)
    requests.post(mappings_url(emu), json=mapping_body())
    requests.delete(services_url(emu, NAME))
    mapping = requests.get(mappings_url(emu, "www.example.org")).json()
    assert condition(mapping)["reason"] == "RouteMissing"


def test_a_domain_mapping_that_exists_answers_409(emu):
    requests.post(mappings_url(emu), json=mapping_body())
    response = requests.post(mappings_url(emu), json=mapping_body())
    assert response.status_code == 409 and error_of(response)["status"] == "ALREADY_EXISTS"


def test_a_domain_mapping_needs_a_hostname_and_its_api_version(emu):
    assert requests.post(mappings_url(emu), json=mapping_body(host="not a host")).status_code == 400
    wrong = {**mapping_body(), "apiVersion": "serving.knative.dev/v1"}
    assert requests.post(mappings_url(emu), json=wrong).status_code == 400


def test_a_deleted_domain_mapping_is_gone(emu):
    requests.post(mappings_url(emu), json=mapping_body())
    deleted = requests.delete(mappings_url(emu, "www.example.org")).json()
    assert deleted["status"] == "Success" and deleted["details"]["kind"] == "domainmappings"
    assert requests.get(mappings_url(emu, "www.example.org")).status_code == 404


# -- Cloud Monitoring alerts --------------------------------------------------------


def alerts_url(emu) -> str:
    return f"{emu.url}v3/projects/{PROJECT}/alerts"


def test_alerts_are_listed_newest_first_and_filtered_by_state_and_policy(emu):
    emu.open_alert("site-down-failover")
    emu.close_alert("site-down-failover")
    emu.open_alert("other-policy")
    emu.open_alert("site-down-failover")
    every = requests.get(alerts_url(emu)).json()["alerts"]
    assert [(a["policy"]["displayName"], a["state"]) for a in every] == [
        ("site-down-failover", "OPEN"), ("other-policy", "OPEN"), ("site-down-failover", "CLOSED"),
    ]
    assert "closeTime" in every[2] and "closeTime" not in every[0]
    assert every[0]["name"].startswith(f"projects/{PROJECT}/alerts/")
    wanted = 'state = "OPEN" AND policy.display_name = "site-down-failover"'
    assert [a["name"] for a in requests.get(alerts_url(emu), params={"filter": wanted}).json()["alerts"]] == [every[0]["name"]]
    closed = requests.get(alerts_url(emu), params={"filter": 'state = "CLOSED"'}).json()["alerts"]
    assert [a["state"] for a in closed] == ["CLOSED"]


def test_an_alert_filter_keeps_and_inside_a_quoted_policy_name(emu):
    emu.open_alert("web AND api down")
    emu.open_alert("web")
    wanted = 'policy.display_name = "web AND api down" AND state = "OPEN"'
    alerts = requests.get(alerts_url(emu), params={"filter": wanted}).json()["alerts"]
    assert [a["policy"]["displayName"] for a in alerts] == ["web AND api down"]


def test_an_alert_filter_outside_the_subset_answers_400(emu):
    for unsupported in ('severity = "CRITICAL"', 'state = "OPEN" OR state = "CLOSED"', 'state = "OPEN" AND'):
        response = requests.get(alerts_url(emu), params={"filter": unsupported})
        assert response.status_code == 400 and error_of(response)["status"] == "INVALID_ARGUMENT", unsupported


def test_alerts_page_with_page_size_and_token(emu):
    for i in range(3):
        emu.open_alert(f"policy-{i}")
    first = requests.get(alerts_url(emu), params={"pageSize": 2}).json()
    assert len(first["alerts"]) == 2
    second = requests.get(alerts_url(emu), params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()
    assert len(second["alerts"]) == 1 and "nextPageToken" not in second


def test_an_alert_can_be_read_by_its_name(emu):
    alert_id = emu.open_alert("site-down-failover").rsplit("/", 1)[1]
    alert = requests.get(f"{alerts_url(emu)}/{alert_id}").json()
    assert alert["state"] == "OPEN" and alert["policy"]["name"].startswith(f"projects/{PROJECT}/alertPolicies/")
    assert requests.get(f"{alerts_url(emu)}/0.nothing").status_code == 404


def test_the_control_endpoint_opens_and_closes_alerts(emu):
    opened = requests.post(emu.url + "_emulator/alerts", json={"policy": "site-down-failover", "state": "OPEN"}).json()
    closed = requests.post(emu.url + "_emulator/alerts", json={"policy": "site-down-failover", "state": "CLOSED"}).json()
    assert opened["name"] == closed["name"]
    assert requests.get(alerts_url(emu)).json()["alerts"][0]["state"] == "CLOSED"


# -- Cloudflare ----------------------------------------------------------------------


def entrypoint_url(emu, zone=ZONE) -> str:
    return f"{emu.cloudflare_url}zones/{zone}/rulesets/phases/http_request_dynamic_redirect/entrypoint"


def redirect_rule(ref="switch_failover", host="www.example.org", target="https://replica.example", **extra) -> dict:
    return {
        "ref": ref,
        "description": f"{ref} rule",
        "expression": f'(http.host eq "{host}" and http.request.uri.path ne "/healthz")',
        "action": "redirect",
        "action_parameters": {"from_value": {
            "target_url": {"expression": f'concat("{target}", http.request.uri.path)'},
            "status_code": 302, "preserve_query_string": True,
        }},
        "enabled": True,
        **extra,
    }


def put_rules(emu, *rules) -> dict:
    response = requests.put(entrypoint_url(emu), json={"rules": list(rules)}, headers=CF)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_an_entrypoint_never_created_answers_404_with_code_10003(emu):
    response = requests.get(entrypoint_url(emu), headers=CF)
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "errors": [{"code": 10003, "message": "could not find entrypoint ruleset in the http_request_dynamic_redirect phase"}],
        "messages": [],
        "result": None,
    }


def test_a_missing_bearer_token_answers_401_authentication_error(emu):
    response = requests.get(entrypoint_url(emu))
    assert response.status_code == 401
    assert response.json()["errors"] == [{"code": 10000, "message": "Authentication error"}]
    assert response.json()["success"] is False


def test_only_the_configured_token_is_accepted():
    with Emulator(cloudflare_token="right") as emu:
        assert requests.get(entrypoint_url(emu), headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert requests.get(entrypoint_url(emu), headers={"Authorization": "Bearer right"}).status_code == 404


def test_a_zone_id_that_is_not_32_hex_characters_is_refused(emu):
    response = requests.get(entrypoint_url(emu, zone="example.org"), headers=CF)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == 7003


def test_put_creates_the_entrypoint_and_gives_rules_their_server_fields(emu):
    ruleset = put_rules(emu, redirect_rule())
    assert len(ruleset["id"]) == 32 and ruleset["phase"] == "http_request_dynamic_redirect" and ruleset["version"] == "1"
    rule = ruleset["rules"][0]
    assert len(rule["id"]) == 32 and rule["version"] == "1" and rule["last_updated"] and rule["ref"] == "switch_failover"
    assert requests.get(entrypoint_url(emu), headers=CF).json()["result"] == ruleset


def test_add_patch_and_delete_leave_another_rule_byte_for_byte_the_same(emu):
    ruleset = put_rules(emu, redirect_rule(ref="someone_else", host="shop.example.org"))
    theirs = json.dumps(ruleset["rules"][0], sort_keys=False)
    rules_url = f"{emu.cloudflare_url}zones/{ZONE}/rulesets/{ruleset['id']}/rules"

    added = requests.post(rules_url, json=redirect_rule(), headers=CF).json()["result"]
    ours = next(r for r in added["rules"] if r["ref"] == "switch_failover")
    patched = requests.patch(f"{rules_url}/{ours['id']}", json=redirect_rule(enabled=False), headers=CF).json()["result"]
    assert next(r for r in patched["rules"] if r["ref"] == "switch_failover")["enabled"] is False
    deleted = requests.delete(f"{rules_url}/{ours['id']}", headers=CF).json()["result"]

    for result in (added, patched, deleted):
        assert json.dumps(next(r for r in result["rules"] if r["ref"] == "someone_else")) == theirs
    assert [r["ref"] for r in deleted["rules"]] == ["someone_else"]


def test_the_ruleset_version_increments_on_each_write(emu):
    ruleset = put_rules(emu, redirect_rule(ref="one", host="one.example"))
    rules_url = f"{emu.cloudflare_url}zones/{ZONE}/rulesets/{ruleset['id']}/rules"
    added = requests.post(rules_url, json=redirect_rule(), headers=CF).json()["result"]
    rule_id = added["rules"][-1]["id"]
    patched = requests.patch(f"{rules_url}/{rule_id}", json=redirect_rule(), headers=CF).json()["result"]
    deleted = requests.delete(f"{rules_url}/{rule_id}", headers=CF).json()["result"]
    assert [ruleset["version"], added["version"], patched["version"], deleted["version"]] == ["1", "2", "3", "4"]
    assert patched["rules"][-1]["version"] == "3" and patched["rules"][-1]["id"] == rule_id


def test_a_rule_can_be_added_before_another(emu):
    ruleset = put_rules(emu, redirect_rule(ref="first", host="a.example"))
    rules_url = f"{emu.cloudflare_url}zones/{ZONE}/rulesets/{ruleset['id']}/rules"
    first_id = ruleset["rules"][0]["id"]
    added = requests.post(rules_url, json={**redirect_rule(), "position": {"before": first_id}}, headers=CF).json()["result"]
    assert [r["ref"] for r in added["rules"]] == ["switch_failover", "first"]


def test_a_duplicate_ref_answers_400(emu):
    ruleset = put_rules(emu, redirect_rule())
    response = requests.post(f"{emu.cloudflare_url}zones/{ZONE}/rulesets/{ruleset['id']}/rules", json=redirect_rule(), headers=CF)
    assert response.status_code == 400 and response.json()["success"] is False


def test_a_patch_without_expression_or_action_answers_400(emu):
    ruleset = put_rules(emu, redirect_rule())
    rule_url = f"{emu.cloudflare_url}zones/{ZONE}/rulesets/{ruleset['id']}/rules/{ruleset['rules'][0]['id']}"
    for field in ("expression", "action"):
        partial = redirect_rule()
        del partial[field]
        assert requests.patch(rule_url, json=partial, headers=CF).status_code == 400
    assert emu.redirect_rules(ZONE) == ruleset["rules"]


def test_a_redirect_without_status_code_is_stored_as_301(emu):
    rule = redirect_rule()
    del rule["action_parameters"]["from_value"]["status_code"]
    put_rules(emu, rule)
    assert emu.redirect_rules(ZONE)[0]["action_parameters"]["from_value"]["status_code"] == 301


def test_a_target_url_needs_exactly_one_of_value_or_expression(emu):
    rule = redirect_rule()
    rule["action_parameters"]["from_value"]["target_url"] = {"value": "https://a.example", "expression": "concat(\"x\", http.request.uri.path)"}
    assert requests.put(entrypoint_url(emu), json={"rules": [rule]}, headers=CF).status_code == 400
    rule["action_parameters"]["from_value"]["target_url"] = {}
    assert requests.put(entrypoint_url(emu), json={"rules": [rule]}, headers=CF).status_code == 400


def test_a_status_code_outside_301_302_307_308_answers_400(emu):
    rule = redirect_rule()
    rule["action_parameters"]["from_value"]["status_code"] = 303
    assert requests.put(entrypoint_url(emu), json={"rules": [rule]}, headers=CF).status_code == 400


# -- the edge ----------------------------------------------------------------------


def edge(emu, host, path="", query=None) -> requests.Response:
    return requests.get(f"{emu.url}_edge/{host}/{path}", params=query, allow_redirects=False)


def test_the_edge_redirects_the_site_but_not_its_health_path(emu):
    put_rules(emu, redirect_rule(target="https://replica.example"))
    redirected = edge(emu, "www.example.org", "blog/post", {"page": "2"})
    assert redirected.status_code == 302
    assert redirected.headers["Location"] == "https://replica.example/blog/post?page=2"
    assert edge(emu, "www.example.org", "healthz").status_code == 200
    assert edge(emu, "shop.example.org", "blog/post").status_code == 200


def test_the_edge_uses_a_static_target_and_drops_the_query_unless_asked(emu):
    rule = redirect_rule()
    rule["action_parameters"]["from_value"] = {"target_url": {"value": "https://static.example/"}, "status_code": 307}
    put_rules(emu, rule)
    response = edge(emu, "www.example.org", "x", {"q": "1"})
    assert response.status_code == 307 and response.headers["Location"] == "https://static.example/"


def test_the_edge_skips_disabled_rules(emu):
    put_rules(emu, redirect_rule(enabled=False))
    assert edge(emu, "www.example.org", "blog").status_code == 200


def test_the_edge_answers_the_origin_when_no_rule_exists(emu):
    response = edge(emu, "www.example.org", "blog")
    assert response.status_code == 200 and "origin" in response.text


def test_the_edge_refuses_an_expression_it_does_not_understand(emu):
    put_rules(emu, {**redirect_rule(), "expression": 'http.request.uri.path matches "^/b"'})
    response = edge(emu, "www.example.org", "blog")
    assert response.status_code == 500 and "does not understand" in response.text


def test_the_edge_understands_not_or_and_starts_with(emu):
    expression = '(http.host eq "a.example" or http.host eq "b.example") and not starts_with(http.request.uri.path, "/api/")'
    put_rules(emu, {**redirect_rule(), "expression": expression})
    assert edge(emu, "b.example", "page").status_code == 302
    assert edge(emu, "b.example", "api/x").status_code == 200
    assert edge(emu, "c.example", "page").status_code == 200


# -- faults, latency, recording -----------------------------------------------------------


def test_a_fault_by_count_answers_the_status_then_the_api_recovers(emu):
    emu.inject(status=503, count=2)
    for _ in range(2):
        response = requests.get(services_url(emu))
        assert response.status_code == 503 and error_of(response)["status"] == "UNAVAILABLE"
    assert requests.get(services_url(emu)).status_code == 200


def test_a_429_fault_carries_retry_after_and_resource_exhausted(emu):
    emu.inject(status=429, count=1)
    response = requests.get(services_url(emu))
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert error_of(response)["status"] == "RESOURCE_EXHAUSTED"


def test_a_fault_by_rate_is_reproducible_with_a_seed(emu):
    def pattern():
        emu.clear_faults()
        emu.inject(status=500, rate=0.3, seed=7)
        return [requests.get(services_url(emu)).status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(500) < 20 and set(first) == {200, 500}


def test_a_reset_fault_drops_the_connection_without_an_answer(emu):
    emu.inject(kind="reset", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(services_url(emu))
    assert requests.get(services_url(emu)).status_code == 200
    assert [r.status for r in emu.calls()] == [0, 200]


def test_an_after_fault_performs_the_call_then_answers_the_error(emu):
    emu.inject(kind="after", status=503, count=1, method="POST", contains="/services")
    assert create(emu).status_code == 503
    assert NAME in emu.services(PROJECT, REGION)
    assert create(emu).status_code == 409  # the retry of a create that did happen


def test_faults_match_only_their_method_and_path(emu):
    emu.inject(status=500, count=1, method="POST", contains="/services")
    assert requests.get(services_url(emu)).status_code == 200
    assert requests.get(alerts_url(emu)).status_code == 200
    assert create(emu).status_code == 500


def test_faults_reach_cloudflare_in_its_own_envelope(emu):
    emu.inject(status=429, count=1, contains="/client/v4/")
    response = requests.get(entrypoint_url(emu), headers=CF)
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert response.json()["success"] is False and response.json()["errors"][0]["code"] == 971


def test_control_paths_are_never_faulted(emu):
    emu.inject(status=503, rate=1.0)
    assert requests.get(emu.url + "_emulator/state").status_code == 200
    assert requests.get(services_url(emu)).status_code == 503


def test_latency_is_added_to_every_api_call(emu):
    emu.set_latency(150)
    started = time.monotonic()
    requests.get(services_url(emu))
    assert time.monotonic() - started >= 0.15
    emu.set_latency(0)


def test_every_api_call_is_recorded_with_the_status_answered(emu):
    emu.inject(status=503, count=1, method="POST")
    create(emu)
    create(emu)
    requests.get(services_url(emu, NAME), params={"alt": "json"})
    calls = emu.calls()
    assert [(c.method, c.status) for c in calls] == [("POST", 503), ("POST", 200), ("GET", 200)]
    assert calls[0].json["metadata"]["name"] == NAME and calls[0].path == f"/v1/projects/{PROJECT}/locations/{REGION}/services"
    assert calls[2].query == {"alt": "json"} and calls[2].json is None
    assert emu.calls(method="GET", contains=NAME) == [calls[2]]
    emu.clear_requests()
    assert emu.requests == []


def test_visits_are_recorded_but_are_not_api_calls(emu):
    requests.get(f"{emu.url}_run/{REGION}/{NAME}")
    edge(emu, "www.example.org")
    requests.get(emu.url + "_emulator/state")
    assert [r.kind for r in emu.requests] == ["replica", "edge"]
    assert emu.calls() == []


# -- control endpoints ---------------------------------------------------------------


def test_faults_and_config_can_be_set_over_http(emu):
    control = emu.url + "_emulator/"
    assert requests.post(control + "faults", json={"status": 500, "count": 1}).status_code == 200
    assert requests.get(services_url(emu)).status_code == 500
    requests.post(control + "faults", json={"status": 500, "count": 5})
    requests.delete(control + "faults")
    assert requests.get(services_url(emu)).status_code == 200
    config = requests.post(control + "config", json={"ready_delay": 0, "latency_ms": 0}).json()["config"]
    assert config["ready_delay"] == 0
    assert condition(create(emu).json())["status"] == "True"
    assert requests.post(control + "faults", json={"status": 200}).status_code == 400
    assert requests.post(control + "config", json={"speed": 1}).status_code == 400


def test_recorded_requests_and_state_can_be_read_over_http(emu):
    create(emu)
    put_rules(emu, redirect_rule())
    emu.open_alert("site-down-failover")
    recorded = requests.get(emu.url + "_emulator/requests").json()["requests"]
    assert [(r["method"], r["status"]) for r in recorded] == [("POST", 200), ("PUT", 200)]
    state = requests.get(emu.url + "_emulator/state").json()
    assert NAME in state["services"][f"{PROJECT}/{REGION}"]
    assert state["rulesets"][ZONE]["rules"][0]["ref"] == "switch_failover"
    assert state["alerts"][0]["state"] == "OPEN"
    assert f"projects/{PROJECT}/locations/{REGION}/services/{NAME}" in state["iam"]
    requests.delete(emu.url + "_emulator/requests")
    assert emu.requests == []


# -- concurrency ---------------------------------------------------------------------


def test_fifty_concurrent_clients_are_all_answered(emu):
    results: list[int] = []
    lock = threading.Lock()

    def client(i: int):
        with requests.Session() as session:
            codes = [
                session.post(services_url(emu), json=service_body(name=f"svc-{i}")).status_code,
                session.get(services_url(emu, f"svc-{i}")).status_code,
                session.post(services_url(emu), json=service_body(name="shared")).status_code,
            ]
        with lock:
            results.extend(codes)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 150
    assert results.count(409) == 49  # exactly one create of "shared" won
    assert len(emu.services(PROJECT, REGION)) == 51


# -- HomeSite and the command line ----------------------------------------------------------


def test_the_home_site_refuses_connections_while_down_and_answers_when_back():
    home = HomeSite().start()
    try:
        with requests.Session() as session:
            assert session.get(home.url + "/healthz").status_code == 200
            home.go_down()
            with pytest.raises(requests.ConnectionError):
                session.get(home.url + "/healthz", timeout=2)
            home.come_back()
            response = session.get(home.url + "/", timeout=2)
        assert response.status_code == 200 and "home" in response.text
        assert home.hits == 2
    finally:
        home.stop()


def test_main_help_exits_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--ready-delay" in out and "--fault-status" in out


def test_importing_the_emulator_does_not_import_the_google_client():
    code = "import sys, switch.emulator; sys.exit('googleapiclient' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- the real Google client against the emulator ----------------------------------------


class RequestsHttp:
    """Just enough of httplib2.Http for googleapiclient, over requests."""

    def __init__(self):
        self.session = requests.Session()

    def request(self, uri, method="GET", body=None, headers=None, redirections=5, connection_type=None):
        import httplib2

        r = self.session.request(method, uri, data=body, headers=headers, allow_redirects=False)
        response = httplib2.Response({**{k.lower(): v for k, v in r.headers.items()}, "status": str(r.status_code)})
        response.reason = r.reason
        return response, r.content


def test_the_discovery_built_run_client_reaches_the_emulator(emu):
    from googleapiclient import discovery
    from googleapiclient.errors import HttpError

    run = discovery.build("run", "v1", http=RequestsHttp(), client_options={"api_endpoint": emu.url}, static_discovery=True)
    services = run.projects().locations().services()
    parent = f"projects/{PROJECT}/locations/{REGION}"
    created = services.create(parent=parent, body=service_body()).execute()
    assert created["metadata"]["namespace"] == NUMBER
    fetched = services.get(name=f"{parent}/services/{NAME}").execute()
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
    policy = services.getIamPolicy(resource=f"{parent}/services/{NAME}").execute()
    services.setIamPolicy(resource=f"{parent}/services/{NAME}", body={"policy": {**policy, "bindings": [
        {"role": "roles/run.invoker", "members": ["allUsers"]}]}}).execute()
    listed = services.list(parent=parent, labelSelector="managed-by=switch").execute()
    assert [s["metadata"]["name"] for s in listed["items"]] == [NAME]
    with pytest.raises(HttpError) as conflict:
        services.create(parent=parent, body=service_body()).execute()
    assert conflict.value.status_code == 409
    mapping = run.projects().locations().domainmappings().create(parent=parent, body=mapping_body()).execute()
    assert mapping["status"]["mappedRouteName"] == NAME
    deleted = services.delete(name=f"{parent}/services/{NAME}").execute()
    assert deleted["status"] == "Success"
    assert [c.path.split("/")[-1] for c in emu.calls()][:4] == ["services", NAME, f"{NAME}:getIamPolicy", f"{NAME}:setIamPolicy"]
