"""Several sites, one switch: the sites file, routing, and each site on its own.

Three sites (blog, wiki, photos), each with its own home, replica and
redirect rule in one Cloudflare zone, served by one functions-framework app
against the emulator over real sockets.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from switch.drill import notification as drill_notification
from switch.emulator import Emulator, HomeSite
from switch.traffic.cloudflare import rule_ref
from tests.conftest import BEARER, ROOT, TOKEN

PROJECT, REGION = "switch-demo", "europe-west1"
ZONE = "0123456789abcdef0123456789abcdef"
CF_TOKEN = "sites-cloudflare-token-0123456789"
NAMES = ("blog", "wiki", "photos")
PER_SITE_VARS = ("SWITCH_IMAGE", "SWITCH_SERVICE", "SWITCH_MIN_ACTIVE_SECONDS", "SWITCH_PROBE_INTERVAL_SECONDS",
                 "SWITCH_POLL_INTERVAL_SECONDS")


def host(name: str) -> str:
    return f"{name}.example.org"


def sites_toml(homes: dict, **extra: str) -> str:
    text = ('[defaults]\nprobe_count = 1\nprobe_timeout_seconds = 1\npoll_interval_seconds = 0.05\n'
            'ready_timeout_seconds = 10\n')
    for name in NAMES:
        text += (f'\n[sites.{name}]\nimage = "europe-west1-docker.pkg.dev/{PROJECT}/site/{name}:1"\n'
                 f'home_url = "{homes[name].url}"\nalert_policy = "switch: {name} down"\n'
                 f'cloudflare_zone_id = "{ZONE}"\ncloudflare_host = "{host(name)}"\n{extra.get(name, "")}')
    return text


@pytest.fixture(scope="module")
def world():
    emulator = Emulator(ready_delay=0, delete_delay=0, cloudflare_token=CF_TOKEN).start()
    homes = {name: HomeSite().start() for name in NAMES}
    yield emulator, homes
    for home in homes.values():
        home.stop()
    emulator.stop()


class Three:
    def __init__(self, client, emulator, homes, path):
        self.client, self.emulator, self.homes, self.path = client, emulator, homes, path

    def replica(self, name: str) -> dict | None:
        return self.emulator.services(PROJECT, REGION).get(f"{name}-replica")

    def serving(self, name: str) -> bool:
        found = self.replica(name)
        return bool(found and found["metadata"]["annotations"].get("switch/activated-at"))

    def redirect(self, name: str) -> bool:
        rules = [r for r in self.emulator.redirect_rules(ZONE) if r.get("ref") == rule_ref(f"{name}-replica", host(name))]
        return bool(rules and rules[0].get("enabled", True))

    def untouched(self, name: str) -> bool:
        """No call ever named this site's replica, and it has neither replica nor redirect."""
        touched = [r for r in self.emulator.calls() if f"/services/{name}-replica" in r.path]
        return not touched and self.replica(name) is None and not self.redirect(name)

    def notify(self, state: str, *, site: str | None = None, policy: str | None = None, incident: str = "0.sites"):
        now = int(time.time())
        body = drill_notification(state, incident, now - 120, now - 1 if state == "closed" else None)
        body["incident"]["policy_user_labels"] = {"managed-by": "switch", "switch-site": site} if site else {}
        body["incident"]["policy_name"] = policy or "someone else's policy"
        return self.client.post("/", json=body, headers=BEARER)

    def command(self, path: str, body: dict | None = None):
        return self.client.post(path, json={} if body is None else body, headers=BEARER)

    def age(self, name: str, seconds: float = 600) -> None:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
        self.emulator.annotate(PROJECT, REGION, f"{name}-replica", {"switch/activated-at": at})


@pytest.fixture
def three(world, env, tmp_path, monkeypatch):
    import functions_framework

    from switch import controllers, transport

    emulator, homes = world
    with emulator._lock:
        emulator.run.stored.clear()
        emulator.run.deleting.clear()
        emulator.cloudflare.rulesets.clear()
        emulator.faults.clear()
    emulator.clear_requests()
    for home in homes.values():
        home.come_back()
    path = tmp_path / "sites.toml"
    path.write_text(sites_toml(homes))
    for name in PER_SITE_VARS:
        monkeypatch.delenv(name, raising=False)
    env(SITES_FILE=str(path), RUN_ENDPOINT=emulator.url, MONITORING_ENDPOINT=emulator.url,
        CLOUDFLARE_ENDPOINT=emulator.cloudflare_url, CLOUDFLARE_TOKEN=CF_TOKEN, RETRY_BASE_SECONDS="0.01",
        API_RETRIES="1")
    controllers.reset()
    transport._clients.clear()
    client = functions_framework.create_app("switch", str(ROOT / "main.py")).test_client()
    yield Three(client, emulator, homes, path)
    controllers.reset()


# -- one site fails over and back; the others never notice ------------------------------------


