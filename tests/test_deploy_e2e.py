"""Deploy end to end: the real CLI, Serverless and the README, against the emulator over real sockets.

The emulator validates a deploy the way Google does (it was checked against
what ``gcloud functions deploy --gen2`` sends): a function names a service
account, topic, secrets and an upload that must exist, its build fails on a
zip without main.py, and a failed update leaves the previous version serving.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile

import pytest

from switch.emulator import Emulator
from switch.ops import marks, source
from tests.conftest import FIXTURES, ROOT

PROJECT, REGION = "switch-demo", "europe-west1"
API = ("RUN", "FUNCTIONS", "SECRETMANAGER", "IAM", "PUBSUB", "RESOURCEMANAGER", "MONITORING", "SCHEDULER")
TOKEN = "e2e-deploy-token-0123456789abcdef"


@pytest.fixture
def emu():
    with Emulator(deploy_delay=0.05, ready_delay=0.05, delete_delay=0.05) as emulator:
        yield emulator


def shell(emu, **more) -> dict:
    """A deployer's shell: the emulator for every API, the configuration, nothing else of ours."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    return {**base, **{f"SWITCH_{api}_ENDPOINT": emu.url for api in API}, "SWITCH_PROJECT": PROJECT,
            "SWITCH_REGION": REGION, "SWITCH_IMAGE": f"{REGION}-docker.pkg.dev/{PROJECT}/site/www:1",
            "SWITCH_HOME_URL": "https://www.example.org", "SWITCH_TOKEN": TOKEN, **more}


def cli(env: dict, *args, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "switch", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def function(emu, name: str) -> dict:
    return emu.function(f"projects/{PROJECT}/locations/{REGION}/functions/{name}")


def test_deploy_creates_both_functions_then_a_second_run_changes_nothing(emu):
    first = cli(shell(emu), "deploy")

    assert first.returncode == 0, first.stderr
    for name, entry in (("switch-prod", "switch"), ("switch-prod-pubsub", "switch_pubsub")):
        deployed = function(emu, name)
        assert deployed["state"] == "ACTIVE" and deployed["buildConfig"]["entryPoint"] == entry
        assert deployed["serviceConfig"]["serviceAccountEmail"] == f"switch-prod@{PROJECT}.iam.gserviceaccount.com"
    assert f"url: {function(emu, 'switch-prod')['url']}" in first.stdout
    assert "next: python -m switch setup --function-url " in first.stdout
    assert TOKEN not in first.stdout + first.stderr

    second = cli(shell(emu), "deploy")

    assert second.returncode == 0, second.stderr
    assert "deploy: nothing to change" in second.stdout
    assert len([r for r in emu.requests if r.kind == "upload"]) == 1  # both functions, one upload, none again


def test_a_sites_file_travels_with_the_function_and_the_deployed_source_serves_every_site(emu, tmp_path):
    path = tmp_path / "homelab.toml"
    path.write_text('[sites.blog]\nimage = "img/blog:1"\nhome_url = "https://blog.example.org"\n\n'
                    '[sites.wiki]\nimage = "img/wiki:1"\nhome_url = "https://wiki.example.org"\n')
    env = {k: v for k, v in shell(emu, SWITCH_SITES_FILE=str(path)).items()
           if k not in ("SWITCH_IMAGE", "SWITCH_HOME_URL")}

    result = cli(env, "deploy", "--site", "wiki")

    assert result.returncode == 0, result.stderr
    variables = function(emu, "switch-prod")["serviceConfig"]["environmentVariables"]
    assert variables["SWITCH_SITES_FILE"] == "sites/homelab.toml"
    [zipped] = emu.uploads.values()
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    assert archive.read("sites/homelab.toml") == path.read_bytes()
    # The deployed source on its own, as Cloud Functions runs it: it finds the file and serves both sites.
    archive.extractall(tmp_path / "workspace")
    code = ("import functions_framework, json; app = functions_framework.create_app('switch', 'main.py'); "
            "print(app.test_client().get('/status?site=nowhere', headers={'Authorization': 'Bearer " + TOKEN +
            "'}).get_json()['error']['message'])")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "workspace", capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], **variables, "SWITCH_TOKEN": TOKEN}, timeout=60)
    assert run.stdout.strip().endswith("no site 'nowhere'; the sites are blog, wiki"), run.stderr

    unknown = cli(env, "deploy", "--site", "forum", "--dry-run")
    assert unknown.returncode == 2 and "no site 'forum'" in unknown.stderr


def test_a_changed_setting_patches_in_place_and_status_shows_the_functions(emu):
    cli(shell(emu), "deploy")
    emu.clear_requests()

    changed = cli(shell(emu, SWITCH_PROBE_COUNT="5"), "deploy")

    assert changed.returncode == 0, changed.stderr
    methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in emu.calls() if "/functions" in r.path
               and r.method != "GET"]
    assert methods == [("PATCH", "switch-prod"), ("PATCH", "switch-prod-pubsub")]
    env = function(emu, "switch-prod")["serviceConfig"]["environmentVariables"]
    assert env["SWITCH_PROBE_COUNT"] == "5"

    status = cli(shell(emu), "status")
    assert status.returncode == 0, status.stderr
    rows = [line for line in status.stdout.splitlines() if line.startswith("function")]
    assert len(rows) == 2 and all(" active " in row for row in rows)


