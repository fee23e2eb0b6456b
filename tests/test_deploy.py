"""python -m switch deploy, its request bodies and its rules, with Google's APIs intercepted by responses.

``FakeCloud`` keeps what a deploy creates (topic, service account, project
policy, secrets, functions, the functions' Run IAM) in memory, answers
creates and updates with long-running operations that finish on the first
poll, and receives the source upload at a signed URL. End-to-end runs against
the emulator (and through Serverless) are in tests/test_deploy_e2e.py.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest

from switch.errors import ConfigError, UpstreamError
from switch.ops import deploy as deploying
from switch.ops import marks, source
from switch.ops.deploy import DeployOptions
from tests import discovery_schema
from tests.conftest import PROJECT, REGION, TOKEN, PASSWORD

FUNCTIONS = f"https://cloudfunctions.googleapis.com/v2/projects/{PROJECT}/locations/{REGION}"
SECRETS = f"https://secretmanager.googleapis.com/v1/projects/{PROJECT}/secrets"
ACCOUNTS = f"https://iam.googleapis.com/v1/projects/{PROJECT}/serviceAccounts"
PROJECT_IAM = f"https://cloudresourcemanager.googleapis.com/v1/projects/{PROJECT}"
TOPIC = f"https://pubsub.googleapis.com/v1/projects/{PROJECT}/topics/switch-alerts"
RUN = f"https://{REGION}-run.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/services"
UPLOAD = "https://storage.googleapis.com/gcf-v2-uploads-123/signed?X-Goog-Signature=abc"
EMAIL = f"switch-prod@{PROJECT}.iam.gserviceaccount.com"
CF_TOKEN = "cloudflare-token-for-tests-0123"
Q = r"(\?.*)?$"


def body_of(request) -> dict:
    return json.loads(request.body) if request.body else {}


def not_found(message="not found"):
    return 404, {}, json.dumps({"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})


def ok(value) -> tuple:
    return 200, {}, json.dumps(value)


class FakeCloud:
    """What a deploy talks to, in memory; every request is kept by ``responses``."""

    def __init__(self, mock):
        self.mock = mock
        self.topics, self.accounts, self.secrets, self.functions = {}, {}, {}, {}
        self.versions: dict[str, list[bytes]] = {}
        self.uploads: list[tuple[dict, bytes]] = []
        self.run_policies: dict[str, dict] = {}
        self.project_policy = {"version": 1, "etag": "BwProject1", "bindings": [
            {"role": "roles/owner", "members": ["user:owner@example.org"]}]}
        self.failing_operation = None
        add = mock.add_callback
        add("GET", re.compile(TOPIC + Q), lambda r: ok(self.topics[TOPIC]) if TOPIC in self.topics else not_found())
        add("PUT", re.compile(TOPIC + Q), self.create_topic)
        add("GET", re.compile(rf"{ACCOUNTS}/[^/?]+{Q}"), self.get_account)
        add("POST", re.compile(ACCOUNTS + Q), self.create_account)
        add("POST", re.compile(re.escape(PROJECT_IAM) + r":getIamPolicy" + Q), lambda r: ok(self.project_policy))
        add("POST", re.compile(re.escape(PROJECT_IAM) + r":setIamPolicy" + Q), self.set_project_policy)
        add("GET", re.compile(rf"{SECRETS}/[^/:?]+{Q}"), self.get_secret)
        add("POST", re.compile(SECRETS + Q), self.create_secret)
        add("POST", re.compile(rf"{SECRETS}/[^/:?]+:addVersion{Q}"), self.add_version)
        add("PATCH", re.compile(rf"{SECRETS}/[^/:?]+{Q}"), self.patch_secret)
        add("POST", re.compile(re.escape(FUNCTIONS) + r"/functions:generateUploadUrl" + Q), self.upload_url)
        add("PUT", re.compile(re.escape(UPLOAD)), self.upload)
        add("GET", re.compile(rf"{FUNCTIONS}/functions/[^/:?]+{Q}"), self.get_function)
        add("POST", re.compile(rf"{FUNCTIONS}/functions{Q}"), self.create_function)
        add("PATCH", re.compile(rf"{FUNCTIONS}/functions/[^/:?]+{Q}"), self.patch_function)
        add("GET", re.compile(rf"{FUNCTIONS}/operations/[^/?]+{Q}"), self.get_operation)
        add("GET", re.compile(rf"{RUN}/[^/:]+:getIamPolicy{Q}"), self.get_run_policy)
        add("POST", re.compile(rf"{RUN}/[^/:]+:setIamPolicy{Q}"), self.set_run_policy)

    @staticmethod
    def path(request) -> str:
        parts = urlsplit(request.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    @staticmethod
    def query(request) -> dict:
        return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}

    def create_topic(self, request):
        self.topics[self.path(request)] = {"name": f"projects/{PROJECT}/topics/switch-alerts", **body_of(request)}
        return ok(self.topics[self.path(request)])

    def get_account(self, request):
        email = self.path(request).rsplit("/", 1)[-1]
        return ok(self.accounts[email]) if email in self.accounts else not_found("Unknown service account")

    def create_account(self, request):
        body = body_of(request)
        email = f"{body['accountId']}@{PROJECT}.iam.gserviceaccount.com"
        self.accounts[email] = {"name": f"projects/{PROJECT}/serviceAccounts/{email}", "email": email,
                                **body["serviceAccount"]}
        return ok(self.accounts[email])

    def set_project_policy(self, request):
        policy = body_of(request)["policy"]
        if policy.get("etag") != self.project_policy["etag"]:
            return 409, {}, json.dumps({"error": {"code": 409, "message": "concurrent", "status": "ABORTED"}})
        self.project_policy = {**policy, "etag": self.project_policy["etag"] + "x"}
        return ok(self.project_policy)

    def get_secret(self, request):
        name = self.path(request).split("/v1/", 1)[1]
        return ok(self.secrets[name]) if name in self.secrets else not_found()

    def create_secret(self, request):
        name = f"projects/{PROJECT}/secrets/{self.query(request)['secretId']}"
        self.secrets[name] = {"name": name, **body_of(request)}
        self.versions[name] = []
        return ok(self.secrets[name])

    def add_version(self, request):
        name = self.path(request).split("/v1/", 1)[1].removesuffix(":addVersion")
        self.versions[name].append(base64.b64decode(body_of(request)["payload"]["data"]))
        return ok({"name": f"{name}/versions/{len(self.versions[name])}", "state": "ENABLED"})

    def patch_secret(self, request):
        name = self.path(request).split("/v1/", 1)[1]
        self.secrets[name]["labels"] = body_of(request)["labels"]
        return ok(self.secrets[name])

    def upload_url(self, request):
        return ok({"uploadUrl": UPLOAD, "storageSource": {"bucket": "gcf-v2-uploads-123", "object": "fn.zip"}})

    def upload(self, request):
        self.uploads.append((dict(request.headers), request.body))
        return 200, {}, ""

    def get_function(self, request):
        name = self.path(request).split("/v2/", 1)[1]
        return ok(self.functions[name]) if name in self.functions else not_found()

    def _operation(self, name: str) -> tuple:
        return ok({"name": f"projects/{PROJECT}/locations/{REGION}/operations/op-{name.rsplit('/', 1)[-1]}",
                   "done": False})

    def _deployed(self, function: dict) -> dict:
        short = function["name"].rsplit("/", 1)[-1]
        function["serviceConfig"]["service"] = f"projects/{PROJECT}/locations/{REGION}/services/{short}"
        function["url"] = function["serviceConfig"]["uri"] = f"https://{short}-abc-ew.a.run.app"
        function["state"] = "ACTIVE"
        return function

    def create_function(self, request):
        name = f"projects/{PROJECT}/locations/{REGION}/functions/{self.query(request)['functionId']}"
        self.functions[name] = self._deployed({**body_of(request), "name": name})
        return self._operation(name)

    def patch_function(self, request):
        name = self.path(request).split("/v2/", 1)[1]
        body = body_of(request)
        for field in self.query(request)["updateMask"].split(","):
            self.functions[name][field] = body[field]
        self._deployed(self.functions[name])
        return self._operation(name)

    def get_operation(self, request):
        short = self.path(request).rsplit("/op-", 1)[-1]
        name = f"projects/{PROJECT}/locations/{REGION}/functions/{short}"
        if self.failing_operation == short:
            return ok({"name": "op", "done": True, "error": {"code": 3, "message": "Build failed: no main.py"}})
        return ok({"name": "op", "done": True, "response": self.functions[name]})

    def get_run_policy(self, request):
        service = self.path(request).rsplit("/", 1)[-1].removesuffix(":getIamPolicy")
        return ok(self.run_policies.get(service, {"version": 1, "etag": "ACAB"}))

    def set_run_policy(self, request):
        service = self.path(request).rsplit("/", 1)[-1].removesuffix(":setIamPolicy")
        self.run_policies[service] = {**body_of(request)["policy"], "etag": "BwRun2"}
        return ok(self.run_policies[service])

    # -- what was sent -----------------------------------------------------------

    def sent(self, method: str, pattern: str) -> list:
        return [c.request for c in self.mock.calls if c.request.method == method and re.search(pattern, c.request.url)]

    def writes(self) -> list[str]:
        return [f"{c.request.method} {self.path(c.request)}" for c in self.mock.calls
                if c.request.method in ("POST", "PUT", "PATCH", "DELETE") and ":getIamPolicy" not in c.request.url]


@pytest.fixture
def cloud(google, env, monkeypatch):
    monkeypatch.setattr(marks, "FINGERPRINT_ROUNDS", 10)
    monkeypatch.setattr("switch.ops.google.time", __import__("time"), raising=False)
    env(HOME_URL="https://www.example.org", CLOUDFLARE_TOKEN=CF_TOKEN, CLOUDFLARE_ZONE_ID="0" * 32,
        CLOUDFLARE_HOST="www.example.org", ALERT_POLICY="switch: www.example.org down")
    monkeypatch.setattr(deploying, "_google_credentials", lambda settings: [])
    return FakeCloud(google)


def run(lines=None, **kw):
    lines = [] if lines is None else lines
    return deploying.deploy(DeployOptions(), out=lines.append, **kw), lines


def created_function(cloud, entry: str) -> dict:
    suffix = "" if entry == "switch" else "-pubsub"
    [request] = [r for r in cloud.sent("POST", r"/functions\?") if f"functionId=switch-prod{suffix}&" in r.url
                 or r.url.endswith(f"functionId=switch-prod{suffix}")]
    return body_of(request)


# -- the bodies -------------------------------------------------------------------


def test_both_function_bodies_are_accepted_by_the_cloudfunctions_v2_schema(cloud):
    run()

    for entry in ("switch", "switch_pubsub"):
        assert discovery_schema.check("cloudfunctions", "v2", "Function", created_function(cloud, entry)) == []
    [secret] = [body_of(r) for r in cloud.sent("POST", r"/secrets\?secretId=switch-prod-token")]
    assert discovery_schema.check("secretmanager", "v1", "Secret", secret) == []
    [account] = [body_of(r) for r in cloud.sent("POST", r"/serviceAccounts")]
    assert discovery_schema.check("iam", "v1", "CreateServiceAccountRequest", account) == []
    for request in cloud.sent("POST", r":setIamPolicy"):
        api = ("cloudresourcemanager", "v1") if "cloudresourcemanager" in request.url else ("run", "v1")
        assert discovery_schema.check(*api, "SetIamPolicyRequest", body_of(request)) == []


def test_the_http_function_is_gen2_python312_on_its_own_account_with_secrets_from_secret_manager(cloud):
    run()

    function = created_function(cloud, "switch")
    assert function["buildConfig"]["runtime"] == "python312" and function["buildConfig"]["entryPoint"] == "switch"
    assert function["buildConfig"]["source"] == {"storageSource": {"bucket": "gcf-v2-uploads-123",
                                                                   "object": "fn.zip"}}
    service = function["serviceConfig"]
    assert service["serviceAccountEmail"] == EMAIL
    assert not service["serviceAccountEmail"].endswith(("-compute@developer.gserviceaccount.com",
                                                        "@appspot.gserviceaccount.com"))
    assert service["timeoutSeconds"] >= 540 and service["ingressSettings"] == "ALLOW_ALL"
    assert {s["key"]: s["secret"] for s in service["secretEnvironmentVariables"]} == {
        "SWITCH_TOKEN": "switch-prod-token", "SWITCH_BASIC_PASSWORD": "switch-prod-basic-password",
        "SWITCH_CLOUDFLARE_TOKEN": "switch-prod-cloudflare-token"}
    assert all(s["version"] == "latest" and s["projectId"] == PROJECT for s in service["secretEnvironmentVariables"])
    variables = service["environmentVariables"]
    assert variables["SWITCH_HOME_URL"] == "https://www.example.org"
    assert variables["SWITCH_ALERT_POLICY"] == "switch: www.example.org down"
    assert variables["SWITCH_PROJECT"] == PROJECT and variables["SWITCH_REGION"] == REGION
    assert "eventTrigger" not in function


def test_the_environment_carries_no_secret_and_no_endpoint_override_from_the_shell(cloud, env):
    env(RUN_ENDPOINT="https://europe-west1-run.googleapis.com/", MONITORING_ENDPOINT="https://monitoring.googleapis.com/")

    run()

    for entry in ("switch", "switch_pubsub"):
        function = created_function(cloud, entry)
        variables = function["serviceConfig"]["environmentVariables"]
        assert not [name for name in variables if name.endswith("_ENDPOINT")]
        assert {"SWITCH_TOKEN", "SWITCH_BASIC_PASSWORD", "SWITCH_CLOUDFLARE_TOKEN"}.isdisjoint(variables)
        text = json.dumps(function)
        assert TOKEN not in text and PASSWORD not in text and CF_TOKEN not in text


def test_the_pubsub_function_is_triggered_by_the_topic_retries_and_runs_as_the_account(cloud):
    run()

    function = created_function(cloud, "switch_pubsub")
    assert function["buildConfig"]["entryPoint"] == "switch_pubsub"
    assert function["eventTrigger"] == {
        "eventType": "google.cloud.pubsub.topic.v1.messagePublished",
        "pubsubTopic": f"projects/{PROJECT}/topics/switch-alerts",
        "retryPolicy": "RETRY_POLICY_RETRY", "serviceAccountEmail": EMAIL, "triggerRegion": REGION}
    assert function["serviceConfig"]["timeoutSeconds"] <= 540
    assert cloud.sent("PUT", "/topics/switch-alerts")  # created when missing


def test_the_http_function_is_public_and_the_pubsub_one_only_for_its_account(cloud):
    run()

    http = cloud.run_policies["switch-prod"]["bindings"]
    pubsub = cloud.run_policies["switch-prod-pubsub"]["bindings"]
    assert {"role": "roles/run.invoker", "members": ["allUsers"]} in http
    assert pubsub == [{"role": "roles/run.invoker", "members": [f"serviceAccount:{EMAIL}"]}]
    assert cloud.sent("POST", r":setIamPolicy")[-1].url.startswith(f"https://{REGION}-run.googleapis.com/")


def test_the_account_gets_only_the_roles_it_uses_and_every_other_binding_stays(cloud):
    run()

    bindings = {b["role"]: b["members"] for b in cloud.project_policy["bindings"]}
    assert bindings.pop("roles/owner") == ["user:owner@example.org"]
    assert bindings == {role: [f"serviceAccount:{EMAIL}"] for role in (
        "roles/run.admin", "roles/iam.serviceAccountUser", "roles/monitoring.viewer",
        "roles/secretmanager.secretAccessor")}
    forbidden = ("roles/owner", "roles/editor", "roles/iam.securityAdmin", "roles/resourcemanager.projectIamAdmin")
    assert all(role not in forbidden for role in bindings)
    account = cloud.accounts[EMAIL]
    assert account["description"].startswith("managed-by: switch")


def test_secrets_are_stored_once_and_a_new_version_only_when_the_value_changes(cloud, env):
    run()
    assert cloud.versions[f"projects/{PROJECT}/secrets/switch-prod-token"] == [TOKEN.encode()]

    run()
    assert cloud.versions[f"projects/{PROJECT}/secrets/switch-prod-token"] == [TOKEN.encode()]

    env(TOKEN="a-brand-new-token-for-the-second-deploy")
    run()
    assert cloud.versions[f"projects/{PROJECT}/secrets/switch-prod-token"] == [
        TOKEN.encode(), b"a-brand-new-token-for-the-second-deploy"]
    assert len(cloud.versions[f"projects/{PROJECT}/secrets/switch-prod-basic-password"]) == 1


def test_the_source_goes_up_once_as_a_zip_to_the_signed_url_without_google_credentials(cloud):
    run()

    [(headers, data)] = cloud.uploads  # both functions build from one upload
    assert headers["Content-Type"] == "application/zip"
    assert "Authorization" not in headers
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert {"main.py", "requirements.txt", "switch/app.py"} <= set(names)


def test_a_second_deploy_of_the_same_tree_changes_nothing(cloud):
    run()
    cloud.mock.calls.reset()

    outcomes, lines = run()

    assert cloud.writes() == []
    assert {o.action for o in outcomes} == {"unchanged"}
    assert "deploy: nothing to change" in "\n".join(lines)


def test_a_changed_setting_updates_the_functions_in_place(cloud, env):
    run()
    cloud.mock.calls.reset()
    env(PROBE_COUNT="5")

    run()

    patches = cloud.sent("PATCH", "/functions/")
    assert [urlsplit(r.url).path.rsplit("/", 1)[-1] for r in patches] == ["switch-prod", "switch-prod-pubsub"]
    assert all(parse_qs(urlsplit(r.url).query)["updateMask"] == ["serviceConfig"] for r in patches)
    assert not cloud.sent("POST", r"/functions\?") and not cloud.sent("DELETE", "/functions/")
    assert not cloud.uploads[1:]  # the source did not change: nothing uploaded again


def test_a_failed_operation_stops_the_deploy_with_googles_message(cloud):
    cloud.failing_operation = "switch-prod"

    with pytest.raises(UpstreamError) as caught:
        run()

    assert "Build failed: no main.py" in caught.value.message
    assert not cloud.sent("POST", r"/functions\?functionId=switch-prod-pubsub")


def test_the_dry_run_reads_writes_nothing_and_prints_no_secret(cloud):
    outcomes, lines = run(dry_run=True)

    assert cloud.writes() == []
    text = "\n".join(lines)
    assert TOKEN not in text and PASSWORD not in text and CF_TOKEN not in text
    assert "would create  function              switch-prod" in text
    assert '"runtime": "python312"' in text and '"serviceAccountEmail": "' + EMAIL in text
    assert "switch-prod-token" in text and "dry run: nothing was sent" in text


# -- bad configuration ---------------------------------------------------------------


def test_every_configuration_problem_is_named_at_once_before_any_call(google, env, capsys):
    env(PROJECT=None, REGION=None, IMAGE=None, TOKEN="CHANGE-ME-TO-A-LONG-RANDOM-SECRET", BASIC_USER=None,
        BASIC_PASSWORD=None, HOME_URL="https://www.example.org/?auth_token=" + TOKEN)

    with pytest.raises(ConfigError) as caught:
        deploying.deploy(DeployOptions(stage="Prod"), out=print)

    named = [variable for variable, _ in caught.value.problems]
    assert {"SWITCH_PROJECT", "SWITCH_REGION", "SWITCH_IMAGE", "SWITCH_TOKEN", "SWITCH_HOME_URL",
            "--stage"} <= set(named)
    assert len(google.calls) == 0
    shown = caught.value.message + capsys.readouterr().out
    assert "CHANGE-ME" not in shown and TOKEN not in shown


def test_no_credentials_for_the_function_is_an_error_before_any_call(google, env, monkeypatch):
    env(TOKEN=None, BASIC_USER=None, BASIC_PASSWORD=None, HOME_URL="https://www.example.org")
    monkeypatch.setattr(deploying, "_google_credentials", lambda settings: [])

    with pytest.raises(ConfigError) as caught:
        deploying.deploy(DeployOptions(), out=print)

    assert caught.value.variable == "SWITCH_TOKEN" and "refuse every request" in caught.value.message
    assert len(google.calls) == 0


def test_no_google_credentials_is_a_clear_error(env, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", "/nonexistent")
    monkeypatch.setattr("google.auth._default._get_gce_credentials", lambda *a, **k: (None, None))

    with pytest.raises(ConfigError) as caught:
        deploying.deploy(DeployOptions(), out=print)

    assert caught.value.variable == "GOOGLE_APPLICATION_CREDENTIALS"
    assert "gcloud auth application-default login" in caught.value.message


# -- the source ----------------------------------------------------------------------


def test_the_zip_holds_what_the_function_runs_and_nothing_else():
    data, digest = source.build()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()

    assert names[:2] == ["main.py", "requirements.txt"] and "switch/__init__.py" in names
    for unwanted in ("tests/", "bench/", ".git", "node_modules/", ".venv/", ".env", "keyfile", "switch/ops/",
                     "switch/emulator/", "__pycache__", ".pyc", "requirements-dev.txt"):
        assert not [n for n in names if unwanted in n], unwanted
    assert len(data) < 5 * 1024 * 1024
    assert source.build() == (data, digest)  # the same tree, the same bytes


THIS_RUNTIME = f"python{sys.version_info[0]}{sys.version_info[1]}"


def test_deploying_from_the_runtimes_python_ships_bytecode_the_function_loads_without_compiling(tmp_path):
    data, digest = source.build(runtime=THIS_RUNTIME)
    archive = zipfile.ZipFile(io.BytesIO(data))
    pycs = [n for n in archive.namelist() if n.endswith(".pyc")]
    sources = [n for n in archive.namelist() if n.endswith(".py")]

    assert len(pycs) == len(sources) and f"switch/__pycache__/app.{sys.implementation.cache_tag}.pyc" in pycs
    assert source.build(runtime=THIS_RUNTIME) == (data, digest)  # deterministic: unchanged sources upload nothing
    archive.extractall(tmp_path)
    # The bytecode is used unchecked: a source that no longer compiles is not even read.
    (tmp_path / "switch" / "errors.py").write_text("this is not python (\n")
    result = subprocess.run([sys.executable, "-c", "import switch.errors, sys; print(switch.errors.__cached__)"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"errors.{sys.implementation.cache_tag}.pyc")


def test_from_another_python_the_zip_has_no_bytecode_and_the_deploy_says_so(cloud, env):
    other = "python399"
    assert not [n for n in zipfile.ZipFile(io.BytesIO(source.build(runtime=other)[0])).namelist()
                if n.endswith(".pyc")]
    lines: list[str] = []

    deploying.deploy(DeployOptions(runtime="python314" if THIS_RUNTIME != "python314" else "python313"),
                     out=lines.append, dry_run=True)

    assert any("compiled at its first start" in line for line in lines)


def test_the_zip_runs_on_its_own(tmp_path):
    data, _ = source.build()
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    code = ("import functions_framework; app = functions_framework.create_app('switch', 'main.py'); "
            "print(app.test_client().get('/status').status_code)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "", "SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_IMAGE": "i",
                                 "SWITCH_TOKEN": TOKEN}, timeout=60)
    assert result.stdout.splitlines()[-1] == "401", result.stderr
    assert not (tmp_path / "switch" / "ops").exists()