def test_one_site_fails_over_and_back_while_the_others_stay_untouched(three):
    three.homes["blog"].go_down()

    opened = three.notify("open", site="blog")

    body = opened.get_json()
    assert opened.status_code == 200 and body["action"] == "failover" and body["site"] == "blog", body
    assert three.serving("blog") and three.redirect("blog")
    assert three.untouched("wiki") and three.untouched("photos")
    visit = requests.get(f"{three.emulator.url}_edge/{host('blog')}/post", allow_redirects=False, timeout=5)
    assert visit.status_code == 302 and "blog-replica" in visit.headers["Location"]

    three.homes["blog"].come_back()
    three.age("blog")
    closed = three.notify("closed", site="blog")

    assert closed.get_json()["action"] == "failback"
    assert three.replica("blog") is None and not three.redirect("blog")
    assert three.untouched("wiki") and three.untouched("photos")


def test_a_notification_is_routed_by_its_alert_policy_name_without_the_label(three):
    three.homes["wiki"].go_down()

    answer = three.notify("open", policy="switch: wiki down")

    assert answer.get_json()["site"] == "wiki" and three.serving("wiki")
    assert three.untouched("blog") and three.untouched("photos")


def test_a_notification_of_no_site_is_acknowledged_and_changes_nothing(three, capsys):
    answer = three.notify("open", policy="CPU above 90 %")

    assert answer.status_code == 200
    assert answer.get_json()["action"] == "none" and "belongs to no site" in answer.get_json()["reason"]
    assert three.emulator.calls() == []
    assert "belongs to no site" in capsys.readouterr().out


def test_a_label_naming_a_site_not_in_the_file_is_no_site(three):
    answer = three.notify("open", site="forum")

    assert answer.get_json()["action"] == "none" and "'forum'" in answer.get_json()["reason"]
    assert three.emulator.calls() == []


def test_a_pubsub_notification_is_routed_the_same_way(three):
    import functions_framework

    three.homes["photos"].go_down()
    now = int(time.time())
    payload = drill_notification("open", "0.pubsub", now - 60, None)
    payload["incident"]["policy_user_labels"] = {"managed-by": "switch", "switch-site": "photos"}
    pubsub = functions_framework.create_app("switch_pubsub", str(ROOT / "main.py")).test_client()
    message = {"message": {"data": base64.b64encode(json.dumps(payload).encode()).decode(), "messageId": "1"},
               "subscription": "projects/switch-demo/subscriptions/s"}
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
               "ce-source": "//pubsub.googleapis.com/projects/switch-demo/topics/switch-alerts",
               "Content-Type": "application/json"}

    answer = pubsub.post("/", data=json.dumps(message), headers=headers)

    assert answer.status_code == 200
    assert three.serving("photos") and three.untouched("blog") and three.untouched("wiki")


# -- commands name their site ----------------------------------------------------------------


def test_failover_and_failback_need_a_site_when_there_are_several(three):
    answer = three.command("/failover")

    assert answer.status_code == 400
    assert "blog, wiki, photos" in answer.get_json()["error"]["message"]
    assert three.emulator.calls() == []

    assert three.command("/failover", {"site": "photos"}).get_json()["site"] == "photos"
    assert three.serving("photos") and three.untouched("blog") and three.untouched("wiki")
    assert three.command("/failback", {"site": "photos"}).get_json()["action"] == "failback"
    assert three.replica("photos") is None


def test_an_unknown_site_is_a_clear_error_and_no_call(three):
    answer = three.command("/failover", {"site": "forum"})

    assert answer.status_code == 400 and "no site 'forum'" in answer.get_json()["error"]["message"]
    assert three.emulator.calls() == []


def test_status_lists_every_site_and_one_on_request(three):
    three.command("/failover", {"site": "wiki"})

    every = three.client.get("/status", headers=BEARER).get_json()
    one = three.client.get("/status?site=wiki", headers=BEARER).get_json()

    assert list(every["sites"]) == list(NAMES) and every["active"] == ["wiki"]
    assert every["sites"]["blog"]["state"] == "standby" and every["sites"]["wiki"]["state"] == "active"
    assert one["site"] == "wiki" and one["state"] == "active"


def test_reconcile_answers_per_site_and_one_sites_failure_blocks_no_other(three):
    # The blog's image fails to start (the emulator fails any image named "fail").
    three.path.write_text(three.path.read_text().replace("site/blog:1", "site/blog-fail:1"))
    for name in ("blog", "wiki"):
        three.homes[name].go_down()
        three.emulator.open_alert(f"switch: {name} down", PROJECT)
    try:
        answer = three.command("/reconcile")
    finally:
        for name in ("blog", "wiki"):
            while three.emulator.close_alert(f"switch: {name} down"):
                pass

    body = answer.get_json()
    assert answer.status_code == 502
    assert body["failed"] == ["blog"] and body["sites"]["blog"]["error"]["code"] == "replica_failed"
    assert not three.redirect("blog")
    assert body["active"] == ["wiki"] and three.serving("wiki") and three.redirect("wiki")
    assert body["sites"]["photos"]["state"] == "standby"
    assert three.replica("photos") is None and not three.redirect("photos")


