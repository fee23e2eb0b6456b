"""setup / teardown / status of the chain, against Google's APIs intercepted with responses.

``FakeGoogle`` keeps channels, checks, policies, scheduler jobs and a topic's
IAM policy in memory, answers in pages of two (so ``nextPageToken`` is
followed), adds the fields Google adds, and reads the channel password back
redacted, as Monitoring does.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from switch import config, ops
from switch.ops import marks
from switch.errors import ConfigError, NotManaged
from switch.ops import SetupOptions

from tests.conftest import PASSWORD, PROJECT, REGION, SERVICE, TOKEN, USER

MON = f"https://monitoring.googleapis.com/v3/projects/{PROJECT}"
JOBS = f"https://cloudscheduler.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/jobs"
TOPIC = f"projects/{PROJECT}/topics/switch-alerts"
PUBSUB = f"https://pubsub.googleapis.com/v1/{TOPIC}"
CRM = f"https://cloudresourcemanager.googleapis.com/v1/projects/{PROJECT}"
FUNCTION_URL = f"https://{REGION}-{PROJECT}.cloudfunctions.net/switch"
PROJECT_NUMBER = "123456789012"
AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
COLLECTIONS = ("notificationChannels", "uptimeCheckConfigs", "alertPolicies")
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def _json(request) -> dict:
    body = request.body
    return json.loads(body) if body else {}


def _query(request) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


class FakeGoogle:
    def __init__(self, mock):
        self.mock = mock
        self.store: dict[str, dict[str, dict]] = {c: {} for c in COLLECTIONS}
        self.jobs: dict[str, dict] = {}
        self.alerts: list[dict] = []
        self.iam = {"version": 1, "etag": "BwYAAA==",
                    "bindings": [{"role": "roles/pubsub.viewer", "members": ["user:ops@example.org"]}]}
        self.ids = itertools.count(1001)
        q = r"(\?.*)?$"
        for c in COLLECTIONS:
            mock.add_callback("GET", re.compile(rf"{MON}/{c}{q}"), lambda r, c=c: self.list(r, c))
            mock.add_callback("POST", re.compile(rf"{MON}/{c}{q}"), lambda r, c=c: self.create(r, c))
            mock.add_callback("PATCH", re.compile(rf"{MON}/{c}/[^/?]+{q}"), lambda r, c=c: self.patch(r, c))
            mock.add_callback("DELETE", re.compile(rf"{MON}/{c}/[^/?]+{q}"), lambda r, c=c: self.delete(r, c))
        mock.add_callback("GET", re.compile(rf"{MON}/alerts{q}"),
                          lambda r: (200, {}, json.dumps({"alerts": self.alerts})))
        mock.add_callback("GET", re.compile(rf"{JOBS}/[^/?]+{q}"), self.job_get)
        mock.add_callback("POST", re.compile(rf"{JOBS}{q}"), self.job_create)
        mock.add_callback("PATCH", re.compile(rf"{JOBS}/[^/?]+{q}"), self.job_patch)
        mock.add_callback("DELETE", re.compile(rf"{JOBS}/[^/?]+{q}"), self.job_delete)
        mock.add_callback("GET", re.compile(rf"{PUBSUB}{q}"), lambda r: (200, {}, json.dumps({"name": TOPIC})))
        mock.add_callback("GET", re.compile(rf"{PUBSUB}:getIamPolicy{q}"),
                          lambda r: (200, {}, json.dumps(self.iam)))
        mock.add_callback("POST", re.compile(rf"{PUBSUB}:setIamPolicy{q}"), self.set_iam)
        mock.add_callback("GET", re.compile(rf"{CRM}{q}"),
                          lambda r: (200, {}, json.dumps({"projectId": PROJECT, "projectNumber": PROJECT_NUMBER})))
        # No replica: teardown looks for one and finds none (Cloud Run's 404).
        mock.add("GET", re.compile(rf"https://{REGION}-run\.googleapis\.com/v1/projects/{PROJECT}/locations/"
                                   rf"{REGION}/services/[^/?]+{q}"), status=404,
                 json={"error": {"code": 404, "status": "NOT_FOUND", "message": "Resource not found."}})

    # -- Monitoring ------------------------------------------------------------

    @staticmethod
    def readback(item: dict) -> dict:
        item = json.loads(json.dumps(item))
        labels = item.get("labels") or {}
        if "password" in labels:
            labels["password"] = "**********"
        return item

    def list(self, request, collection):
        items = [self.readback(i) for i in self.store[collection].values()]
        start = int(_query(request).get("pageToken") or 0)
        page = {collection: items[start:start + 2]}
        if start + 2 < len(items):
            page["nextPageToken"] = str(start + 2)
        return 200, {}, json.dumps(page)

    def add(self, collection: str, body: dict) -> dict:
        item = json.loads(json.dumps(body))
        item["name"] = f"projects/{PROJECT}/{collection}/{next(self.ids)}"
        if collection == "notificationChannels":
            item.setdefault("verificationStatus", "VERIFICATION_STATUS_UNSPECIFIED")
            item.setdefault("creationRecord", {"mutateTime": "2026-11-19T10:00:00Z"})
        elif collection == "uptimeCheckConfigs":
            item.setdefault("checkerType", "STATIC_IP_CHECKERS")
        else:
            item.setdefault("creationRecord", {"mutateTime": "2026-11-19T10:00:00Z"})
            for n, condition in enumerate(item.get("conditions") or []):
                condition.setdefault("name", f"{item['name']}/conditions/{n + 7}")
        self.store[collection][item["name"]] = item
        return item

    def create(self, request, collection):
        return 200, {}, json.dumps(self.readback(self.add(collection, _json(request))))

    def _name(self, request):
        return urlsplit(request.url).path.split("/v3/", 1)[1]

    def patch(self, request, collection):
        name = self._name(request)
        item = self.store[collection].get(name)
        if item is None:
            return 404, {}, json.dumps({"error": {"code": 404, "message": f"{name} not found", "status": "NOT_FOUND"}})
        body = _json(request)
        for path in _query(request)["updateMask"].split(","):
            item[path] = body[path]
        return 200, {}, json.dumps(self.readback(item))

    def delete(self, request, collection):
        name = self._name(request)
        if self.store[collection].pop(name, None) is None:
            return 404, {}, json.dumps({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
        return 200, {}, "{}"

    # -- Cloud Scheduler -------------------------------------------------------

    def job_get(self, request):
        name = urlsplit(request.url).path.split("/v1/", 1)[1]
        job = self.jobs.get(name)
        if job is None:
            return 404, {}, json.dumps({"error": {"code": 404, "message": "Job not found.", "status": "NOT_FOUND"}})
        return 200, {}, json.dumps(job)

    def job_create(self, request):
        job = _json(request)
        job["state"] = "ENABLED"
        job["httpTarget"]["headers"]["User-Agent"] = "Google-Cloud-Scheduler"
        self.jobs[job["name"]] = job
        return 200, {}, json.dumps(job)

    def job_patch(self, request):
        name = urlsplit(request.url).path.split("/v1/", 1)[1]
        body = _json(request)
        for path in _query(request)["updateMask"].split(","):
            self.jobs[name][path] = body[path]
        return 200, {}, json.dumps(self.jobs[name])

    def job_delete(self, request):
        name = urlsplit(request.url).path.split("/v1/", 1)[1]
        self.jobs.pop(name)
        return 200, {}, "{}"

    def set_iam(self, request):
        self.iam = _json(request)["policy"]
        return 200, {}, json.dumps(self.iam)

    # -- what was sent ---------------------------------------------------------

    def writes(self) -> list[tuple[str, str]]:
        """(method, URL without the query) of every write sent."""
        return [(c.request.method, c.request.url.split("?")[0]) for c in self.mock.calls
                if c.request.method in WRITES]

    def masks(self) -> list[str]:
        return [_query(c.request)["updateMask"] for c in self.mock.calls if c.request.method == "PATCH"]

    def sent(self, method: str, fragment: str) -> list[dict]:
        return [_json(c.request) for c in self.mock.calls
                if c.request.method == method and fragment in c.request.url]

    def ours(self, collection: str) -> list[dict]:
        return [i for i in self.store[collection].values()
                if (i.get("userLabels") or {}).get("managed-by") == "switch"]

    def reset_calls(self):
        self.mock.calls.reset()


@pytest.fixture(autouse=True)
def quick_fingerprints(monkeypatch):
    # 100 000 PBKDF2 rounds cost ~60 ms a setup; what is tested here is that the fingerprint changes.
    monkeypatch.setattr(marks, "FINGERPRINT_ROUNDS", 10)


@pytest.fixture
def fake(google):
    return FakeGoogle(google)


@pytest.fixture
def settings(env):
    env(HOME_URL="https://www.example.org")
    return config.from_env(os.environ)


def settings_with(env, **values):
    env(**values)
    return config.from_env(os.environ)


def run_setup(settings, options=None, **kw) -> tuple[list, list[str]]:
    lines: list[str] = []
    outcomes = ops.setup(settings, options or SetupOptions(function_url=FUNCTION_URL), out=lines.append, **kw)
    return outcomes, lines


def labelled(service=SERVICE):
    return {"managed-by": "switch", "switch-service": service}


# -- setup -------------------------------------------------------------------


def test_first_setup_creates_channel_check_and_policy_with_the_documented_bodies(fake, settings):
    outcomes, lines = run_setup(settings)

    assert [(o.action, o.kind) for o in outcomes] == [
        ("created", "notification channel"), ("created", "uptime check"), ("created", "alert policy")]
    [channel] = fake.sent("POST", "/notificationChannels")
    assert channel["type"] == "webhook_basicauth"
    assert channel["labels"] == {"url": FUNCTION_URL, "username": USER, "password": PASSWORD}
    assert channel["userLabels"]["managed-by"] == "switch"
    assert channel["userLabels"]["switch-service"] == SERVICE
    assert re.fullmatch(r"[0-9a-f]{16}", channel["userLabels"]["switch-secret"])

    [check] = fake.sent("POST", "/uptimeCheckConfigs")
    assert check["period"] == "60s" and check["timeout"] == "10s"
    assert len(check["selectedRegions"]) >= 3
    assert check["monitoredResource"] == {"type": "uptime_url",
                                          "labels": {"project_id": PROJECT, "host": "www.example.org"}}
    assert check["httpCheck"] == {"requestMethod": "GET", "useSsl": True, "validateSsl": True,
                                  "path": "/healthz", "port": 443}
    assert check["userLabels"] == labelled()

    [policy] = fake.sent("POST", "/alertPolicies")
    check_id = fake.ours("uptimeCheckConfigs")[0]["name"].rsplit("/", 1)[-1]
    threshold = policy["conditions"][0]["conditionThreshold"]
    assert f'metric.label.check_id="{check_id}"' in threshold["filter"]
    assert 'metric.type="monitoring.googleapis.com/uptime_check/check_passed"' in threshold["filter"]
    assert threshold["aggregations"] == [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_NEXT_OLDER",
                                          "crossSeriesReducer": "REDUCE_COUNT_FALSE",
                                          "groupByFields": ["resource.label.*"]}]
    assert (threshold["comparison"], threshold["thresholdValue"], threshold["duration"]) == ("COMPARISON_GT", 1, "60s")
    assert threshold["trigger"] == {"count": 1}
    assert policy["alertStrategy"]["notificationPrompts"] == ["OPENED", "CLOSED"]
    assert policy["notificationChannels"] == [fake.ours("notificationChannels")[0]["name"]]
    assert (policy["combiner"], policy["severity"]) == ("OR", "CRITICAL")
    assert policy["displayName"] == "switch: www.example.org down"
    assert policy["userLabels"] == labelled()
    assert policy["documentation"]["mimeType"] == "text/markdown"
    assert "When it opens" in policy["documentation"]["content"]
    assert "When it closes" in policy["documentation"]["content"]

    assert lines[0].startswith("created") and "notification channel" in lines[0] and "webhook_basicauth" in lines[0]
    assert "setup: 3 created" in lines
    assert all(PASSWORD not in line for line in lines)


def test_second_setup_writes_nothing_and_says_unchanged(fake, settings):
    run_setup(settings)
    fake.reset_calls()

    outcomes, lines = run_setup(settings)

    assert fake.writes() == []
    assert [o.action for o in outcomes] == ["unchanged"] * 3
    assert "setup: nothing to change (3 unchanged)" in lines


def test_a_longer_alert_duration_patches_the_policy_in_place(fake, settings):
    run_setup(settings)
    [policy] = fake.ours("alertPolicies")
    condition_name = policy["conditions"][0]["name"]
    fake.reset_calls()

    outcomes, _ = run_setup(settings, SetupOptions(function_url=FUNCTION_URL, alert_duration_seconds=180))

    assert fake.writes() == [("PATCH", f"https://monitoring.googleapis.com/v3/{policy['name']}")]
    # The documentation states the duration, so it changes with it.
    assert fake.masks() == ["documentation,conditions"]
    [body] = fake.sent("PATCH", "/alertPolicies/")
    assert body["conditions"][0]["conditionThreshold"]["duration"] == "180s"
    assert body["conditions"][0]["name"] == condition_name  # keeps the condition's id
    assert len(fake.ours("alertPolicies")) == 1
    assert outcomes[2].action == "updated"


def test_a_new_health_path_patches_the_check_with_an_update_mask(fake, env, settings):
    run_setup(settings)
    [check] = fake.ours("uptimeCheckConfigs")
    fake.reset_calls()

    outcomes, _ = run_setup(settings_with(env, HEALTH_PATH="/status"))

    [policy] = fake.ours("alertPolicies")
    assert fake.writes() == [("PATCH", f"https://monitoring.googleapis.com/v3/{check['name']}"),
                             ("PATCH", f"https://monitoring.googleapis.com/v3/{policy['name']}")]
    assert set(fake.masks()[0].split(",")) == {"displayName", "httpCheck"}
    assert fake.masks()[1] == "documentation"  # it names the probed URL
    assert fake.ours("uptimeCheckConfigs")[0]["httpCheck"]["path"] == "/status"
    assert not fake.sent("POST", "/uptimeCheckConfigs")
    assert [o.action for o in outcomes] == ["unchanged", "updated", "updated"]


def test_a_new_home_host_replaces_the_check_and_repoints_the_policy(fake, env, settings):
    # Monitoring cannot update an uptime check's monitored resource: a new host is a new check.
    run_setup(settings)
    [old_check] = fake.ours("uptimeCheckConfigs")
    [policy] = fake.ours("alertPolicies")
    fake.reset_calls()

    run_setup(settings_with(env, HOME_URL="https://site.example.net"))

    [new_check] = fake.ours("uptimeCheckConfigs")  # no duplicate left behind
    assert new_check["monitoredResource"]["labels"]["host"] == "site.example.net"
    [body] = fake.sent("PATCH", policy["name"].rsplit("/", 1)[-1])
    new_id = new_check["name"].rsplit("/", 1)[-1]
    assert f'check_id="{new_id}"' in body["conditions"][0]["conditionThreshold"]["filter"]
    assert body["displayName"] == "switch: site.example.net down"
    assert ("DELETE", f"https://monitoring.googleapis.com/v3/{old_check['name']}") in fake.writes()
    assert [p["name"] for p in fake.ours("alertPolicies")] == [policy["name"]]
    deletes = [i for i, (m, _) in enumerate(fake.writes()) if m == "DELETE"]
    policy_patch = [i for i, (m, u) in enumerate(fake.writes()) if m == "PATCH" and "alertPolicies" in u]
    assert policy_patch[0] < deletes[0]  # the policy lets go of the old check first


def test_a_new_password_is_seen_through_the_redacted_label_and_patched(fake, env, settings):
    run_setup(settings)
    fake.reset_calls()

    outcomes, _ = run_setup(settings_with(env, BASIC_PASSWORD="an-entirely-new-password"))

    [body] = fake.sent("PATCH", "/notificationChannels/")
    assert body["labels"]["password"] == "an-entirely-new-password"
    assert outcomes[0].action == "updated"
    fake.reset_calls()
    run_setup(config.from_env(os.environ))
    assert fake.writes() == []


def test_a_new_channel_type_replaces_the_channel_and_repoints_the_policy(fake, settings):
    # A channel's type cannot be changed: a new channel, the policy moved to it, the old one deleted.
    run_setup(settings)
    [old] = fake.ours("notificationChannels")
    fake.reset_calls()

    run_setup(settings, SetupOptions(channel="pubsub", topic=TOPIC, project_number=PROJECT_NUMBER))

    [new] = fake.ours("notificationChannels")
    assert new["type"] == "pubsub"
    [policy] = fake.ours("alertPolicies")
    assert policy["notificationChannels"] == [new["name"]]
    assert fake.writes()[-1] == ("DELETE", f"https://monitoring.googleapis.com/v3/{old['name']}")
    assert not [c for c in fake.mock.calls if "cloudresourcemanager" in c.request.url]


def test_token_channel_url_carries_the_auth_token_url_encoded(fake, env):
    s = settings_with(env, HOME_URL="https://www.example.org", TOKEN="abc+def/ghi=jkl&mno-0123")

    run_setup(s, SetupOptions(function_url=FUNCTION_URL + "/", channel="token"))

    [channel] = fake.sent("POST", "/notificationChannels")
    assert channel["type"] == "webhook_tokenauth"
    assert channel["labels"] == {"url": f"{FUNCTION_URL}?auth_token=abc%2Bdef%2Fghi%3Djkl%26mno-0123"}


def test_the_default_channel_is_token_without_basic_credentials(fake, env):
    s = settings_with(env, HOME_URL="https://www.example.org", BASIC_USER=None, BASIC_PASSWORD=None)

    run_setup(s)

    assert fake.sent("POST", "/notificationChannels")[0]["type"] == "webhook_tokenauth"


def test_a_channel_someone_added_to_our_policy_is_kept(fake, settings):
    run_setup(settings)
    [policy] = fake.ours("alertPolicies")
    email = f"projects/{PROJECT}/notificationChannels/42"
    policy["notificationChannels"].append(email)
    policy["userLabels"]["team"] = "web"
    fake.reset_calls()

    run_setup(settings)

    assert fake.writes() == []


def test_a_duplicate_left_by_a_retried_create_is_removed(fake, settings):
    run_setup(settings)
    [check] = fake.ours("uptimeCheckConfigs")
    twin = fake.add("uptimeCheckConfigs", {k: v for k, v in check.items() if k != "name"})
    fake.reset_calls()

    run_setup(settings)

    assert fake.writes() == [("DELETE", f"https://monitoring.googleapis.com/v3/{twin['name']}")]


FUNCTION = f"https://cloudfunctions.googleapis.com/v2/projects/{PROJECT}/locations/{REGION}/functions/switch-prod"


def test_missing_function_url_and_no_deployed_function_fails_before_any_write(fake, settings):
    fake.mock.add(responses.GET, FUNCTION, status=404,
                  json={"error": {"code": 404, "message": "Function not found", "status": "NOT_FOUND"}})

    with pytest.raises(ConfigError) as caught:
        ops.setup(settings, SetupOptions(), out=lambda line: None)

    assert caught.value.variable == "--function-url"
    assert "webhook_basicauth" in caught.value.message and "python -m switch deploy" in caught.value.message
    assert [c.request.url.split("?")[0] for c in fake.mock.calls] == [FUNCTION]


def test_without_a_function_url_setup_wires_the_deployed_function(fake, settings):
    deployed = "https://switch-prod-abc123-ew.a.run.app"
    fake.mock.add(responses.GET, FUNCTION, json={"name": "f", "url": deployed, "state": "ACTIVE"})

    _, lines = run_setup(settings, SetupOptions())

    [channel] = fake.sent("POST", "/notificationChannels")
    assert channel["labels"]["url"] == deployed
    assert any(f"from the deployed switch-prod: {deployed}" in line for line in lines)


@pytest.mark.parametrize("values, variable", [
    ({"HOME_URL": None}, "SWITCH_HOME_URL"),
    ({"HOME_URL": "https://www.example.org", "TOKEN": None, "BASIC_USER": None, "BASIC_PASSWORD": None},
     "SWITCH_TOKEN"),
])
def test_setup_names_the_missing_variable(fake, env, values, variable):
    # Without credentials in the shell, setup looks for those a deploy stored (there are none here).
    fake.mock.add(responses.GET, re.compile(r"https://secretmanager\.googleapis\.com/.*"), status=404,
                  json={"error": {"code": 404, "message": "Secret not found", "status": "NOT_FOUND"}})

    with pytest.raises(ConfigError) as caught:
        ops.setup(settings_with(env, **values), SetupOptions(function_url=FUNCTION_URL), out=print)
    assert caught.value.variable == variable
    assert [c.request.method for c in fake.mock.calls if "secretmanager" not in c.request.url] == []
    assert fake.writes() == []


def test_setup_takes_the_token_a_deploy_stored_in_secret_manager(fake, env):
    stored = "token-the-deploy-stored-0123456789"
    fake.mock.add(responses.GET, f"https://secretmanager.googleapis.com/v1/projects/{PROJECT}/secrets/"
                  "switch-prod-token/versions/latest:access",
                  json={"name": "v", "payload": {"data": base64.b64encode(stored.encode()).decode()}})
    settings = settings_with(env, HOME_URL="https://www.example.org", TOKEN=None, BASIC_USER=None,
                             BASIC_PASSWORD=None)

    outcomes, lines = run_setup(settings, SetupOptions(function_url=FUNCTION_URL, channel="token"))

    [channel] = fake.sent("POST", "/notificationChannels")
    assert channel["labels"]["url"] == f"{FUNCTION_URL}?auth_token={stored}"
    assert any("read from Secret Manager (switch-prod-token)" in line for line in lines)
    assert all(stored not in line for line in lines)


@pytest.mark.parametrize("options, variable", [
    (SetupOptions(function_url=FUNCTION_URL, alert_duration_seconds=90), "--alert-duration"),
    (SetupOptions(function_url="http://example.org/switch"), "--function-url"),
    (SetupOptions(channel="pubsub"), "--topic"),
])
def test_bad_options_are_refused_before_any_api_call(fake, settings, options, variable):
    with pytest.raises(ConfigError) as caught:
        ops.setup(settings, options, out=print)
    assert caught.value.variable == variable
    assert len(fake.mock.calls) == 0


def test_a_function_url_with_a_token_in_it_is_refused_without_echoing_the_token(fake, settings):
    with pytest.raises(ConfigError) as caught:
        ops.setup(settings, SetupOptions(function_url=f"{FUNCTION_URL}?auth_token={TOKEN}"), out=print)

    assert caught.value.variable == "--function-url" and "query" in caught.value.message
    assert TOKEN not in caught.value.message and FUNCTION_URL in caught.value.message
    assert fake.writes() == []


def test_a_plain_http_home_url_gets_a_plain_http_check(fake, env):
    _, lines = run_setup(settings_with(env, HOME_URL="http://www.example.org"))

    [check] = fake.sent("POST", "/uptimeCheckConfigs")
    assert check["httpCheck"]["useSsl"] is False and check["httpCheck"]["port"] == 80
    assert any("plain http" in line for line in lines)


# -- dry run -------------------------------------------------------------------


def test_dry_run_setup_sends_no_write_and_prints_bodies_without_secrets(fake, settings):
    outcomes, lines = run_setup(settings, dry_run=True)

    assert fake.writes() == []
    assert [o.action for o in outcomes] == ["would create"] * 3
    text = "\n".join(lines)
    assert '"validateSsl": true' in text and '"REDUCE_COUNT_FALSE"' in text
    assert PASSWORD not in text and "<redacted>" in text
    assert "dry run: nothing was sent" in text


def test_dry_run_of_a_change_shows_the_update_mask_and_sends_nothing(fake, settings):
    run_setup(settings)
    fake.reset_calls()

    outcomes, lines = run_setup(settings, SetupOptions(function_url=FUNCTION_URL, alert_duration_seconds=120),
                                dry_run=True)

    assert fake.writes() == []
    assert outcomes[2].action == "would update"
    assert any("updateMask=documentation,conditions" in line for line in lines)


def test_dry_run_teardown_sends_no_write(fake, settings):
    run_setup(settings)
    fake.reset_calls()
    lines: list[str] = []

    outcomes = ops.teardown(settings, out=lines.append, dry_run=True)

    assert fake.writes() == []
    assert [o.action for o in outcomes] == ["would delete"] * 3
    assert len(fake.ours("alertPolicies")) == 1


# -- teardown ------------------------------------------------------------------


def test_teardown_deletes_only_switch_parts(fake, settings):
    foreign = {
        "notificationChannels": fake.add("notificationChannels", {"type": "email", "displayName": "ops",
                                                                 "labels": {"email_address": "ops@example.org"}}),
        "uptimeCheckConfigs": fake.add("uptimeCheckConfigs", {"displayName": "blog", "userLabels": {"team": "web"}}),
        "alertPolicies": fake.add("alertPolicies", {"displayName": "switch: www.example.org down",
                                                    "userLabels": {"managed-by": "terraform"}}),
    }
    other_service = fake.add("alertPolicies", {"displayName": "other", "userLabels": labelled("other-replica")})
    run_setup(settings)
    ours = {c: [i["name"] for i in fake.ours(c) if i is not other_service] for c in COLLECTIONS}
    fake.reset_calls()
    lines: list[str] = []

    outcomes = ops.teardown(settings, out=lines.append)

    deleted = [u.split("/v3/")[-1] for m, u in fake.writes() if m == "DELETE"]
    assert deleted == ours["alertPolicies"] + ours["uptimeCheckConfigs"] + ours["notificationChannels"]
    assert len(deleted) == 3
    for item in list(foreign.values()) + [other_service]:
        assert item["name"] not in deleted
        assert item["name"] in fake.store[item["name"].split("/")[2]]
    assert [o.action for o in outcomes] == ["deleted"] * 3
    assert "teardown: 3 deleted" in lines


def test_teardown_removes_our_scheduler_job_and_refuses_a_stranger_of_that_name(fake, settings):
    run_setup(settings, SetupOptions(function_url=FUNCTION_URL, scheduler=True))
    assert len(fake.jobs) == 1
    ops.teardown(settings, out=lambda line: None)
    assert fake.jobs == {}

    name = f"projects/{PROJECT}/locations/{REGION}/jobs/switch-reconcile-{SERVICE}"
    fake.jobs[name] = {"name": name, "description": "nightly report", "schedule": "0 3 * * *"}
    outcomes = ops.teardown(settings, out=lambda line: None)
    assert name in fake.jobs
    assert outcomes[-1].action == "skipped"
    with pytest.raises(NotManaged):
        run_setup(settings, SetupOptions(function_url=FUNCTION_URL, scheduler=True))


# -- scheduler ---------------------------------------------------------------------


def test_scheduler_job_posts_reconcile_every_five_minutes_with_the_token(fake, settings):
    outcomes, _ = run_setup(settings, SetupOptions(function_url=FUNCTION_URL, scheduler=True))

    [job] = fake.sent("POST", "/jobs")
    assert job["name"].endswith(f"/jobs/switch-reconcile-{SERVICE}")
    assert job["schedule"] == "*/5 * * * *"
    assert job["httpTarget"]["uri"] == f"{FUNCTION_URL}/reconcile"
    assert job["httpTarget"]["httpMethod"] == "POST"
    assert job["httpTarget"]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert base64.b64decode(job["httpTarget"]["body"]) == b"{}"
    assert outcomes[-1].action == "created"

    fake.reset_calls()
    outcomes, _ = run_setup(settings, SetupOptions(function_url=FUNCTION_URL, scheduler=True))
    assert fake.writes() == []
    assert outcomes[-1].action == "unchanged"


# -- Pub/Sub -----------------------------------------------------------------------


def test_pubsub_channel_grants_the_notification_agent_keeping_existing_bindings(fake, settings):
    _, lines = run_setup(settings, SetupOptions(channel="pubsub", topic="switch-alerts"))

    [channel] = fake.sent("POST", "/notificationChannels")
    assert channel["type"] == "pubsub" and channel["labels"] == {"topic": TOPIC}
    [sent] = fake.sent("POST", ":setIamPolicy")
    bindings = {b["role"]: b["members"] for b in sent["policy"]["bindings"]}
    assert bindings["roles/pubsub.viewer"] == ["user:ops@example.org"]
    assert bindings["roles/pubsub.publisher"] == [AGENT]
    assert sent["policy"]["etag"] == "BwYAAA=="
    assert any("service agent" in line and "publisher" in line for line in lines)

    fake.reset_calls()
    outcomes, _ = run_setup(settings, SetupOptions(channel="pubsub", topic="switch-alerts"))
    assert fake.writes() == []
    assert ("unchanged", "publisher grant") in [(o.action, o.kind) for o in outcomes]


# -- status ------------------------------------------------------------------------


def test_chain_status_renders_a_table_with_alert_open(fake, settings):
    run_setup(settings)
    [policy] = fake.ours("alertPolicies")
    fake.alerts = [{"name": f"projects/{PROJECT}/alerts/9", "state": "OPEN", "openTime": "2026-11-19T10:05:00Z",
                    "policy": {"name": policy["name"], "displayName": policy["displayName"]}}]
    switch_status = {"service": SERVICE, "replica": {"ready": True, "url": "https://site-replica-xyz.a.run.app"},
                     "traffic": {"router": "cloudflare", "configured": True, "enabled": True,
                                 "target": "https://site-replica-xyz.a.run.app"}}

    fake.mock.add(responses.GET, re.compile(r"https://cloudfunctions\.googleapis\.com/v2/.*"), status=404,
                  json={"error": {"code": 404, "message": "Function not found", "status": "NOT_FOUND"}})
    rows = ops.chain_status(settings, extra=lambda: ops.rows_from_switch_status(switch_status))
    table = ops.format_table(rows)

    assert [r.part for r in rows] == ["notification channel", "uptime check", "alert policy", "scheduler job",
                                      "function", "function", "replica", "redirect"]
    assert [r.state for r in rows if r.part == "function"] == ["missing", "missing"]
    assert "run: python -m switch deploy" in table
    assert "alert open: yes" in table
    assert table.splitlines()[0].split() == ["PART", "STATE", "NAME", "DETAIL"]
    assert PASSWORD not in table
    fake.alerts = []
    assert "alert open: no" in ops.format_table(ops.chain_status(settings))


# -- the CLI's side ----------------------------------------------------------------


def test_cli_arguments_become_setup_options():
    import argparse

    parser = argparse.ArgumentParser()
    ops.add_arguments(parser, "setup")
    args = parser.parse_args(["--function-url", FUNCTION_URL, "--channel", "token", "--alert-duration", "120",
                              "--scheduler", "--dry-run"])

    options = ops.options_from_args(args)
    assert options.function_url == FUNCTION_URL and options.channel == "token"
    assert options.alert_duration_seconds == 120 and options.scheduler is True and args.dry_run is True

    teardown = argparse.ArgumentParser()
    ops.add_arguments(teardown, "teardown")
    assert ops.options_from_args(teardown.parse_args(["--dry-run"])) == SetupOptions()
