"""python -m switch drill --sites N: several sites, one function, one of them in trouble.

The emulator, one stand-in home per site and the function (functions-framework,
its own process) with a sites file of N sites, each with its own hostname,
replica and redirect rule in one Cloudflare zone. The first site's home goes
dark and its alert fires: that site fails over while every other site stays
home, untouched; a notification of no site changes nothing; the first site's
home comes back and its alert closes: it fails back; one reconcile of every
site then finds nothing to do.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import requests

from .drill import CF_TOKEN, PROJECT, REGION, TOKEN, ZONE, Function, Timeline, notification, steps_of

NAMES = ("blog", "wiki", "photos", "shop", "forum", "docs", "music", "notes", "chat", "maps")
MAX_SITES = len(NAMES)


def host(name: str) -> str:
    return f"{name}.example.org"


def visit(emulator, name: str, path: str = "/") -> tuple[int, str | None]:
    answer = requests.get(f"{emulator.url}_edge/{host(name)}{path}", allow_redirects=False, timeout=5)
    return answer.status_code, answer.headers.get("Location")


def sites_file(names, homes) -> str:
    text = ('[defaults]\nprobe_count = 3\nprobe_interval_seconds = 0.2\nmin_active_seconds = 0\n'
            'poll_interval_seconds = 0.5\nready_timeout_seconds = 60\n')
    for name in names:
        text += (f'\n[sites.{name}]\nimage = "{REGION}-docker.pkg.dev/{PROJECT}/site/{name}:latest"\n'
                 f'home_url = "{homes[name].url}"\nalert_policy = "switch: {name} down"\n'
                 f'cloudflare_zone_id = "{ZONE}"\ncloudflare_host = "{host(name)}"\n')
    return text


def alert(state: str, name: str | None, incident: str, started_at: int) -> dict:
    body = notification(state, incident, started_at, int(time.time()) if state == "closed" else None)
    body["incident"]["policy_user_labels"] = {"managed-by": "switch", "switch-site": name} if name else {}
    body["incident"]["policy_name"] = f"switch: {name} down" if name else "CPU above 90 % on the NAS"
    return body


def run_sites(args, out=None) -> int:
    from .emulator import Emulator, HomeSite
    from .traffic.cloudflare import rule_ref

    count = args.sites
    names = NAMES[:count]
    t = Timeline(out)
    print(f"switch drill --sites {count}: one function, {count} sites ({', '.join(names)}); {names[0]} loses "
          f"power, the others must not notice", file=t.out)
    emulator = Emulator(ready_delay=args.ready_delay, delete_delay=1.0, cloudflare_token=CF_TOKEN).start()
    homes = {name: HomeSite().start() for name in names}
    for name in names:
        emulator.set_origin(host(name), homes[name].url)
    folder = tempfile.TemporaryDirectory(prefix="switch-drill-")
    path = Path(folder.name) / "sites.toml"
    path.write_text(sites_file(names, homes))
    function = Function({
        "SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_TOKEN": TOKEN, "SWITCH_SITES_FILE": str(path),
        "SWITCH_RUN_ENDPOINT": emulator.url, "SWITCH_MONITORING_ENDPOINT": emulator.url,
        "SWITCH_CLOUDFLARE_ENDPOINT": emulator.cloudflare_url, "SWITCH_CLOUDFLARE_TOKEN": CF_TOKEN,
    })
    first, others = names[0], names[1:]

    def replicas() -> dict:
        return emulator.services(PROJECT, REGION)

    def redirect_on(name: str) -> bool:
        rules = [r for r in emulator.redirect_rules(ZONE) if r.get("ref") == rule_ref(f"{name}-replica", host(name))]
        return bool(rules and rules[0].get("enabled", True))

    def calm(text: str, untouched: bool = False) -> None:
        quiet = [n for n in others if f"{n}-replica" not in replicas() and not redirect_on(n)
                 and visit(emulator, n)[0] == 200
                 and not (untouched and emulator.calls(contains=f"/services/{n}-replica"))]
        t.check(quiet == list(others), f"{text}: {', '.join(others)} still at home, no replica, no redirect",
                f"{text}: {', '.join(n for n in others if n not in quiet)} was disturbed")

    try:
        t.ok(f"emulator on {emulator.url}; {count} homes; sites file {path}")
        started_in = function.start()
        t.ok(f"function served by functions-framework on {function.url} (answered after {started_in:.2f} s)")
        t.check(all(visit(emulator, n)[0] == 200 for n in names), "every site's visitors reach its home")

        homes[first].go_down()
        emulator.clear_requests()  # from here on, no call may name another site's replica
        t.event(f"power cut at {first}'s home only")
        started_at = int(time.time())
        incident = f"0.drill-{first}-{started_at}"
        t.event(f"{first}'s uptime check fails, its alert fires: POST / (labelled switch-site={first})")
        sent = time.monotonic()
        with t.waiting(lambda: f"{first}: {'creating' if f'{first}-replica' not in replicas() else 'starting'} "
                               "its replica"):
            answer = function.call("POST", "/", alert("open", first, incident, started_at))
        failover_s = time.monotonic() - sent
        body = answer.json() if answer.status_code == 200 else {}
        t.check(body.get("site") == first and body.get("action") == "failover",
                f"{first} failed over in {failover_s:.2f} s ({', '.join(steps_of(answer))})",
                f"{first} did not fail over: {answer.status_code} {answer.text[:300]}")
        status, location = visit(emulator, first, "/about")
        t.check(status == 302 and bool(location) and f"{first}-replica" in location,
                f"a visitor to https://{host(first)}/about gets 302 → {location}")
        calm("after the failover (not one API call named them)", untouched=True)

        answer = function.call("POST", "/", alert("open", None, "0.drill-nas", started_at))
        t.check(answer.status_code == 200 and answer.json().get("action") == "none",
                "a notification of no site (a NAS's CPU alert) is acknowledged and changes nothing")
        state = function.call("GET", "/status").json()
        t.check(state.get("active") == [first], f"GET /status lists {count} sites; only {first} is active")

        homes[first].come_back()
        t.event(f"{first}'s power is back; its alert closes: POST / (incident {incident} closed)")
        sent = time.monotonic()
        answer = function.call("POST", "/", alert("closed", first, incident, started_at))
        failback_s = time.monotonic() - sent
        t.check(answer.status_code == 200 and answer.json().get("action") == "failback",
                f"{first} failed back in {failback_s:.2f} s",
                f"{first} did not fail back: {answer.status_code} {answer.text[:300]}")
        t.check(f"{first}-replica" not in replicas() and not redirect_on(first) and visit(emulator, first)[0] == 200,
                f"{first}'s visitors are home again; its replica is gone")
        calm("after the failback")

        sent = time.monotonic()
        answer = function.call("POST", "/reconcile", {})
        body = answer.json()
        t.check(answer.status_code == 200 and not body.get("changed") and not body.get("failed"),
                f"one reconcile of all {count} sites: nothing to do ({time.monotonic() - sent:.2f} s)")
    finally:
        function.stop()
        for home in homes.values():
            home.stop()
        emulator.stop()
        folder.cleanup()
    print(file=t.out)
    if t.failures:
        print(f"verdict: FAIL — {len(t.failures)} step(s) did not happen: {'; '.join(t.failures)}", file=t.out)
        for line in getattr(function, "log", [])[-15:]:
            print("  " + line.rstrip(), file=t.out)
        return 1
    print(f"verdict: PASS — {first} failed over and back, {', '.join(others)} untouched", file=t.out)
    return 0
