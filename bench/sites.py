"""Several sites in one function: what a reconcile of every site costs, for 1, 5 and 20 sites.

In process (the functions-framework app, as ``cost.InProcess``), against the
emulator, with a sites file of N sites that all have a Cloudflare redirect
and an alert policy: a reconcile with nothing to do (no alert open, no
replica), on a warm instance, timed and counted per site. Also, with the
largest N, the duplicate-alert path of one site: it must stay one Google call
however many sites there are.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from . import common
from .common import BEARER, cloudflare_calls, google_calls, median, quiet

COUNTS = (1, 5, 20)


def sites_toml(count: int) -> str:
    text = "[defaults]\nprobe_count = 1\n"
    for i in range(count):
        name = f"site{i:02d}"
        text += (f'\n[sites.{name}]\nimage = "{common.REGION}-docker.pkg.dev/{common.PROJECT}/site/{name}:1"\n'
                 f'home_url = "http://127.0.0.1:9/{name}"\nalert_policy = "switch: {name} down"\n'
                 f'cloudflare_zone_id = "{common.ZONE}"\ncloudflare_host = "{name}.example.org"\n')
    return text


def _env(emulator, path: Path) -> dict:
    return {"SWITCH_PROJECT": common.PROJECT, "SWITCH_REGION": common.REGION, "SWITCH_TOKEN": common.TOKEN,
            "SWITCH_SITES_FILE": str(path), "SWITCH_RUN_ENDPOINT": emulator.url,
            "SWITCH_MONITORING_ENDPOINT": emulator.url, "SWITCH_CLOUDFLARE_ENDPOINT": emulator.cloudflare_url,
            "SWITCH_CLOUDFLARE_TOKEN": common.CF_TOKEN}


def measure(emulator, repeat: int, progress=None) -> dict:
    import functions_framework

    from switch import controllers

    rows = {}
    with tempfile.TemporaryDirectory(prefix="switch-bench-") as folder:
        for count in COUNTS:
            path = Path(folder) / f"sites-{count}.toml"
            path.write_text(sites_toml(count))
            with common.environ(_env(emulator, path)), quiet():
                controllers.reset()
                client = functions_framework.create_app("switch", str(common.ROOT / "main.py")).test_client()
                client.post("/reconcile", json={}, headers=BEARER)  # a warm instance: clients and sessions built
                times, calls = [], []
                for _ in range(max(repeat, 3)):
                    emulator.clear_requests()
                    began = time.perf_counter()
                    answer = client.post("/reconcile", json={}, headers=BEARER)
                    times.append(time.perf_counter() - began)
                    calls = emulator.calls()
                    if answer.status_code != 200 or answer.get_json()["changed"]:
                        raise RuntimeError(f"reconcile of {count} sites: {answer.status_code} "
                                           f"{answer.get_data(as_text=True)[:300]}")
                row = {"sites": count, "reconcile_s": round(median(times), 3),
                       "google": len(google_calls(calls)), "cloudflare": len(cloudflare_calls(calls))}
                row["google_per_site"] = round(row["google"] / count, 2)
                row["cloudflare_per_site"] = round(row["cloudflare"] / count, 2)
                if count == COUNTS[-1]:
                    row["duplicate_open_google"] = _duplicate(client, emulator)
                rows[count] = row
            if progress:
                progress(f"  {count} site(s): reconcile {row['reconcile_s'] * 1000:.0f} ms, {row['google']} Google "
                         f"+ {row['cloudflare']} Cloudflare calls")
    controllers.reset()
    return {"rows": list(rows.values()), "idle": "no alert open, no replica; every site has a redirect"}


def _duplicate(client, emulator) -> int:
    """One site's open notification twice: the second's Google calls."""
    now = int(time.time())
    body = common.notification("open", "0.bench-sites", now - 60, None)
    body["incident"]["policy_user_labels"] = {"managed-by": "switch", "switch-site": "site00"}
    client.post("/", json=body, headers=BEARER)
    emulator.clear_requests()
    client.post("/", json=body, headers=BEARER)
    google = len(google_calls(emulator.calls()))
    client.post("/failback", json={"site": "site00", "force": True}, headers=BEARER)
    return google
