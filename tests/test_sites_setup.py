"""Setup, status and teardown of a sites file, through the real CLI against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from switch.cloudrun import CloudRunService, service_body
from switch.emulator import Emulator
from switch.traffic.cloudflare import CloudflareRouter
from tests.conftest import ROOT, TOKEN

PROJECT, REGION = "switch-demo", "europe-west1"
ZONE = "0123456789abcdef0123456789abcdef"
CF_TOKEN = "sites-cloudflare-token-0123456789"
FUNCTION_URL = f"https://{REGION}-{PROJECT}.cloudfunctions.net/switch-prod"
ENDPOINTS = ("RUN", "MONITORING", "SCHEDULER", "PUBSUB", "RESOURCEMANAGER", "FUNCTIONS", "SECRETMANAGER", "IAM")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def sites_file(names=("blog", "wiki", "photos")) -> str:
    return "".join(f'[sites.{n}]\nimage = "img/{n}:1"\nhome_url = "https://{n}.example.org"\n'
                   f'cloudflare_zone_id = "{ZONE}"\ncloudflare_host = "{n}.example.org"\n\n' for n in names)


@pytest.fixture
def emu():
    with Emulator(project_number="123456789012", ready_delay=0, delete_delay=0, cloudflare_token=CF_TOKEN) as e:
        yield e


@pytest.fixture
def world(emu, tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text(sites_file())
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(ROOT),
           "SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_TOKEN": TOKEN, "SWITCH_SITES_FILE": str(path),
           "SWITCH_CLOUDFLARE_TOKEN": CF_TOKEN, "SWITCH_CLOUDFLARE_ENDPOINT": emu.cloudflare_url,
           "SWITCH_RETRY_BASE_SECONDS": "0", **{f"SWITCH_{api}_ENDPOINT": emu.url for api in ENDPOINTS}}
    return emu, path, env


def cli(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "switch", *args], env=env, capture_output=True, text=True,
                          timeout=90, cwd=ROOT)


def ours(emu, collection: str) -> list[dict]:
    return [i for i in emu.state()[collection] if (i.get("userLabels") or {}).get("managed-by") == "switch"]


def site_of(item: dict) -> str | None:
    return (item.get("userLabels") or {}).get("switch-site")


def writes(emu) -> list:
    return [(r.method, r.path) for r in emu.calls() if r.method in WRITES]


def replica(env, name: str, serving: bool = False):
    """A replica of the site ``name`` as a failover leaves it (made through Cloud Run's API)."""
    from dataclasses import replace

    from switch import config

    plain = {k: v for k, v in env.items() if k not in ("SWITCH_CLOUDFLARE_TOKEN", "SWITCH_SITES_FILE")}
    settings = replace(config.from_env({**plain, "SWITCH_IMAGE": f"img/{name}:1", "SWITCH_SERVICE": f"{name}-replica"}),
                       site=name)
    run = CloudRunService.from_settings(settings)
    made = run.create(service_body(settings))
    if serving:
        run.replace(made, annotations={"switch/activated-at": "2026-12-02T10:00:00Z"})


def test_setup_makes_one_channel_and_job_for_all_and_a_check_and_policy_per_site_labelled_with_it(world):
    emu, _, env = world

    first = cli(env, "setup", "--function-url", FUNCTION_URL)

    assert first.returncode == 0, first.stderr
    assert len(ours(emu, "notificationChannels")) == 1
    assert sorted(site_of(c) for c in ours(emu, "uptimeCheckConfigs")) == ["blog", "photos", "wiki"]
    policies = ours(emu, "alertPolicies")
    assert sorted(site_of(p) for p in policies) == ["blog", "photos", "wiki"]
    assert {p["displayName"] for p in policies} == {f"switch: {n}.example.org down" for n in ("blog", "wiki", "photos")}
    [channel] = ours(emu, "notificationChannels")
    assert all(p["notificationChannels"] == [channel["name"]] for p in policies)
    [job] = emu.state()["jobs"]
    assert job["name"].endswith("/jobs/switch-reconcile-switch-prod")
    assert "setup of 3 sites: 8 created" in first.stdout

    emu.clear_requests()
    again = cli(env, "setup", "--function-url", FUNCTION_URL)

    assert again.returncode == 0 and "nothing to change (8 unchanged)" in again.stdout
    assert writes(emu) == []


def test_setup_of_one_site_touches_that_sites_check_and_policy_only(world):
    emu, _, env = world

    result = cli(env, "setup", "--site", "wiki", "--function-url", FUNCTION_URL)

    assert result.returncode == 0, result.stderr
    assert [site_of(c) for c in ours(emu, "uptimeCheckConfigs")] == ["wiki"]
    assert [site_of(p) for p in ours(emu, "alertPolicies")] == ["wiki"]


def test_an_unknown_site_is_a_usage_error_before_any_call(world):
    emu, _, env = world

    result = cli(env, "setup", "--site", "forum", "--function-url", FUNCTION_URL)

    assert result.returncode == 2 and "no site 'forum'" in result.stderr and "blog, wiki, photos" in result.stderr
    assert emu.calls() == []


def test_status_is_one_block_per_site_and_names_what_a_removed_site_left(world):
    emu, path, env = world
    assert cli(env, "setup", "--function-url", FUNCTION_URL).returncode == 0
    replica(env, "photos")
    path.write_text(sites_file(("blog", "wiki")))

    result = cli(env, "status")

    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["shared by every site", "site blog", "site wiki",
                                                  "left by removed sites"]
    assert "photos-replica" in blocks[-1] and "'photos' is not in the sites file" in blocks[-1]
    assert sum("left" in line.split() for line in blocks[-1].splitlines()[2:]) == 3  # check, policy, replica


def test_teardown_of_every_site_removes_what_a_removed_site_left_but_keeps_a_replica_with_visitors(world):
    emu, path, env = world
    assert cli(env, "setup", "--function-url", FUNCTION_URL).returncode == 0
    replica(env, "photos")
    replica(env, "wiki", serving=True)
    # photos' redirect rule, off: what a failback leaves.
    router = CloudflareRouter(token=CF_TOKEN, zone_id=ZONE, host="photos.example.org", service="photos-replica",
                              endpoint=emu.cloudflare_url)
    router.send_to("https://photos-replica.example")
    router.restore()
    path.write_text(sites_file(("blog", "wiki")))

    result = cli(env, "teardown")

    assert result.returncode == 3, result.stdout + result.stderr  # wiki's replica has visitors: kept
    assert "kept" in result.stdout and "wiki-replica" in result.stdout
    assert ours(emu, "uptimeCheckConfigs") == [] and ours(emu, "alertPolicies") == []
    assert ours(emu, "notificationChannels") == [] and emu.state()["jobs"] == []
    assert sorted(emu.services(PROJECT, REGION)) == ["wiki-replica"]
    assert router.existing_rule() is None  # the removed site's rule, found by its check's labels


def test_teardown_of_one_site_leaves_the_others_and_what_they_share(world):
    emu, _, env = world
    assert cli(env, "setup", "--function-url", FUNCTION_URL).returncode == 0
    replica(env, "blog")

    result = cli(env, "teardown", "--site", "blog")

    assert result.returncode == 0, result.stderr
    assert sorted(site_of(c) for c in ours(emu, "uptimeCheckConfigs")) == ["photos", "wiki"]
    assert sorted(site_of(p) for p in ours(emu, "alertPolicies")) == ["photos", "wiki"]
    assert len(ours(emu, "notificationChannels")) == 1 and len(emu.state()["jobs"]) == 1
    assert "blog-replica" not in emu.services(PROJECT, REGION)


def test_moving_from_one_site_keeps_its_policy_and_labels_it_with_the_site(world):
    emu, path, env = world
    single = {k: v for k, v in env.items() if k not in ("SWITCH_SITES_FILE", "SWITCH_CLOUDFLARE_TOKEN")}
    single.update(SWITCH_HOME_URL="https://blog.example.org", SWITCH_SERVICE="site-replica")
    assert cli(single, "setup", "--function-url", FUNCTION_URL, "--no-scheduler").returncode == 0
    [before] = ours(emu, "alertPolicies")
    path.write_text(sites_file(("blog",)).replace('[sites.blog]\n', '[sites.blog]\nservice = "site-replica"\n'))

    moved = cli(env, "setup", "--function-url", FUNCTION_URL, "--no-scheduler")

    assert moved.returncode == 0, moved.stderr
    [after] = ours(emu, "alertPolicies")
    assert after["name"] == before["name"] and site_of(after) == "blog"
