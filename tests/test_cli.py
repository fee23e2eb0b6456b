"""python -m switch: the CLI as a user runs it, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from switch.emulator import Emulator
from tests.conftest import BASE_ENV, ROOT


def run(*args, env=None, timeout=60):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    return subprocess.run([sys.executable, "-m", "switch", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def emulator():
    with Emulator(ready_delay=0.2, delete_delay=0.2) as emu:
        yield emu


def cloud(emulator) -> dict:
    return {**BASE_ENV, "SWITCH_RUN_ENDPOINT": emulator.url, "SWITCH_MONITORING_ENDPOINT": emulator.url,
            "SWITCH_SCHEDULER_ENDPOINT": emulator.url}


def test_help_lists_every_command():
    result = run("--help")

    assert result.returncode == 0
    for command in ("drill", "emulator", "status", "failover", "failback", "reconcile", "setup", "teardown", "deploy",
                    "bench"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["drill", "emulator", "status", "failover", "failback", "reconcile", "setup",
                                     "teardown", "deploy", "bench"])
def test_every_command_has_help(command):
    result = run(command, "--help")

    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_no_command_prints_help_and_exits_2():
    result = run()

    assert result.returncode == 2 and "commands:" in result.stdout


def test_a_configuration_error_names_the_variable_and_exits_2():
    result = run("status", env={"SWITCH_PROJECT": "switch-demo"})

    assert result.returncode == 2
    assert result.stderr.startswith("switch: configuration: SWITCH_REGION")


def test_failover_status_and_failback_against_the_emulator(emulator):
    env = cloud(emulator)

    failover = run("failover", "--json", env=env)
    status = run("status", "--json", env=env)
    failback = run("failback", "--force", env=env)

    assert failover.returncode == 0, failover.stderr
    assert json.loads(failover.stdout)["state"] == "active"
    assert json.loads(status.stdout)["replica"]["pinned"] is True
    assert failback.returncode == 0 and failback.stdout.startswith("failback: state standby, changed")
    assert "delete" in failback.stdout
    assert "site-replica" not in emulator.services("switch-demo", "europe-west1")


def test_a_foreign_service_makes_the_cli_exit_1_and_stays(emulator):
    import requests

    body = {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "someone-elses", "namespace": "switch-demo"},
            "spec": {"template": {"spec": {"containers": [{"image": "gcr.io/x/y"}]}}}}
    requests.post(f"{emulator.url}v1/projects/switch-demo/locations/europe-west1/services", json=body, timeout=5)

    result = run("failback", "--force", env={**cloud(emulator), "SWITCH_SERVICE": "someone-elses"})

    assert result.returncode == 1 and "not created by switch" in result.stderr
    assert "someone-elses" in emulator.services("switch-demo", "europe-west1")


def test_the_drill_passes_and_says_so_even_with_no_ready_delay():
    result = run("drill", "--ready-delay", "0", timeout=90)

    assert result.returncode == 0, result.stdout[-2000:]
    assert "verdict: PASS" in result.stdout
    assert "✗" not in result.stdout


def test_the_standby_drill_fails_over_without_a_create_and_keeps_the_standby():
    result = run("drill", "--standby", "--ready-delay", "0.2", timeout=90)

    assert result.returncode == 0, result.stdout[-2000:]
    assert "reconcile created the warm standby" in result.stdout
    assert "no create and no IAM write" in result.stdout
    assert "the warm standby is still there" in result.stdout
    assert "verdict: PASS" in result.stdout and "✗" not in result.stdout


def test_the_sites_drill_fails_one_site_over_and_back_while_the_others_stay_home():
    result = run("drill", "--sites", "3", "--ready-delay", "0.2", timeout=90)

    assert result.returncode == 0, result.stdout[-2000:]
    assert "blog failed over" in result.stdout and "blog failed back" in result.stdout
    assert "wiki, photos still at home, no replica, no redirect" in result.stdout
    assert "one reconcile of all 3 sites: nothing to do" in result.stdout
    assert "verdict: PASS" in result.stdout and "✗" not in result.stdout


@pytest.mark.parametrize("args", [("--sites", "1"), ("--sites", "3", "--live"), ("--sites", "3", "--standby"),
                                  ("--site", "blog")])
def test_the_sites_drill_refuses_what_it_cannot_rehearse(args):
    result = run("drill", *args)

    assert result.returncode == 2 and ("--sites" in result.stderr or "--site" in result.stderr)


def test_the_standby_drill_is_local_only():
    result = run("drill", "--live", "--standby")

    assert result.returncode == 2 and "--standby" in result.stderr


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_the_drill_refuses_a_ready_delay_that_is_not_a_time(value):
    result = run("drill", "--ready-delay", value)

    assert result.returncode == 2 and "--ready-delay" in result.stderr


def test_a_refused_failback_exits_3_so_scripts_can_tell(emulator):
    env = {**cloud(emulator), "SWITCH_HOME_URL": "http://127.0.0.1:9", "SWITCH_PROBE_COUNT": "1"}  # home is dark
    assert run("failover", env=env).returncode == 0

    refused = run("failback", env=env)

    assert refused.returncode == 3 and "not healthy" in refused.stdout
    assert run("failback", "--force", env=env).returncode == 0
    assert "exit codes:" in run("failback", "--help").stdout


def test_status_attributes_a_cloudflare_error_to_the_redirect_and_exits_1(emulator):
    env = {**cloud(emulator), "SWITCH_CLOUDFLARE_ENDPOINT": emulator.cloudflare_url,
           "SWITCH_CLOUDFLARE_TOKEN": "a-wrong-cloudflare-token", "SWITCH_CLOUDFLARE_ZONE_ID": "0" * 32,
           "SWITCH_CLOUDFLARE_HOST": "www.example.org", "SWITCH_API_RETRIES": "0"}
    emulator.cloudflare.token = "the-right-cloudflare-token"
    try:
        table = run("status", env=env)
        as_json = run("status", "--json", env=env)
    finally:
        emulator.cloudflare.token = None

    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:] if line.split()}
    assert table.returncode == 1
    assert rows["redirect"].split()[1] == "error" and "token is invalid" in rows["redirect"]
    assert rows["replica"].split()[1] in ("none", "ready")  # the replica is not blamed
    assert as_json.returncode == 0 and "error" in json.loads(as_json.stdout)["traffic"]


def test_status_json_prints_json_even_when_the_replica_cannot_be_read(emulator):
    result = run("status", "--json", env={**cloud(emulator), "SWITCH_RUN_ENDPOINT": "http://127.0.0.1:9/",
                                          "SWITCH_API_RETRIES": "0"})

    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "upstream"


def test_without_google_credentials_the_cli_says_what_to_run_without_a_traceback(tmp_path):
    env = {**BASE_ENV, "CLOUDSDK_CONFIG": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": "",
           "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}

    result = run("failover", env=env)

    assert result.returncode == 2
    assert "gcloud auth application-default login" in result.stderr and "Traceback" not in result.stderr


def test_setup_and_teardown_do_not_ask_for_an_image_or_a_region(emulator):
    env = {k: v for k, v in cloud(emulator).items() if k not in ("SWITCH_IMAGE", "SWITCH_REGION")}

    result = run("teardown", env=env)

    assert result.returncode == 0, result.stderr
    assert "teardown:" in result.stdout


def test_the_live_drill_makes_a_throwaway_replica_checks_it_and_deletes_it(emulator):
    # --live talks to whatever SWITCH_RUN_ENDPOINT names; here the emulator stands in for the project.
    emulator.clear_requests()

    result = run("drill", "--live", env=cloud(emulator), timeout=90)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "site-replica-drill" in result.stdout and "verdict: PASS" in result.stdout
    created = [r for r in emulator.calls("POST") if r.path.endswith("/services")]
    assert created and created[-1].json["metadata"]["name"] == "site-replica-drill"
    assert emulator.calls("DELETE", "/services/site-replica-drill")
    touched = {r.path.rsplit("/services/", 1)[-1].split(":")[0] for r in emulator.calls() if "/services/" in r.path}
    assert touched == {"site-replica-drill"}  # the real replica's name is never touched
    assert "site-replica-drill" not in emulator.services("switch-demo", "europe-west1")