def test_one_reconcile_of_every_site_with_nothing_to_do_costs_two_google_calls_a_site(three):
    answer = three.command("/reconcile")

    assert answer.status_code == 200 and answer.get_json()["changed"] is False
    google = [r for r in three.emulator.calls() if "client/v4" not in r.path]
    # Per site: GET its replica, and list its open alerts.
    assert sorted((r.method, r.path.rsplit("/", 1)[-1]) for r in google) == sorted(
        [("GET", f"{name}-replica") for name in NAMES] + [("GET", "alerts")] * 3)


def test_a_duplicate_alert_of_a_site_costs_one_google_call(three):
    three.homes["blog"].go_down()
    three.notify("open", site="blog")
    three.emulator.clear_requests()

    answer = three.notify("open", site="blog")

    assert answer.get_json()["action"] == "none"
    google = [r for r in three.emulator.calls() if "client/v4" not in r.path]
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in google] == [("GET", "blog-replica")]


def test_reconcile_starts_no_site_it_could_not_finish_in_time(three):
    from switch import fleet, sites

    every = sites.load().chosen(None)
    clock = iter([0.0, 0.0, 470.0, 470.0]).__next__  # the deadline, then a first site, then it is late

    answer, ok = fleet.reconcile(every[:2], budget=480.0, clock=clock)

    assert not ok is False  # nothing failed: a site not reached is not a failure
    assert "skipped" in answer["sites"]["wiki"] and "the next reconcile goes on" in answer["sites"]["wiki"]["skipped"]


# -- the file --------------------------------------------------------------------------------


def run_cli(env_extra: dict, *args: str):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env.update({"SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_TOKEN": TOKEN, **env_extra})
    return subprocess.run([sys.executable, "-m", "switch", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_bad_sites_file_names_the_file_site_and_key_of_every_problem_at_once(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text('[defaults]\ncolour = "red"\n\n[sites.blog]\nhome_url = "https://blog.example.org"\n'
                    'port = "eighty"\n\n[sites.wiki]\nimage = "img/wiki:1"\nhome_url = "https://wiki.example.org"\n'
                    'token = "0123456789abcdefghij"\n\n[sites.Photos]\nimage = "img/photos:1"\n\n'
                    '[sites.forum]\nimage = "img/forum:1"\nhome_url = "https://wiki.example.org"\n')

    result = run_cli({"SWITCH_SITES_FILE": str(path)}, "reconcile")

    assert result.returncode == 2 and result.stdout == ""
    message = result.stderr
    for expected in (f"{path} [defaults] colour: is not a setting",
                     f"{path} [sites.blog] image: is not set",
                     f"{path} [sites.blog] port: 'eighty' is not a whole number",
                     f"{path} [sites.wiki] token: is global, not per site: set SWITCH_TOKEN",
                     f"{path} [sites.Photos]: is not a site name",
                     f"{path} [sites.forum] alert_policy: 'switch: wiki.example.org down' is also site 'wiki'"):
        assert expected in message, expected


def test_invalid_toml_and_a_missing_file_are_named(tmp_path):
    broken = tmp_path / "sites.toml"
    broken.write_text("[sites.blog\nimage = 1\n")

    assert "not valid TOML" in run_cli({"SWITCH_SITES_FILE": str(broken)}, "status", "--json").stdout
    missing = run_cli({"SWITCH_SITES_FILE": "nowhere.toml"}, "status", "--json")
    assert missing.returncode == 2 and "'nowhere.toml': no such file" in missing.stdout


def test_a_per_site_variable_next_to_a_sites_file_says_where_it_belongs(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text('[sites.blog]\nimage = "img/blog:1"\n')

    result = run_cli({"SWITCH_SITES_FILE": str(path), "SWITCH_IMAGE": "img/www:1"}, "status", "--json")

    assert result.returncode == 2
    assert "SWITCH_IMAGE: is set, but SWITCH_SITES_FILE describes the sites" in result.stdout


def test_the_function_with_a_bad_sites_file_answers_500_names_nothing_and_logs_the_key(three, capsys):
    three.path.write_text(three.path.read_text().replace('probe_count = 1', 'probe_count = "many"'))

    answer = three.client.get("/status", headers=BEARER)

    assert answer.status_code == 500 and "sites.toml" not in answer.get_data(as_text=True)
    assert f"{three.path} [defaults] probe_count" in capsys.readouterr().out
    assert three.emulator.calls() == []


def test_defaults_apply_to_every_site_and_a_site_overrides_them(tmp_path):
    from switch import sites

    path = tmp_path / "sites.toml"
    path.write_text('[defaults]\nmemory = "256Mi"\nstandby = true\n\n[sites.blog]\nimage = "img/blog:1"\n\n'
                    '[sites.wiki]\nimage = "img/wiki:1"\nmemory = "1Gi"\nservice = "wiki-cloud"\n'
                    'container_env = { LOG_LEVEL = "info" }\n')

    found = sites.from_file(str(path), {"SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_TOKEN": TOKEN})

    blog, wiki = found.by_name["blog"], found.by_name["wiki"]
    assert (blog.memory, blog.standby, blog.service, blog.site) == ("256Mi", True, "blog-replica", "blog")
    assert (wiki.memory, wiki.service, dict(wiki.container_env)) == ("1Gi", "wiki-cloud", {"LOG_LEVEL": "info"})