def test_a_failed_build_stops_with_googles_message_and_the_previous_version_keeps_serving(emu, monkeypatch):
    from switch import cli as switch_cli
    from switch import logs, transport

    monkeypatch.setattr(logs, "_enabled", True)  # the CLI silences the function's log lines; restored after
    monkeypatch.setattr(marks, "FINGERPRINT_ROUNDS", 10)
    for key, value in shell(emu).items():
        monkeypatch.setenv(key, value)
    transport._clients.clear()
    assert switch_cli.main(["deploy"]) == 0
    before = function(emu, "switch-prod")

    def broken(root=source.ROOT, runtime=None, extra=None):
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            archive.writestr("requirements.txt", "functions-framework\n")
        return data.getvalue(), "0123456789abcdef"

    monkeypatch.setattr(source, "build", broken)
    code = switch_cli.main(["deploy"])

    assert code == 1
    after = function(emu, "switch-prod")
    assert after["state"] == "ACTIVE"
    assert after["labels"]["switch-source"] == before["labels"]["switch-source"]
    transport._clients.clear()


def test_bad_configuration_exits_2_naming_every_problem_without_a_call(emu):
    result = cli(shell(emu, SWITCH_IMAGE="", SWITCH_TOKEN="CHANGE-ME-TO-A-LONG-RANDOM-SECRET",
                       SWITCH_REGION="europe"), "deploy")

    assert result.returncode == 2
    for variable in ("SWITCH_REGION", "SWITCH_IMAGE", "SWITCH_TOKEN"):
        assert variable in result.stderr
    assert "CHANGE-ME" not in result.stderr + result.stdout
    assert emu.calls() == []


def test_our_bodies_carry_every_field_gcloud_sends_for_the_same_function(emu):
    cli(shell(emu), "deploy")
    sent = {r.query["functionId"]: r.json for r in emu.calls("POST", "/functions") if r.query.get("functionId")}

    def paths(value, prefix=""):
        if isinstance(value, dict) and value:
            return {p for key, item in value.items() for p in paths(item, f"{prefix}.{key}")}
        return {prefix}

    for fixture, ours in (("gcloud-functions-deploy-http.json", "switch-prod"),
                          ("gcloud-functions-deploy-pubsub.json", "switch-prod-pubsub")):
        gcloud = json.loads((FIXTURES / fixture).read_text())["create"]["body"]
        # What gcloud writes as a tool or leaves empty is not a field of the function's meaning.
        wanted = {p for p in paths(gcloud) if not p.startswith((".labels", ".buildConfig.environmentVariables",
                                                                ".serviceConfig.environmentVariables"))}
        missing = {p for p in wanted if p.split(".")[1] not in ("name",) and not _has(sent[ours], p)}
        assert missing == set(), f"{ours}: gcloud sends {sorted(missing)}, switch does not"


def _has(body: dict, path: str) -> bool:
    value = body
    for key in path.strip(".").split("."):
        if isinstance(value, list):
            value = value[0] if value else {}
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    at = text.index(heading)
    return re.compile(r"^```sh\s*\n(.*?)^```", re.M | re.S).search(text, at).group(1)


def test_the_readmes_offline_deploy_rehearsal_runs_as_written_and_ends_wired():
    block = readme_block("### Rehearse the deploy offline")
    port = int(re.search(r"--port (\d+)", block).group(1))
    assert _port_free(port), f"port {port} (in the README's rehearsal) is taken on this machine"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}

    result = subprocess.run(["bash", "-e", "-c", block], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^created +function +switch-prod ", out, re.M)
    assert "note: the function's URL, from the deployed switch-prod" in out
    assert "note: SWITCH_TOKEN read from Secret Manager (switch-prod-token)" in out
    assert re.search(r"^created +notification channel +switch site-replica \(webhook_tokenauth\)", out, re.M)
    assert re.search(r"^function +active +projects/switch-demo/locations/europe-west1/functions/switch-prod ",
                     out, re.M)


SERVERLESS = ROOT / "node_modules" / ".bin" / "serverless"


@pytest.mark.skipif(not SERVERLESS.exists() or not shutil.which("node"),
                    reason="needs `npm ci` (node_modules); .ci/run installs it before the tests")
def test_serverless_deploy_hands_the_deploy_to_python_and_ends_in_the_same_state(emu):
    env = {**shell(emu), "SWITCH_PYTHON": sys.executable, "SLS_TELEMETRY_DISABLED": "1",
           "SLS_NOTIFICATIONS_MODE": "off"}

    result = subprocess.run([str(SERVERLESS), "deploy", "--stage", "e2e"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "python -m switch deploy --stage e2e" in result.stdout + result.stderr
    for name in ("switch-e2e", "switch-e2e-pubsub"):
        assert function(emu, name)["state"] == "ACTIVE"
    # Never the Google plugin's way: no Deployment Manager, no 1st gen API.
    assert not [r for r in emu.requests if "deploymentmanager" in r.path or r.path.startswith("/v1/projects/")
                and "/functions" in r.path]
    again = cli(shell(emu, SWITCH_STAGE="e2e"), "deploy")
    assert "deploy: nothing to change" in again.stdout
