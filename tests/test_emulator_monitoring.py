"""The emulated APIs behind ``python -m switch setup``, over real sockets.

Cloud Monitoring notification channels, uptime checks and alert policies,
Cloud Scheduler jobs, Pub/Sub topics and their IAM, Resource Manager
``projects.get``: each test names the rule it proves.
"""

from __future__ import annotations

import base64
import copy
import re

import pytest
import requests

from switch.emulator import Emulator

PROJECT = "switch-demo"
NUMBER = "123456789012"
REGION = "europe-west1"
AGENT = f"service-{NUMBER}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
TOPIC = f"projects/{PROJECT}/topics/switch-alerts"


@pytest.fixture
def emu():
    with Emulator(project_number=NUMBER) as emulator:
        yield emulator


def v3(emu, collection: str, item: str = "") -> str:
    return f"{emu.url}v3/projects/{PROJECT}/{collection}" + (f"/{item}" if item else "")


def error_of(response: requests.Response) -> dict:
    return response.json()["error"]


def assert_400(response: requests.Response, status: str = "INVALID_ARGUMENT", says: str = "") -> None:
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == 400 and error["status"] == status
    assert says in error["message"], error["message"]


def channel_body(kind: str = "webhook_basicauth", **extra) -> dict:
    labels = {
        "webhook_basicauth": {"url": "https://fn.example/switch", "username": "u", "password": "s3cret"},
        "webhook_tokenauth": {"url": "https://fn.example/switch?auth_token=t0ken"},
        "pubsub": {"topic": TOPIC},
    }[kind]
    return {"type": kind, "displayName": "switch", "labels": labels, "userLabels": {"managed-by": "switch"}, **extra}


def check_body(**extra) -> dict:
    return {
        "displayName": "www.example.org",
        "period": "60s",
        "timeout": "10s",
        "monitoredResource": {"type": "uptime_url", "labels": {"project_id": PROJECT, "host": "www.example.org"}},
        "httpCheck": {"requestMethod": "GET", "useSsl": True, "validateSsl": False, "path": "/healthz", "port": 443},
        "selectedRegions": ["USA", "EUROPE", "ASIA_PACIFIC"],
        **extra,
    }


def condition(check_id: str = "www-example-org-abc", **threshold) -> dict:
    return {
        "displayName": f"Failure of uptime check_id {check_id}",
        "conditionThreshold": {
            "filter": (f'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND '
                       f'metric.label.check_id="{check_id}" AND resource.type="uptime_url"'),
            "aggregations": [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_NEXT_OLDER",
                              "crossSeriesReducer": "REDUCE_COUNT_FALSE", "groupByFields": ["resource.label.*"]}],
            "comparison": "COMPARISON_GT",
            "thresholdValue": 1,
            "duration": "60s",
            "trigger": {"count": 1},
            **threshold,
        },
    }


def policy_body(channels=(), conditions=None, **extra) -> dict:
    return {
        "displayName": "site down",
        "combiner": "OR",
        "severity": "CRITICAL",
        "notificationChannels": list(channels),
        "alertStrategy": {"notificationPrompts": ["OPENED", "CLOSED"]},
        "documentation": {"content": "runbook", "mimeType": "text/markdown"},
        "conditions": conditions if conditions is not None else [condition()],
        **extra,
    }


def create(emu, collection: str, body: dict) -> dict:
    response = requests.post(v3(emu, collection), json=body)
    assert response.status_code == 200, response.text
    return response.json()


def item_id(item: dict) -> str:
    return item["name"].rsplit("/", 1)[1]


# -- notification channels ------------------------------------------------------------


def test_a_channel_gets_a_numeric_name_creation_records_and_enabled_by_default(emu):
    channel = create(emu, "notificationChannels", channel_body())

    assert re.fullmatch(rf"projects/{PROJECT}/notificationChannels/\d{{19}}", channel["name"])
    assert channel["enabled"] is True
    assert channel["creationRecord"]["mutateTime"].endswith("Z")
    assert channel["mutationRecords"] == [channel["creationRecord"]]
    assert channel["userLabels"] == {"managed-by": "switch"}


def test_channel_password_reads_back_redacted(emu):
    created = create(emu, "notificationChannels", channel_body())

    got = requests.get(v3(emu, "notificationChannels", item_id(created))).json()
    listed = requests.get(v3(emu, "notificationChannels")).json()["notificationChannels"][0]

    for shown in (created, got, listed, emu.state()["notificationChannels"][0]):
        assert shown["labels"] == {"url": "https://fn.example/switch", "username": "u", "password": "******"}
    assert emu.calls("POST", "notificationChannels")[0].json["labels"]["password"] == "s3cret"


def test_a_token_channel_keeps_its_url_with_the_token(emu):
    created = create(emu, "notificationChannels", channel_body("webhook_tokenauth"))

    got = requests.get(v3(emu, "notificationChannels", item_id(created))).json()
    assert got["labels"] == {"url": "https://fn.example/switch?auth_token=t0ken"}


