"""The APIs a deploy of switch needs, emulated over real sockets: each test names the behaviour it proves.

Cloud Functions v2 (operations, source upload, builds, the function's Cloud
Run service), Secret Manager v1, IAM service accounts, the project's IAM
policy, and the v1 paths they share. Delays are a few hundredths of a second.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import requests

from switch.emulator import Emulator
from switch.emulator.secretmanager import crc32c

P, NUMBER, L = "switch-demo", "123456789012", "europe-west1"
SA = f"switch-fn@{P}.iam.gserviceaccount.com"
TOPIC = f"projects/{P}/topics/switch-alerts"
DELAY = 0.05
MAIN = "def switch(request):\n    return 'ok'\n\n\ndef switch_pubsub(cloud_event):\n    return None\n"
SOURCE = {"main.py": MAIN, "requirements.txt": "functions-framework==3.10.2\n"}
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def emu():
    with Emulator(deploy_delay=DELAY, ready_delay=DELAY, delete_delay=DELAY, project_number=NUMBER) as emulator:
        emulator.create_service_account(P, "switch-fn")
        emulator.create_topic(TOPIC)
        yield emulator


def zipped(files: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def fns(emu, suffix: str = "") -> str:
    return f"{emu.url}v2/projects/{P}/locations/{L}/functions{suffix}"


def upload(emu, files=None, data: bytes | None = None) -> dict:
    answer = requests.post(fns(emu, ":generateUploadUrl"), json={}).json()
    put = requests.put(answer["uploadUrl"], data=zipped(files or SOURCE) if data is None else data,
                       headers={"Content-Type": "application/zip"})
    assert put.status_code == 200
    return answer["storageSource"]


def body(storage: dict, entry: str = "switch", **service) -> dict:
    return {"buildConfig": {"runtime": "python312", "entryPoint": entry, "source": {"storageSource": storage}},
            "serviceConfig": {"serviceAccountEmail": SA, **service}}


def create(emu, fid: str = "switch-http", spec: dict | None = None) -> requests.Response:
    return requests.post(fns(emu), params={"functionId": fid}, json=spec if spec is not None else body(upload(emu)))


def finished(emu, operation: dict) -> dict:
    deadline = time.time() + 3
    while True:
        op = requests.get(f"{emu.url}v2/{operation['name']}").json()
        if op["done"] or time.time() > deadline:
            return op
        time.sleep(DELAY / 2)


def deployed(emu, fid: str = "switch-http", spec: dict | None = None) -> dict:
    created = create(emu, fid, spec)
    assert created.status_code == 200, created.text
    op = finished(emu, created.json())
    assert "error" not in op, op
    return op["response"]


def error(response: requests.Response) -> dict:
    return response.json()["error"]


def grant_secret_access(emu, member: str = f"serviceAccount:{SA}") -> None:
    url = f"{emu.url}v1/projects/{P}"
    policy = requests.post(url + ":getIamPolicy", json={}).json()
    policy["bindings"].append({"role": "roles/secretmanager.secretAccessor", "members": [member]})
    assert requests.post(url + ":setIamPolicy", json={"policy": policy}).status_code == 200


def add_secret(emu, secret: str = "switch-token", value: bytes = b"s3cret") -> None:
    url = f"{emu.url}v1/projects/{P}/secrets"
    requests.post(url, params={"secretId": secret}, json={"replication": {"automatic": {}}})
    requests.post(f"{url}/{secret}:addVersion", json={"payload": {"data": base64.b64encode(value).decode()}})


# -- Cloud Functions: deploy, operations, state ------------------------------------------------


def test_create_answers_an_operation_and_the_function_deploys_then_turns_active(emu):
    created = create(emu)
    op = created.json()
    assert created.status_code == 200 and op["done"] is False
    assert re.fullmatch(rf"projects/{P}/locations/{L}/operations/operation-\d{{13}}-[0-9a-f]{{13}}-[0-9a-f]{{8}}-"
                        r"[0-9a-f]{8}", op["name"])
    meta = op["metadata"]
    assert meta["@type"] == "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"
    assert (meta["target"], meta["verb"], meta["operationType"]) == (
        f"projects/{P}/locations/{L}/functions/switch-http", "create", "CREATE_FUNCTION")
    assert [s["name"] for s in meta["stages"]] == ["BUILD", "SERVICE"]
    assert requests.get(fns(emu, "/switch-http")).json()["state"] == "DEPLOYING"

    done = finished(emu, op)
    assert done["done"] and done["metadata"]["endTime"] and {s["state"] for s in done["metadata"]["stages"]} == {
        "COMPLETE"}
    fn = requests.get(fns(emu, "/switch-http")).json()
    assert done["response"]["@type"] == "type.googleapis.com/google.cloud.functions.v2.Function"
    assert (fn["state"], fn["environment"]) == ("ACTIVE", "GEN_2")
    assert fn["url"] == f"{emu.url}_fn/{L}/switch-http"
    service = fn["serviceConfig"]
    assert service["service"] == f"projects/{P}/locations/{L}/services/switch-http"
    assert service["uri"] == f"{emu.url}_run/{L}/switch-http" and service["revision"].startswith("switch-http-00001-")
    assert service["environmentVariables"] == {"LOG_EXECUTION_ID": "true"}
    assert (service["availableMemory"], service["timeoutSeconds"], service["ingressSettings"]) == (
        "256M", 60, "ALLOW_ALL")
    assert fn["buildConfig"]["sourceProvenance"]["resolvedStorageSource"]["object"] == "switch-http/function-source.zip"
    assert fn["updateTime"] >= fn["createTime"]


def test_the_function_service_is_googles_not_switchs_even_when_the_function_is_labelled_so(emu):
    deployed(emu, "Switch_Http", {**body(upload(emu)), "labels": {"managed-by": "switch"}})
    service = emu.services(P, L)["switch-http"]  # lowercased, "_" made "-"
    labels = service["metadata"]["labels"]
    assert labels["goog-managed-by"] == "cloudfunctions" and "managed-by" not in labels
    assert service["status"]["conditions"][0]["status"] == "True"
    container = service["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith(f"{L}-docker.pkg.dev/{P}/gcf-artifacts/switch--demo__europe--west1__")


def test_the_function_service_takes_run_set_iam_policy_and_then_its_url_lets_everyone_in(emu):
    fn = deployed(emu)
    assert requests.get(fn["url"]).status_code == 403
    run = f"{emu.url}v1/projects/{P}/locations/{L}/services/switch-http"
    policy = requests.get(run + ":getIamPolicy").json()
    policy["bindings"] = [{"role": "roles/run.invoker", "members": ["allUsers"]}]
    assert requests.post(run + ":setIamPolicy", json={"policy": policy}).status_code == 200
    visit = requests.get(fn["url"] + "/hook")
    assert visit.status_code == 200 and "switch-http" in visit.text
    assert [r.kind for r in emu.requests][-2:] == ["api", "function"]


@pytest.mark.parametrize("files, why", [
    ({"main.py": "def other(request):\n    pass\n", "requirements.txt": ""},
     "File main.py is expected to contain a function named switch"),
    ({"requirements.txt": ""}, "missing main.py and GOOGLE_FUNCTION_SOURCE not specified"),
    ({"main.py": MAIN}, "missing requirements.txt"),
    ({"src/main.py": MAIN, "requirements.txt": ""}, "missing main.py"),
])
def test_a_bad_zip_fails_the_build_and_the_previous_version_stays(emu, files, why):
    before = deployed(emu, spec=body(upload(emu), timeoutSeconds=100))
    patched = requests.patch(fns(emu, "/switch-http"), json=body(upload(emu, files), timeoutSeconds=200))
    op = finished(emu, patched.json())
    assert op["error"]["code"] == 3
    assert op["error"]["message"].startswith("Build failed: ") and why in op["error"]["message"]
    assert [(s["name"], s["state"]) for s in op["metadata"]["stages"]] == [("BUILD", "COMPLETE"),
                                                                           ("SERVICE", "NOT_STARTED")]
    after = requests.get(fns(emu, "/switch-http")).json()
    assert after["state"] == "ACTIVE" and after["serviceConfig"]["timeoutSeconds"] == 100
    assert after["serviceConfig"]["revision"] == before["serviceConfig"]["revision"]


def test_a_first_create_whose_build_fails_leaves_the_function_failed(emu):
    created = create(emu, spec=body(upload(emu, data=b"not a zip")))
    op = finished(emu, created.json())
    assert "not a valid zip" in op["error"]["message"]
    fn = requests.get(fns(emu, "/switch-http")).json()
    assert fn["state"] == "FAILED" and fn["stateMessages"][0]["severity"] == "ERROR" and "url" not in fn
    assert "switch-http" not in emu.services(P, L)


def test_creating_a_function_that_exists_is_409_already_exists(emu):
    deployed(emu)
    again = create(emu)
    assert again.status_code == 409 and error(again)["status"] == "ALREADY_EXISTS"


def test_a_patch_with_a_mask_changes_only_the_masked_fields(emu):
    deployed(emu, spec={**body(upload(emu), timeoutSeconds=100, environmentVariables={"A": "1", "B": "2"}),
                        "labels": {"team": "web"}})
    change = {"serviceConfig": {"environmentVariables": {"A": "9"}, "timeoutSeconds": 300}, "labels": {}}
    patched = requests.patch(fns(emu, "/switch-http"), params={"updateMask": "service_config.environment_variables"},
                             json=change)
    op = patched.json()
    assert (op["metadata"]["verb"], op["metadata"]["operationType"]) == ("update", "UPDATE_FUNCTION")
    assert "error" not in finished(emu, op)
    fn = requests.get(fns(emu, "/switch-http")).json()
    assert fn["serviceConfig"]["environmentVariables"] == {"A": "9", "LOG_EXECUTION_ID": "true"}
    assert fn["serviceConfig"]["timeoutSeconds"] == 100 and fn["labels"] == {"team": "web"}
    assert fn["serviceConfig"]["revision"].startswith("switch-http-00002-")


def test_a_patch_without_a_mask_replaces_the_fields_the_body_sets(emu):
    deployed(emu, spec={**body(upload(emu)), "labels": {"team": "web"}})
    patched = requests.patch(fns(emu, "/switch-http"), json={"serviceConfig": {"serviceAccountEmail": SA}})
    finished(emu, patched.json())
    fn = requests.get(fns(emu, "/switch-http")).json()
    assert fn["labels"] == {"team": "web"} and fn["serviceConfig"]["timeoutSeconds"] == 60


def test_a_second_write_while_an_operation_runs_is_409_aborted(emu):
    create(emu)
    patched = requests.patch(fns(emu, "/switch-http"), json={"labels": {"a": "b"}})
    assert patched.status_code == 409 and error(patched)["status"] == "ABORTED"


def test_delete_answers_an_operation_and_removes_the_function_and_its_service(emu):
    deployed(emu)
    op = requests.delete(fns(emu, "/switch-http")).json()
    assert requests.get(fns(emu, "/switch-http")).json()["state"] == "DELETING"
    assert finished(emu, op)["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert requests.get(fns(emu, "/switch-http")).status_code == 404
    assert "switch-http" not in emu.services(P, L)


def test_operations_end_after_the_deploy_delay_set_through_control(emu):
    config = requests.post(f"{emu.url}_emulator/config", json={"deploy_delay": 0.3}).json()["config"]
    assert config["deploy_delay"] == 0.3
    op = create(emu).json()
    time.sleep(0.1)
    assert requests.get(f"{emu.url}v2/{op['name']}").json()["done"] is False
    time.sleep(0.25)
    assert requests.get(f"{emu.url}v2/{op['name']}").json()["done"] is True


@pytest.mark.parametrize("edit, words", [
    (lambda b: b["serviceConfig"].update(foo=1), "Unknown name \"foo\" at 'function.service_config'"),
    (lambda b: b["buildConfig"].update(runtime="python39"), "Runtime python39 is decommissioned and no longer allowed"),
    (lambda b: b["buildConfig"].update(runtime="cobol85"), "Invalid runtime 'cobol85'"),
    (lambda b: b["serviceConfig"].update(timeoutSeconds=3601), "between 1 and 3600 seconds"),
    (lambda b: b.update(eventTrigger={"eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                                      "pubsubTopic": TOPIC}) or b["serviceConfig"].update(timeoutSeconds=541),
     "between 1 and 540 seconds"),
    (lambda b: b["serviceConfig"].update(availableMemory="1Qi"), "Invalid value specified for memory"),
    (lambda b: b["serviceConfig"].update(maxInstanceRequestConcurrency=80), "Total cpu < 1 is not supported"),
    (lambda b: b["serviceConfig"].update(ingressSettings="OPEN"), "ingress_settings"),
    (lambda b: b["serviceConfig"].update(environmentVariables={"PORT": "1"}), "Invalid environment variable name"),
    (lambda b: b["serviceConfig"].update(secretEnvironmentVariables=[{"key": "T", "secret": "t"}]), "version"),
    (lambda b: b.update(labels={"Team": "web"}), "invalid key 'Team'"),
    (lambda b: b.update(eventTrigger={"eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                                      "pubsubTopic": TOPIC, "retryPolicy": "ALWAYS"}), "retry_policy"),
])
def test_create_refuses_what_google_refuses(emu, edit, words):
    spec = body(upload(emu))
    edit(spec)
    refused = create(emu, spec=spec)
    assert refused.status_code == 400 and words in error(refused)["message"]


@pytest.mark.parametrize("fid", ["1abc", "ends-", "has.dot", "x" * 64])
def test_create_refuses_a_bad_function_id(emu, fid):
    assert create(emu, fid).status_code == 400


@pytest.mark.parametrize("edit, words", [
    (lambda b: b["serviceConfig"].update(serviceAccountEmail=f"ghost-acct@{P}.iam.gserviceaccount.com"),
     "Invalid function service account requested: ghost-acct@"),
    (lambda b: b.update(eventTrigger={"eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                                      "pubsubTopic": f"projects/{P}/topics/nope"}), "topics/nope was not found"),
    (lambda b: b["buildConfig"]["source"]["storageSource"].update(object="never-put.zip"),
     "Failed to retrieve function source code"),
])
def test_functions_refuse_a_missing_service_account_topic_or_source(emu, edit, words):
    spec = body(upload(emu))
    edit(spec)
    refused = create(emu, spec=spec)
    assert refused.status_code == 400 and words in error(refused)["message"]


def test_a_missing_secret_or_missing_access_fails_the_service_stage_until_granted(emu):
    secrets = [{"key": "SWITCH_TOKEN", "projectId": NUMBER, "secret": "switch-token", "version": "latest"}]
    spec = body(upload(emu), secretEnvironmentVariables=secrets)
    op = finished(emu, create(emu, spec=spec).json())
    assert f"Secret projects/{NUMBER}/secrets/switch-token/versions/latest was not found" in op["error"]["message"]
    assert op["metadata"]["stages"][1]["state"] == "COMPLETE" and op["metadata"]["stages"][1]["stateMessages"]

    add_secret(emu)
    op = finished(emu, requests.patch(fns(emu, "/switch-http"), json=spec).json())
    assert "Permission denied on secret" in op["error"]["message"] and SA in op["error"]["message"]

    grant_secret_access(emu)
    op = finished(emu, requests.patch(fns(emu, "/switch-http"), json=spec).json())
    assert "error" not in op and op["response"]["state"] == "ACTIVE"
    env = emu.services(P, L)["switch-http"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SWITCH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "switch-token", "key": "latest"}}} in env


def test_a_pubsub_function_gets_its_trigger_and_mask_paths_may_mix_cases(emu):
    trigger = {"eventType": "google.cloud.pubsub.topic.v1.messagePublished", "pubsubTopic": TOPIC,
               "serviceAccountEmail": SA}
    fn = deployed(emu, "switch-pubsub", {**body(upload(emu), entry="switch_pubsub"), "eventTrigger": trigger})
    assert fn["eventTrigger"]["retryPolicy"] == "RETRY_POLICY_DO_NOT_RETRY" and fn["eventTrigger"]["triggerRegion"] == L
    assert fn["eventTrigger"]["trigger"].startswith(f"projects/{P}/locations/{L}/triggers/switch-pubsub-")
    change = {"eventTrigger": {**trigger, "retryPolicy": "RETRY_POLICY_RETRY"}}
    op = requests.patch(fns(emu, "/switch-pubsub"), params={"updateMask": "eventTrigger.retryPolicy,event_trigger"},
                        json=change).json()
    assert [s["name"] for s in op["metadata"]["stages"]] == ["BUILD", "SERVICE", "TRIGGER"]
    assert finished(emu, op)["response"]["eventTrigger"]["retryPolicy"] == "RETRY_POLICY_RETRY"


def test_list_filters_by_environment_as_gcloud_asks(emu):
    deployed(emu)
    listed = requests.get(f"{emu.url}v2/projects/{P}/locations/-/functions", params={"filter": 'environment="GEN_2"'})
    assert [f["name"].rsplit("/", 1)[1] for f in listed.json()["functions"]] == ["switch-http"]
    assert requests.get(fns(emu), params={"filter": 'environment="GEN_1"'}).json() == {}


# -- the source upload ------------------------------------------------------------------------------


def test_the_upload_url_is_signed_outside_the_api_and_a_second_put_replaces(emu):
    answer = requests.post(fns(emu, ":generateUploadUrl"), json={"environment": "GEN_2"}).json()
    storage = answer["storageSource"]
    assert storage["bucket"] == f"gcf-v2-uploads-{NUMBER}.{L}.cloudfunctions.appspot.com"
    assert answer["uploadUrl"].startswith(f"{emu.url}_upload/{storage['bucket']}/{storage['object']}?")
    for data in (zipped({"a": "1"}), zipped(SOURCE)):
        put = requests.put(answer["uploadUrl"], data=data, headers={"Content-Type": "application/zip"})
        assert put.status_code == 200
    assert emu.uploads[f"{storage['bucket']}/{storage['object']}"] == zipped(SOURCE)
    assert emu.requests[-1].kind == "upload"


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", None])
def test_an_upload_with_another_content_type_is_refused_as_a_bad_signature(emu, content_type):
    url = requests.post(fns(emu, ":generateUploadUrl"), json={}).json()["uploadUrl"]
    headers = {"Content-Type": content_type} if content_type else {}
    put = requests.put(url, data=zipped(SOURCE), headers=headers)
    assert put.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in put.text
    assert emu.uploads == {}


def test_an_upload_url_with_a_forged_signature_is_refused(emu):
    url = requests.post(fns(emu, ":generateUploadUrl"), json={}).json()["uploadUrl"]
    forged = re.sub(r"X-Goog-Signature=[0-9a-f]+", "X-Goog-Signature=00", url)
    assert requests.put(forged, data=b"PK", headers={"Content-Type": "application/zip"}).status_code == 403


# -- Secret Manager -----------------------------------------------------------------------------------


def test_secret_versions_count_up_and_latest_is_accessed_with_its_crc32c(emu):
    url = f"{emu.url}v1/projects/{P}/secrets"
    created = requests.post(url, params={"secretId": "switch-token"}, json={"replication": {"automatic": {}}}).json()
    assert created["name"] == f"projects/{NUMBER}/secrets/switch-token" and created["etag"].startswith('"')
    for value in (b"one", b"two"):
        payload = {"data": base64.b64encode(value).decode(), "dataCrc32c": str(crc32c(value))}
        added = requests.post(f"{url}/switch-token:addVersion", json={"payload": payload}).json()
        assert added["state"] == "ENABLED" and added["clientSpecifiedPayloadChecksum"] is True
    assert added["name"] == f"projects/{NUMBER}/secrets/switch-token/versions/2"
    latest = requests.get(f"{url}/switch-token/versions/latest:access").json()
    assert latest["name"].endswith("/versions/2") and base64.b64decode(latest["payload"]["data"]) == b"two"
    assert latest["payload"]["dataCrc32c"] == str(crc32c(b"two"))
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    listed = requests.get(f"{url}/switch-token/versions").json()
    assert [v["name"][-1] for v in listed["versions"]] == ["2", "1"] and listed["totalSize"] == 2
    requests.post(f"{url}/switch-token/versions/2:disable")
    disabled = requests.get(f"{url}/switch-token/versions/2:access")
    assert disabled.status_code == 400 and error(disabled)["status"] == "FAILED_PRECONDITION"


def test_secret_manager_refuses_a_bad_id_no_replication_a_wrong_checksum_and_a_duplicate(emu):
    url = f"{emu.url}v1/projects/{P}/secrets"
    assert requests.post(url, params={"secretId": "bad/id"}, json={"replication": {"automatic": {}}}).status_code == 400
    assert requests.post(url, params={"secretId": "t"}, json={}).status_code == 400
    requests.post(url, params={"secretId": "t"}, json={"replication": {"automatic": {}}})
    again = requests.post(url, params={"secretId": "t"}, json={"replication": {"automatic": {}}})
    assert again.status_code == 409
    assert error(again)["message"] == f"Secret [projects/{NUMBER}/secrets/t] already exists."
    wrong = requests.post(f"{url}/t:addVersion", json={"payload": {"data": "eA==", "dataCrc32c": "1"}})
    assert wrong.status_code == 400
    missing = requests.get(f"{url}/t/versions/latest:access")
    assert missing.status_code == 404 and "not found or has no versions" in error(missing)["message"]


def test_secret_labels_change_through_a_mask_and_iam_grants_on_the_secret(emu):
    url = f"{emu.url}v1/projects/{P}/secrets/t"
    requests.post(f"{emu.url}v1/projects/{P}/secrets", params={"secretId": "t"},
                  json={"replication": {"automatic": {}}, "labels": {"a": "1"}})
    assert requests.patch(url, json={"labels": {"b": "2"}}).status_code == 400  # the mask is required
    patched = requests.patch(url, params={"updateMask": "labels"}, json={"labels": {"b": "2"}}).json()
    assert patched["labels"] == {"b": "2"}
    policy = requests.get(url + ":getIamPolicy").json()
    assert policy == {"etag": "ACAB"}
    policy["bindings"] = [{"role": "roles/secretmanager.secretAccessor", "members": [f"serviceAccount:{SA}"]}]
    assert requests.post(url + ":setIamPolicy", json={"policy": policy}).status_code == 200
    policy["bindings"][0]["members"] = [f"serviceAccount:ghost-acct@{P}.iam.gserviceaccount.com"]
    assert requests.post(url + ":setIamPolicy", json={"policy": {"bindings": policy["bindings"]}}).status_code == 400


# -- IAM service accounts ------------------------------------------------------------------------------


def test_a_service_account_is_created_once_and_found_by_email_or_unique_id(emu):
    url = f"{emu.url}v1/projects/{P}/serviceAccounts"
    made = requests.post(url, json={"accountId": "switch-deploy", "serviceAccount": {"displayName": "Deploy"}}).json()
    email = f"switch-deploy@{P}.iam.gserviceaccount.com"
    assert (made["name"], made["email"], made["projectId"]) == (f"projects/{P}/serviceAccounts/{email}", email, P)
    assert made["uniqueId"] == made["oauth2ClientId"] and len(made["uniqueId"]) == 21
    again = requests.post(url, json={"accountId": "switch-deploy"})
    assert again.status_code == 409 and "already exists within project projects/switch-demo" in error(again)["message"]
    assert requests.get(f"{emu.url}v1/projects/-/serviceAccounts/{email}").json()["email"] == email
    assert requests.get(f"{emu.url}v1/projects/-/serviceAccounts/{made['uniqueId']}").json()["email"] == email
    emails = [a["email"] for a in requests.get(url).json()["accounts"]]
    assert emails == [f"{NUMBER}-compute@developer.gserviceaccount.com", email, SA]


def test_a_missing_service_account_is_404_unknown_and_a_short_id_is_refused(emu):
    missing = requests.get(f"{emu.url}v1/projects/{P}/serviceAccounts/ghost-acct@{P}.iam.gserviceaccount.com")
    assert missing.status_code == 404 and error(missing)["message"] == "Unknown service account"
    short = requests.post(f"{emu.url}v1/projects/{P}/serviceAccounts", json={"accountId": "abc"})
    assert short.status_code == 400 and "between 6 and 30 characters" in error(short)["message"]


def test_a_service_account_patch_takes_its_mask_in_the_body(emu):
    url = f"{emu.url}v1/projects/{P}/serviceAccounts/{SA}"
    patched = requests.patch(url, json={"serviceAccount": {"description": "runs switch", "displayName": "x"},
                                        "updateMask": "description"}).json()
    assert patched["description"] == "runs switch" and "displayName" not in patched
    assert requests.patch(url, json={"serviceAccount": {"description": "y"}}).status_code == 400


# -- the project's IAM policy ----------------------------------------------------------------------------


def test_the_project_policy_starts_realistic_and_a_new_binding_keeps_the_others(emu):
    url = f"{emu.url}v1/projects/{P}"
    policy = requests.post(url + ":getIamPolicy", json={"options": {"requestedPolicyVersion": 3}}).json()
    roles = {b["role"]: b["members"] for b in policy["bindings"]}
    assert roles["roles/owner"] == ["user:owner@example.com"]
    assert f"serviceAccount:{NUMBER}-compute@developer.gserviceaccount.com" in roles["roles/editor"]
    assert policy["etag"].startswith("Bw")
    grant_secret_access(emu)
    after = {b["role"]: b["members"] for b in emu.project_policy(P)["bindings"]}
    assert after == {**roles, "roles/secretmanager.secretAccessor": [f"serviceAccount:{SA}"]}


def test_a_project_policy_written_with_a_stale_etag_is_409_aborted(emu):
    url = f"{emu.url}v1/projects/{P}"
    stale = requests.post(url + ":getIamPolicy", json={}).json()
    grant_secret_access(emu)
    refused = requests.post(url + ":setIamPolicy", json={"policy": stale})
    assert refused.status_code == 409 and error(refused)["status"] == "ABORTED"


def test_a_project_policy_takes_the_url_safe_etag_gcloud_sends_back(emu):
    url = f"{emu.url}v1/projects/{P}"
    policy = requests.post(url + ":getIamPolicy", json={}).json()
    policy["etag"] = policy["etag"].replace("+", "-").replace("/", "_")
    assert requests.post(url + ":setIamPolicy", json={"policy": policy}).status_code == 200


def test_a_project_policy_refuses_a_service_account_of_the_project_that_does_not_exist(emu):
    url = f"{emu.url}v1/projects/{P}"
    policy = requests.post(url + ":getIamPolicy", json={}).json()
    ghost = f"ghost-acct@{P}.iam.gserviceaccount.com"
    policy["bindings"].append({"role": "roles/viewer", "members": [f"serviceAccount:{ghost}"]})
    refused = requests.post(url + ":setIamPolicy", json={"policy": policy})
    assert refused.status_code == 400 and error(refused)["message"] == f"Service account {ghost} does not exist."


# -- shared paths, faults, state --------------------------------------------------------------------------


SAMPLES = [  # (method, path, the API that must answer it)
    ("GET", f"v1/projects/{P}", "resourcemanager"), ("POST", f"v1/projects/{P}:getIamPolicy", "resourcemanager"),
    ("POST", f"v1/projects/{P}:setIamPolicy", "resourcemanager"),
    *[(m, f"v1/projects/{P}/locations/{L}/services", "run") for m in ("GET", "POST")],
    ("GET", f"v1/projects/{P}/locations/{L}/services/s", "run"),
    ("PUT", f"v1/projects/{P}/locations/{L}/services/s", "run"),
    ("DELETE", f"v1/projects/{P}/locations/{L}/services/s", "run"),
    ("GET", f"v1/projects/{P}/locations/{L}/services/s:getIamPolicy", "run"),
    ("POST", f"v1/projects/{P}/locations/{L}/services/s:setIamPolicy", "run"),
    *[(m, f"v1/projects/{P}/locations/{L}/domainmappings", "domains") for m in ("GET", "POST")],
    *[(m, f"v1/projects/{P}/locations/{L}/domainmappings/www.example.com", "domains") for m in ("GET", "DELETE")],
    *[(m, f"v1/projects/{P}/locations/{L}/jobs", "scheduler") for m in ("GET", "POST")],
    ("GET", f"v1/projects/{P}/locations/{L}/jobs/j", "scheduler"),
    ("PATCH", f"v1/projects/{P}/locations/{L}/jobs/j", "scheduler"),
    ("DELETE", f"v1/projects/{P}/locations/{L}/jobs/j", "scheduler"),
    ("GET", f"v1/projects/{P}/topics/t", "pubsub"), ("PUT", f"v1/projects/{P}/topics/t", "pubsub"),
    ("GET", f"v1/projects/{P}/topics/t:getIamPolicy", "pubsub"),
    ("POST", f"v1/projects/{P}/topics/t:setIamPolicy", "pubsub"),
    ("GET", f"v1/projects/{P}/secrets", "secretmanager"), ("POST", f"v1/projects/{P}/secrets", "secretmanager"),
    *[(m, f"v1/projects/{P}/secrets/s", "secretmanager") for m in ("GET", "PATCH", "DELETE")],
    ("POST", f"v1/projects/{P}/secrets/s:addVersion", "secretmanager"),
    ("GET", f"v1/projects/{P}/secrets/s/versions", "secretmanager"),
    ("GET", f"v1/projects/{P}/secrets/s/versions/1", "secretmanager"),
    ("GET", f"v1/projects/{P}/secrets/s/versions/latest:access", "secretmanager"),
    *[("POST", f"v1/projects/{P}/secrets/s/versions/1:{v}", "secretmanager") for v in ("disable", "enable", "destroy")],
    ("GET", f"v1/projects/{P}/secrets/s:getIamPolicy", "secretmanager"),
    ("POST", f"v1/projects/{P}/secrets/s:setIamPolicy", "secretmanager"),
    ("GET", f"v1/projects/{P}/serviceAccounts", "serviceaccounts"),
    ("POST", f"v1/projects/{P}/serviceAccounts", "serviceaccounts"),
    *[(m, f"v1/projects/-/serviceAccounts/{SA}", "serviceaccounts") for m in ("GET", "PATCH", "DELETE")],
    ("POST", f"v1/projects/{P}/serviceAccounts/{SA}:getIamPolicy", "serviceaccounts"),
    ("POST", f"v1/projects/{P}/serviceAccounts/{SA}:setIamPolicy", "serviceaccounts"),
    ("GET", f"v1/projects/{P}/services/run.googleapis.com", "ServiceUsageApi"),
    ("GET", f"v1/projects/{P}/locations/{L}/defaultServiceAccount", "CloudBuildApi"),
    ("GET", f"v1/projects/{P}/locations", "FunctionsV1Api"),
    ("GET", f"v1/projects/{P}/locations/-/functions", "FunctionsV1Api"),
]


def test_the_v1_apis_share_a_prefix_and_no_path_reaches_two_of_them(emu):
    def name(api):
        return next((n for n, a in vars(emu).items() if a is api), type(api).__name__)

    v1 = [api for api in emu.apis if api.prefix == "v1/"]
    for method, path, owner in SAMPLES:
        answering = [name(api) for api in v1 if api.match(method, path)]
        assert answering == [owner], (method, path)
    # Every v1 route is covered by a sample, so a route added later joins this check.
    for api in v1:
        for r in api.routes:
            assert any(m == r.method and r.pattern.match(p) for m, p, _ in SAMPLES), (name(api), r.pattern.pattern)


def test_faults_apply_to_the_deploy_apis_and_every_call_is_recorded(emu):
    emu.inject(status=503, count=1, contains=":generateUploadUrl")
    assert requests.post(fns(emu, ":generateUploadUrl"), json={}).status_code == 503
    deployed(emu)
    kinds = [(r.kind, r.method) for r in emu.requests if r.kind != "api" or "operations" not in r.path]
    assert ("upload", "PUT") in kinds and ("api", "POST") in kinds
    state = requests.get(f"{emu.url}_emulator/state").json()
    assert state["functions"][f"projects/{P}/locations/{L}/functions/switch-http"]["state"] == "ACTIVE"
    assert SA in state["serviceAccounts"] and len(state["uploads"]) == 1 and state["config"]["deploy_delay"] == DELAY


# -- gcloud, the reference for what Google accepts ----------------------------------------------------------

GCLOUD = shutil.which("gcloud")


def gcloud_env(emu, config: Path) -> dict:
    env = {**os.environ, "CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
           "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true", "CLOUDSDK_CORE_PROJECT": P,
           # Run's regional endpoint is "REGION-" + the override's host, which no resolver knows:
           # gcloud's HTTP proxy sends it to the emulator, which serves absolute-form requests by path.
           "CLOUDSDK_PROXY_TYPE": "http", "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1", "CLOUDSDK_PROXY_PORT": str(emu.port)}
    for api in ("CLOUDFUNCTIONS", "SECRETMANAGER", "IAM", "CLOUDRESOURCEMANAGER", "RUN", "PUBSUB", "SERVICEUSAGE",
                "CLOUDBUILD"):
        env[f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"] = emu.url
    return env


@pytest.mark.skipif(GCLOUD is None, reason="gcloud is not on PATH: the check against Google's own client is skipped")
def test_gcloud_deploys_both_functions_against_the_emulator_sending_what_the_fixtures_recorded(emu, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name, text in SOURCE.items():
        (source / name).write_text(text)
    (tmp_path / "cfg").mkdir()
    env = gcloud_env(emu, tmp_path / "cfg")
    add_secret(emu)
    grant_secret_access(emu)
    for kind, fid in (("http", "switch-http"), ("pubsub", "switch-pubsub")):
        fixture = json.loads((FIXTURES / f"gcloud-functions-deploy-{kind}.json").read_text())
        command = fixture["_how"].split("`")[1].split()
        emu.clear_requests()
        done = subprocess.run([GCLOUD, *command[1:]], env=env, cwd=source, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        sent = next(r for r in emu.requests if r.method == "POST" and r.path.endswith("/functions"))
        expected = fixture["create"]["body"]
        storage = sent.json["buildConfig"]["source"]["storageSource"]
        expected["buildConfig"]["source"]["storageSource"]["object"] = storage["object"]  # random per upload
        assert sent.json == expected and sent.query == fixture["create"]["query"]
        assert emu.function(f"projects/{P}/locations/{L}/functions/{fid}")["state"] == "ACTIVE"
    assert requests.get(f"{emu.url}_fn/{L}/switch-http").status_code == 200  # --allow-unauthenticated reached Run