def test_a_disabled_channel_reads_back_enabled_false(emu):
    created = create(emu, "notificationChannels", channel_body(enabled=False))
    assert created["enabled"] is False  # a BoolValue: false is not left out


def test_an_unknown_channel_type_is_rejected(emu):
    assert_400(requests.post(v3(emu, "notificationChannels"), json={**channel_body(), "type": "carrier_pigeon"}),
               says="notification_channel.type")


def test_a_basic_auth_channel_without_a_password_is_rejected(emu):
    body = channel_body()
    del body["labels"]["password"]
    assert_400(requests.post(v3(emu, "notificationChannels"), json=body),
               says="Request was missing field notification_channel.labels[password]")


def test_an_empty_label_is_rejected_in_googles_words(emu):
    body = channel_body()
    body["labels"]["username"] = ""
    assert_400(requests.post(v3(emu, "notificationChannels"), json=body), says="Value must NOT be empty if provided")


def test_a_label_the_channel_type_does_not_define_is_rejected(emu):
    body = channel_body("webhook_tokenauth")
    body["labels"]["auth_token"] = "t0ken"
    assert_400(requests.post(v3(emu, "notificationChannels"), json=body), says="labels[auth_token]")


@pytest.mark.parametrize("url", ["ftp://fn.example/switch", "fn.example/switch", "https://"])
def test_a_channel_url_that_is_not_http_is_rejected(emu, url):
    body = channel_body()
    body["labels"]["url"] = url
    assert_400(requests.post(v3(emu, "notificationChannels"), json=body), says="labels[url]")


def test_a_pubsub_channel_needs_a_topic_path(emu):
    body = channel_body("pubsub")
    body["labels"]["topic"] = "switch-alerts"
    assert_400(requests.post(v3(emu, "notificationChannels"), json=body), says="labels[topic]")
    assert create(emu, "notificationChannels", channel_body("pubsub"))["labels"] == {"topic": TOPIC}


@pytest.mark.parametrize("labels", [
    {"Managed-By": "switch"},
    {"managed-by": "Switch"},
    {"managed-by": "x" * 64},
    {"9lives": "yes"},
    {f"k{i}": "v" for i in range(65)},
])
def test_channel_user_labels_are_validated(emu, labels):
    assert_400(requests.post(v3(emu, "notificationChannels"), json=channel_body(userLabels=labels)),
               says="user_labels")


def test_a_channel_patch_changes_only_the_masked_fields_in_either_case(emu):
    created = create(emu, "notificationChannels", channel_body(description="old"))
    url = v3(emu, "notificationChannels", item_id(created))

    camel = requests.patch(url, params={"updateMask": "displayName,userLabels"},
                           json={"displayName": "renamed", "description": "ignored", "userLabels": {"team": "web"}})
    snake = requests.patch(url, params={"updateMask": "description"}, json={"description": "new"})

    assert camel.status_code == 200 and snake.status_code == 200
    channel = requests.get(url).json()
    assert (channel["displayName"], channel["description"], channel["userLabels"]) == ("renamed", "new", {"team": "web"})
    assert len(channel["mutationRecords"]) == 3
    assert channel["labels"]["password"] == "******"


def test_a_channel_patch_of_labels_revalidates_them(emu):
    created = create(emu, "notificationChannels", channel_body())
    response = requests.patch(v3(emu, "notificationChannels", item_id(created)), params={"updateMask": "labels"},
                              json={"labels": {"url": "https://fn.example/new"}})
    assert_400(response, says="labels[username]")


def test_a_channel_type_cannot_be_changed(emu):
    created = create(emu, "notificationChannels", channel_body())
    response = requests.patch(v3(emu, "notificationChannels", item_id(created)), params={"updateMask": "type,labels"},
                              json=channel_body("pubsub"))
    assert_400(response, says="type cannot be changed")


def test_deleting_a_channel_a_policy_uses_answers_400_failed_precondition(emu):
    channel = create(emu, "notificationChannels", channel_body())
    policy = create(emu, "alertPolicies", policy_body([channel["name"]]))

    response = requests.delete(v3(emu, "notificationChannels", item_id(channel)))

    assert_400(response, "FAILED_PRECONDITION",
               f'Could not delete "{channel["name"]}" because it is still being referenced by: "{policy["name"]}"')
    assert requests.get(v3(emu, "notificationChannels", item_id(channel))).status_code == 200


def test_force_delete_removes_the_channel_from_its_policies(emu):
    channel = create(emu, "notificationChannels", channel_body())
    other = create(emu, "notificationChannels", channel_body("webhook_tokenauth"))
    policy = create(emu, "alertPolicies", policy_body([channel["name"], other["name"]]))

    response = requests.delete(v3(emu, "notificationChannels", item_id(channel)), params={"force": "true"})

    assert response.status_code == 200 and response.json() == {}
    assert requests.get(v3(emu, "alertPolicies", item_id(policy))).json()["notificationChannels"] == [other["name"]]
    assert requests.get(v3(emu, "notificationChannels", item_id(channel))).status_code == 404


def test_lists_page_with_page_size_and_token_and_an_empty_list_is_empty(emu):
    assert requests.get(v3(emu, "notificationChannels")).json() == {}
    names = [create(emu, "notificationChannels", channel_body(displayName=f"c{i}"))["name"] for i in range(3)]

    first = requests.get(v3(emu, "notificationChannels"), params={"pageSize": 2}).json()
    second = requests.get(v3(emu, "notificationChannels"),
                          params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()

    assert [c["name"] for c in first["notificationChannels"] + second["notificationChannels"]] == names
    assert first["totalSize"] == 3 and "nextPageToken" not in second


def test_a_list_filter_selects_by_user_label_and_refuses_what_it_does_not_understand(emu):
    create(emu, "notificationChannels", channel_body(userLabels={"team": "web"}))
    create(emu, "notificationChannels", channel_body(userLabels={"team": "ops"}))

    found = requests.get(v3(emu, "notificationChannels"), params={"filter": 'user_labels.team = "ops"'}).json()

    assert [c["userLabels"] for c in found["notificationChannels"]] == [{"team": "ops"}]
    assert_400(requests.get(v3(emu, "notificationChannels"), params={"filter": 'type != "email"'}),
               says="Invalid filter")


def test_a_missing_channel_answers_404_not_found(emu):
    response = requests.get(v3(emu, "notificationChannels", "42"))
    assert response.status_code == 404 and error_of(response)["status"] == "NOT_FOUND"


# -- uptime checks -------------------------------------------------------------------------


def test_an_uptime_check_reads_back_with_its_id_checker_type_and_no_false_fields(emu):
    check = create(emu, "uptimeCheckConfigs", check_body())

    assert re.fullmatch(rf"projects/{PROJECT}/uptimeCheckConfigs/www-example-org-[a-z0-9]{{10}}", check["name"])
    assert check["checkerType"] == "STATIC_IP_CHECKERS"
    # proto3 JSON leaves a false bool out.
    assert check["httpCheck"] == {"requestMethod": "GET", "useSsl": True, "path": "/healthz", "port": 443}
    assert requests.get(v3(emu, "uptimeCheckConfigs", item_id(check))).json() == check


def test_an_uptime_check_with_two_regions_is_rejected(emu):
    response = requests.post(v3(emu, "uptimeCheckConfigs"), json=check_body(selectedRegions=["EUROPE", "ASIA_PACIFIC"]))
    assert_400(response, says="at least 3")


def test_usa_alone_counts_as_three_locations(emu):
    assert create(emu, "uptimeCheckConfigs", check_body(selectedRegions=["USA"]))["selectedRegions"] == ["USA"]
    response = requests.post(v3(emu, "uptimeCheckConfigs"),
                             json=check_body(selectedRegions=["USA_OREGON", "USA_IOWA"]))
    assert_400(response, says="at least 3")


def test_an_unknown_region_is_rejected(emu):
    response = requests.post(v3(emu, "uptimeCheckConfigs"), json=check_body(selectedRegions=["USA", "MARS"]))
    assert_400(response, says='"MARS"')


def test_no_selected_regions_means_every_region(emu):
    body = check_body()
    del body["selectedRegions"]
    assert "selectedRegions" not in create(emu, "uptimeCheckConfigs", body)


@pytest.mark.parametrize("period", ["120s", "30s", "60"])
def test_an_uptime_check_period_must_be_60_300_600_or_900_seconds(emu, period):
    assert_400(requests.post(v3(emu, "uptimeCheckConfigs"), json=check_body(period=period)), says="period")


def test_an_uptime_check_period_defaults_to_60s(emu):
    body = check_body()
    del body["period"]
    assert create(emu, "uptimeCheckConfigs", body)["period"] == "60s"


@pytest.mark.parametrize("timeout", [None, "0s", "61s", "ten"])
def test_an_uptime_check_needs_a_timeout_between_1_and_60_seconds(emu, timeout):
    body = check_body(timeout=timeout)
    if timeout is None:
        del body["timeout"]
    assert_400(requests.post(v3(emu, "uptimeCheckConfigs"), json=body), says="timeout")


@pytest.mark.parametrize("labels, says", [
    ({"project_id": PROJECT}, "'host'"),
    ({"host": "www.example.org"}, "'project_id'"),
    ({"project_id": PROJECT, "host": "www.example.org/healthz"}, "A host name should not contain '/'"),
])
def test_an_uptime_url_check_needs_a_plain_host_and_the_project(emu, labels, says):
    body = check_body(monitoredResource={"type": "uptime_url", "labels": labels})
    assert_400(requests.post(v3(emu, "uptimeCheckConfigs"), json=body), says=says)


def test_an_uptime_check_needs_exactly_one_of_http_and_tcp(emu):
    both = check_body(tcpCheck={"port": 443})
    neither = check_body()
    del neither["httpCheck"]
    assert_400(requests.post(v3(emu, "uptimeCheckConfigs"), json=both), says="only one of")
    assert_400(requests.post(v3(emu, "uptimeCheckConfigs"), json=neither), says="is required")


def test_a_path_without_a_leading_slash_reads_back_with_one(emu):
    # Documented: Monitoring prepends the "/" rather than refusing the check.
    body = check_body()
    body["httpCheck"]["path"] = "healthz"
    assert create(emu, "uptimeCheckConfigs", body)["httpCheck"]["path"] == "/healthz"


def test_an_auth_password_on_a_check_reads_back_masked(emu):
    body = check_body()
    body["httpCheck"]["authInfo"] = {"username": "probe", "password": "hunter2"}
    assert create(emu, "uptimeCheckConfigs", body)["httpCheck"]["authInfo"] == {"username": "probe",
                                                                                 "password": "******"}


def test_a_check_patch_may_change_the_http_check_but_not_the_monitored_resource(emu):
    check = create(emu, "uptimeCheckConfigs", check_body())
    url = v3(emu, "uptimeCheckConfigs", item_id(check))
    new_http = {**check_body()["httpCheck"], "path": "/status"}

    ok = requests.patch(url, params={"updateMask": "display_name,http_check"},
                        json={"displayName": "status page", "httpCheck": new_http})
    refused = requests.patch(url, params={"updateMask": "monitoredResource"},
                             json={"monitoredResource": {"type": "uptime_url",
                                                         "labels": {"project_id": PROJECT, "host": "other.example"}}})

    assert ok.status_code == 200, ok.text
    assert (ok.json()["displayName"], ok.json()["httpCheck"]["path"]) == ("status page", "/status")
    assert ok.json()["name"] == check["name"]
    assert_400(refused, says="cannot be updated")


def test_a_check_patch_revalidates_the_result(emu):
    check = create(emu, "uptimeCheckConfigs", check_body())
    response = requests.patch(v3(emu, "uptimeCheckConfigs", item_id(check)), params={"updateMask": "selectedRegions"},
                              json={"selectedRegions": ["EUROPE"]})
    assert_400(response, says="at least 3")


def test_a_check_used_by_a_policy_cannot_be_deleted_until_the_policy_lets_go(emu):
    check = create(emu, "uptimeCheckConfigs", check_body())
    policy = create(emu, "alertPolicies", policy_body(conditions=[condition(item_id(check))]))
    url = v3(emu, "uptimeCheckConfigs", item_id(check))

    assert_400(requests.delete(url), "FAILED_PRECONDITION", policy["name"])
    requests.delete(v3(emu, "alertPolicies", item_id(policy)))
    assert requests.delete(url).json() == {}


def test_a_missing_check_answers_404_in_googles_words(emu):
    response = requests.get(v3(emu, "uptimeCheckConfigs", "nope"))
    assert response.status_code == 404
    assert error_of(response) == {"code": 404, "status": "NOT_FOUND",
                                  "message": f"Config not found for check nope in project {PROJECT}"}


# -- alert policies --------------------------------------------------------------------------


def test_a_policy_gets_names_for_itself_and_each_condition_and_its_records(emu):
    channel = create(emu, "notificationChannels", channel_body())
    policy = create(emu, "alertPolicies", policy_body([channel["name"]], conditions=[condition("a"), condition("b")]))

    assert re.fullmatch(rf"projects/{PROJECT}/alertPolicies/\d{{19}}", policy["name"])
    names = [c["name"] for c in policy["conditions"]]
    assert all(re.fullmatch(re.escape(policy["name"]) + r"/conditions/\d{19}", n) for n in names)
    assert len(set(names)) == 2
    assert policy["creationRecord"] == policy["mutationRecord"]
    assert policy["creationRecord"]["mutatedBy"].endswith(".iam.gserviceaccount.com")
    assert policy["enabled"] is True


def test_a_policy_reads_back_with_a_default_auto_close(emu):
    policy = create(emu, "alertPolicies", policy_body())
    assert policy["alertStrategy"] == {"autoClose": "604800s", "notificationPrompts": ["OPENED", "CLOSED"]}


def test_policy_naming_a_missing_channel_is_rejected(emu):
    missing = f"projects/{PROJECT}/notificationChannels/42"
    assert_400(requests.post(v3(emu, "alertPolicies"), json=policy_body([missing])), says=missing)
    assert_400(requests.post(v3(emu, "alertPolicies"), json=policy_body(["my-channel"])),
               says="Name must begin with 'projects/{project_id}/notificationChannels/{channel_id}', got: my-channel")


@pytest.mark.parametrize("count", [0, 7])
def test_a_policy_needs_one_to_six_conditions(emu, count):
    body = policy_body(conditions=[condition(str(i)) for i in range(count)])
    assert_400(requests.post(v3(emu, "alertPolicies"), json=body), says="between 1 and 6 conditions")


def test_a_threshold_condition_needs_a_filter(emu):
    assert_400(requests.post(v3(emu, "alertPolicies"), json=policy_body(conditions=[condition(filter="")])),
               says="filter is required")


def test_an_alignment_period_under_60s_is_rejected(emu):
    cond = condition()
    cond["conditionThreshold"]["aggregations"][0]["alignmentPeriod"] = "30s"
    assert_400(requests.post(v3(emu, "alertPolicies"), json=policy_body(conditions=[cond])),
               says="at least 60 seconds")


@pytest.mark.parametrize("value, accepted", [("0s", True), ("60s", True), ("180s", True), ("90s", False),
                                             ("1m", False)])
def test_a_duration_must_be_a_whole_number_of_minutes(emu, value, accepted):
    response = requests.post(v3(emu, "alertPolicies"), json=policy_body(conditions=[condition(duration=value)]))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_400(response, says="duration")


@pytest.mark.parametrize("comparison", ["COMPARISON_GE", "COMPARISON_EQ", "BIGGER"])
def test_only_gt_and_lt_comparisons_are_accepted(emu, comparison):
    body = policy_body(conditions=[condition(comparison=comparison)])
    assert_400(requests.post(v3(emu, "alertPolicies"), json=body), says="COMPARISON_GT and COMPARISON_LT")


def test_a_combiner_must_be_known_and_is_needed_for_several_conditions(emu):
    assert_400(requests.post(v3(emu, "alertPolicies"), json=policy_body(combiner="XOR")), says="combiner")
    body = policy_body(conditions=[condition("a"), condition("b")])
    del body["combiner"]
    assert_400(requests.post(v3(emu, "alertPolicies"), json=body), says="must have a combiner")
    body["combiner"] = "AND_WITH_MATCHING_RESOURCE"
    assert requests.post(v3(emu, "alertPolicies"), json=body).status_code == 200


def test_a_patch_keeps_condition_names_sent_back_and_names_new_ones(emu):
    policy = create(emu, "alertPolicies", policy_body())
    kept = copy.deepcopy(policy["conditions"][0])
    kept["conditionThreshold"]["duration"] = "180s"
    url = v3(emu, "alertPolicies", item_id(policy))

    patched = requests.patch(url, params={"updateMask": "conditions"}, json={"conditions": [kept, condition("new")]})

    assert patched.status_code == 200, patched.text
    first, second = patched.json()["conditions"]
    assert first["name"] == policy["conditions"][0]["name"]
    assert first["conditionThreshold"]["duration"] == "180s"
    assert second["name"].startswith(policy["name"] + "/conditions/") and second["name"] != first["name"]
    assert patched.json()["creationRecord"] == policy["creationRecord"]


def test_a_condition_name_from_another_policy_is_refused(emu):
    one = create(emu, "alertPolicies", policy_body())
    two = create(emu, "alertPolicies", policy_body(displayName="other"))
    response = requests.patch(v3(emu, "alertPolicies", item_id(two)), params={"updateMask": "conditions"},
                              json={"conditions": one["conditions"]})
    assert_400(response, says="is not a condition of")


def test_a_policy_patch_accepts_snake_case_and_nested_mask_paths(emu):
    policy = create(emu, "alertPolicies", policy_body(userLabels={"team": "web"}))
    url = v3(emu, "alertPolicies", item_id(policy))

    response = requests.patch(url, params={"updateMask": "display_name,documentation.content,user_labels.owner"},
                              json={"displayName": "renamed", "documentation": {"content": "new runbook"},
                                    "userLabels": {"owner": "ops", "team": "ignored"}})

    assert response.status_code == 200, response.text
    got = response.json()
    assert got["displayName"] == "renamed"
    assert got["documentation"] == {"content": "new runbook", "mimeType": "text/markdown"}
    assert got["userLabels"] == {"team": "web", "owner": "ops"}


def test_a_masked_field_missing_from_the_body_is_cleared(emu):
    policy = create(emu, "alertPolicies", policy_body())
    response = requests.patch(v3(emu, "alertPolicies", item_id(policy)), params={"updateMask": "documentation"},
                              json={})
    assert response.status_code == 200 and "documentation" not in response.json()


def test_a_patch_without_a_mask_replaces_the_policy_but_keeps_its_name(emu):
    policy = create(emu, "alertPolicies", policy_body(userLabels={"team": "web"}))
    response = requests.patch(v3(emu, "alertPolicies", item_id(policy)), json=policy_body(displayName="replaced"))
    got = response.json()
    assert got["name"] == policy["name"] and got["displayName"] == "replaced" and "userLabels" not in got


def test_a_policy_patch_naming_a_missing_channel_is_rejected(emu):
    policy = create(emu, "alertPolicies", policy_body())
    response = requests.patch(v3(emu, "alertPolicies", item_id(policy)), params={"updateMask": "notificationChannels"},
                              json={"notificationChannels": [f"projects/{PROJECT}/notificationChannels/7"]})
    assert_400(response, says="does not exist")


def test_a_deleted_policy_is_gone(emu):
    policy = create(emu, "alertPolicies", policy_body())
    assert requests.delete(v3(emu, "alertPolicies", item_id(policy))).json() == {}
    assert requests.get(v3(emu, "alertPolicies", item_id(policy))).status_code == 404
    assert requests.delete(v3(emu, "alertPolicies", item_id(policy))).status_code == 404


# -- alerts linked to policies -------------------------------------------------------------


def test_an_alert_names_the_real_policy_of_its_display_name(emu):
    policy = create(emu, "alertPolicies", policy_body(userLabels={"app": "switch"}))

    emu.open_alert("site down")

    [alert] = requests.get(v3(emu, "alerts")).json()["alerts"]
    assert alert["policy"] == {"name": policy["name"], "displayName": "site down", "userLabels": {"app": "switch"},
                               "severity": "CRITICAL"}


def test_an_alert_opened_before_its_policy_exists_names_it_once_it_does(emu):
    emu.open_alert("site down")
    policy = create(emu, "alertPolicies", policy_body())
    [alert] = requests.get(v3(emu, "alerts")).json()["alerts"]
    assert alert["policy"]["name"] == policy["name"]


def test_changing_a_policys_conditions_closes_its_open_alert(emu):
    policy = create(emu, "alertPolicies", policy_body())
    emu.open_alert("site down")
    url = v3(emu, "alertPolicies", item_id(policy))

    requests.patch(url, params={"updateMask": "documentation"}, json={"documentation": {"content": "x"}})
    assert requests.get(v3(emu, "alerts")).json()["alerts"][0]["state"] == "OPEN"
    requests.patch(url, params={"updateMask": "conditions"}, json={"conditions": [condition(duration="120s")]})
    assert requests.get(v3(emu, "alerts")).json()["alerts"][0]["state"] == "CLOSED"


# -- Cloud Scheduler -------------------------------------------------------------------------


def jobs_url(emu, job: str = "", region: str = REGION) -> str:
    return f"{emu.url}v1/projects/{PROJECT}/locations/{region}/jobs" + (f"/{job}" if job else "")


def job_body(name: str = "reconcile", **extra) -> dict:
    return {
        "name": f"projects/{PROJECT}/locations/{REGION}/jobs/{name}",
        "description": "managed-by: switch",
        "schedule": "*/5 * * * *",
        "timeZone": "Etc/UTC",
        "httpTarget": {"uri": "https://fn.example/switch/reconcile", "httpMethod": "POST",
                       "headers": {"Content-Type": "application/json"},
                       "body": base64.b64encode(b"{}").decode()},
        **extra,
    }


def test_a_job_reads_back_enabled_with_the_headers_and_defaults_scheduler_adds(emu):
    created = requests.post(jobs_url(emu), json=job_body()).json()

    assert created["state"] == "ENABLED"
    assert created["httpTarget"]["headers"] == {"Content-Type": "application/json",
                                                "User-Agent": "Google-Cloud-Scheduler"}
    assert created["attemptDeadline"] == "180s"
    assert created["retryConfig"]["maxDoublings"] == 5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d[05]:00Z", created["scheduleTime"])
    assert created["userUpdateTime"].endswith("Z")
    assert requests.get(jobs_url(emu, "reconcile")).json() == created


def test_a_body_without_a_content_type_is_sent_as_octet_stream(emu):
    body = job_body()
    body["httpTarget"]["headers"] = {}
    headers = requests.post(jobs_url(emu), json=body).json()["httpTarget"]["headers"]
    assert headers["Content-Type"] == "application/octet-stream"


def test_a_duplicate_job_name_answers_409_already_exists(emu):
    requests.post(jobs_url(emu), json=job_body())
    response = requests.post(jobs_url(emu), json=job_body())
    assert response.status_code == 409 and error_of(response)["status"] == "ALREADY_EXISTS"


@pytest.mark.parametrize("schedule", ["*/5 * * *", "61 * * * *", "* 24 * * *", "every five minutes", "*/0 * * * *",
                                      "5-1 * * * *"])
def test_an_invalid_cron_schedule_is_rejected(emu, schedule):
    assert_400(requests.post(jobs_url(emu), json=job_body(schedule=schedule)), says="Schedule or time zone is invalid")


@pytest.mark.parametrize("schedule", ["0 3 * * MON-FRI", "15,45 */2 1 JAN,JUL *", "0 0 * * 7"])
def test_cron_names_ranges_lists_and_steps_are_accepted(emu, schedule):
    assert requests.post(jobs_url(emu), json=job_body(schedule=schedule)).status_code == 200


def test_an_unknown_time_zone_is_rejected(emu):
    assert_400(requests.post(jobs_url(emu), json=job_body(timeZone="Mars/Olympus")),
               says="Schedule or time zone is invalid")


def test_a_job_uri_must_be_http_or_https(emu):
    body = job_body()
    body["httpTarget"]["uri"] = "ftp://fn.example/reconcile"
    assert_400(requests.post(jobs_url(emu), json=body), says="http://")


def test_a_job_body_must_be_base64_and_needs_post_put_or_patch(emu):
    bad = job_body()
    bad["httpTarget"]["body"] = "not base64!"
    get = job_body()
    get["httpTarget"]["httpMethod"] = "GET"
    assert_400(requests.post(jobs_url(emu), json=bad), says="Base64")
    assert_400(requests.post(jobs_url(emu), json=get), says="POST, PUT, or PATCH")


def test_a_job_takes_an_oidc_token_but_not_with_an_oauth_token(emu):
    body = job_body()
    body["httpTarget"]["oidcToken"] = {"serviceAccountEmail": f"caller@{PROJECT}.iam.gserviceaccount.com"}
    assert requests.post(jobs_url(emu), json=body).status_code == 200
    body["name"] += "-2"
    body["httpTarget"]["oauthToken"] = {"serviceAccountEmail": f"caller@{PROJECT}.iam.gserviceaccount.com"}
    assert_400(requests.post(jobs_url(emu), json=body), says="Only one of")


def test_a_job_name_outside_its_parent_is_rejected(emu):
    body = job_body()
    body["name"] = f"projects/{PROJECT}/locations/us-central1/jobs/reconcile"
    assert_400(requests.post(jobs_url(emu), json=body), says="not under the parent")


def test_a_job_patch_updates_the_masked_fields_and_keeps_the_rest(emu):
    requests.post(jobs_url(emu), json=job_body())

    response = requests.patch(jobs_url(emu, "reconcile"), params={"updateMask": "schedule,description"},
                              json={"schedule": "*/10 * * * *", "description": "managed-by: switch; v2",
                                    "timeZone": "Europe/Paris"})

    job = response.json()
    assert (job["schedule"], job["description"], job["timeZone"]) == ("*/10 * * * *", "managed-by: switch; v2",
                                                                       "Etc/UTC")
    assert_400(requests.patch(jobs_url(emu, "reconcile"), params={"updateMask": "name"}, json={"name": "x"}),
               says="cannot be updated")


def test_a_missing_job_answers_404_job_not_found(emu):
    for response in (requests.get(jobs_url(emu, "nope")), requests.delete(jobs_url(emu, "nope")),
                     requests.patch(jobs_url(emu, "nope"), json={})):
        assert response.status_code == 404 and error_of(response)["message"] == "Job not found."


def test_jobs_are_listed_in_their_location_only(emu):
    requests.post(jobs_url(emu), json=job_body())
    assert [j["name"] for j in requests.get(jobs_url(emu)).json()["jobs"]] == [job_body()["name"]]
    assert requests.get(jobs_url(emu, region="us-central1")).json() == {}
    assert requests.delete(jobs_url(emu, "reconcile")).json() == {}
    assert requests.get(jobs_url(emu)).json() == {}


# -- Pub/Sub -------------------------------------------------------------------------------


def topic_url(emu, topic: str = TOPIC, verb: str = "") -> str:
    return f"{emu.url}v1/{topic}" + (f":{verb}" if verb else "")


def test_a_missing_topic_answers_404_in_pubsubs_words(emu):
    response = requests.get(topic_url(emu))
    assert response.status_code == 404
    assert error_of(response) == {"code": 404, "status": "NOT_FOUND",
                                  "message": "Resource not found (resource=switch-alerts)."}
    assert requests.get(topic_url(emu, verb="getIamPolicy")).status_code == 404


def test_a_topic_made_by_a_control_call_is_found(emu):
    emu.create_topic(TOPIC)
    other = "projects/switch-demo/topics/other"
    made = requests.post(emu.url + "_emulator/topics", json={"name": other})

    assert made.status_code == 200 and made.json() == {"name": other}
    assert requests.get(topic_url(emu)).json() == {"name": TOPIC}
    assert requests.post(emu.url + "_emulator/topics", json={"name": "switch-alerts"}).status_code == 400


def test_topics_create_by_put_and_a_second_put_answers_409(emu):
    assert requests.put(topic_url(emu), json={}).json() == {"name": TOPIC}
    again = requests.put(topic_url(emu), json={})
    assert again.status_code == 409 and error_of(again)["status"] == "ALREADY_EXISTS"
    assert_400(requests.put(topic_url(emu, f"projects/{PROJECT}/topics/goog-x"), json={}),
               says="Invalid resource name")


def test_a_new_topic_has_an_empty_policy_with_the_empty_etag(emu):
    emu.create_topic(TOPIC)
    assert requests.get(topic_url(emu, verb="getIamPolicy"),
                        params={"options.requestedPolicyVersion": 3}).json() == {"etag": "ACAB"}


def test_set_iam_policy_stores_bindings_under_a_new_etag(emu):
    emu.create_topic(TOPIC)
    policy = {"bindings": [{"role": "roles/pubsub.viewer", "members": ["user:ops@example.org"]}], "etag": "ACAB"}

    answer = requests.post(topic_url(emu, verb="setIamPolicy"), json={"policy": policy}).json()

    assert answer["etag"].startswith("Bw") and answer["version"] == 1
    assert requests.get(topic_url(emu, verb="getIamPolicy")).json() == answer


def test_stale_topic_etag_answers_409_aborted(emu):
    emu.create_topic(TOPIC)
    read = requests.get(topic_url(emu, verb="getIamPolicy")).json()
    grant = {"role": "roles/pubsub.viewer", "members": ["user:ops@example.org"]}
    requests.post(topic_url(emu, verb="setIamPolicy"), json={"policy": {**read, "bindings": [grant]}})

    stale = requests.post(topic_url(emu, verb="setIamPolicy"), json={"policy": {**read, "bindings": []}})

    assert stale.status_code == 409 and error_of(stale)["status"] == "ABORTED"
    assert requests.get(topic_url(emu, verb="getIamPolicy")).json()["bindings"] == [grant]


@pytest.mark.parametrize("member", ["ops@example.org", "user:ops", "serviceaccount:a@b.iam.gserviceaccount.com"])
def test_a_malformed_member_is_rejected(emu, member):
    emu.create_topic(TOPIC)
    policy = {"bindings": [{"role": "roles/pubsub.publisher", "members": [member]}]}
    assert_400(requests.post(topic_url(emu, verb="setIamPolicy"), json={"policy": policy}), says="Invalid principal")


def test_a_role_of_another_service_is_not_supported_on_a_topic(emu):
    emu.create_topic(TOPIC)
    policy = {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}
    assert_400(requests.post(topic_url(emu, verb="setIamPolicy"), json={"policy": policy}),
               says="not supported for this resource")


def test_the_notification_agent_exists_only_after_the_first_pubsub_channel(emu):
    emu.create_topic(TOPIC)
    policy = {"bindings": [{"role": "roles/pubsub.publisher", "members": [f"serviceAccount:{AGENT}"]}]}

    before = requests.post(topic_url(emu, verb="setIamPolicy"), json={"policy": policy})
    create(emu, "notificationChannels", channel_body("pubsub"))
    after = requests.post(topic_url(emu, verb="setIamPolicy"), json={"policy": policy})

    assert_400(before, says=f"Service account {AGENT} does not exist")
    assert after.status_code == 200


def test_an_unknown_requested_policy_version_is_rejected(emu):
    emu.create_topic(TOPIC)
    assert_400(requests.get(topic_url(emu, verb="getIamPolicy"), params={"options.requestedPolicyVersion": 2}),
               says="policy version")


# -- Resource Manager --------------------------------------------------------------------------


def test_project_get_answers_the_emulators_project_number(emu):
    project = requests.get(f"{emu.url}v1/projects/{PROJECT}").json()
    assert {k: project[k] for k in ("projectId", "projectNumber", "lifecycleState", "name")} == {
        "projectId": PROJECT, "projectNumber": NUMBER, "lifecycleState": "ACTIVE", "name": PROJECT}


def test_a_malformed_project_id_answers_403(emu):
    response = requests.get(f"{emu.url}v1/projects/No_Such")
    assert response.status_code == 403 and error_of(response)["status"] == "PERMISSION_DENIED"


# -- the server's machinery reaches the new APIs ------------------------------------------------


def test_faults_and_recording_apply_to_every_new_api(emu):
    emu.create_topic(TOPIC)
    urls = [v3(emu, "notificationChannels"), v3(emu, "uptimeCheckConfigs"), v3(emu, "alertPolicies"),
            jobs_url(emu), topic_url(emu), f"{emu.url}v1/projects/{PROJECT}"]
    emu.inject(status=503, count=len(urls))

    answers = [requests.get(u) for u in urls]

    assert [a.status_code for a in answers] == [503] * len(urls)
    assert all(error_of(a)["status"] == "UNAVAILABLE" for a in answers)
    assert [r.status for r in emu.calls("GET")] == [503] * len(urls)
    assert all(requests.get(u).status_code == 200 for u in urls)


def test_an_unknown_method_under_these_apis_answers_googles_html_404(emu):
    for path in (f"v1/projects/{PROJECT}/topics/t:publish", f"v3/projects/{PROJECT}/notificationChannelDescriptors"):
        response = requests.get(emu.url + path)
        assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


def test_state_shows_what_get_shows_for_every_new_collection(emu):
    emu.create_topic(TOPIC)
    create(emu, "notificationChannels", channel_body())
    check = create(emu, "uptimeCheckConfigs", check_body())
    create(emu, "alertPolicies", policy_body())
    requests.post(jobs_url(emu), json=job_body())

    state = requests.get(emu.url + "_emulator/state").json()

    assert state["notificationChannels"][0]["labels"]["password"] == "******"
    assert state["uptimeCheckConfigs"] == [check]
    assert state["alertPolicies"][0]["displayName"] == "site down"
    assert state["jobs"][0]["name"] == job_body()["name"]
    assert state["topics"] == {TOPIC: {"name": TOPIC, "iamPolicy": {"etag": "ACAB"}}}
