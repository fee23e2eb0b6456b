"""Load: 50 requests of every kind at once, twice, against the function served
by functions-framework (gunicorn, its own process) and the emulator, with a
few random API faults mixed in. Every answer is one the function documents;
afterwards the last decisive event decides the state: exactly one ready,
public replica with visitors sent to it, or none and no redirect.

Round one, home dark and the alert open: opens, closes (refused: home is
down), status, reconcile, manual failovers and failbacks, strangers and bad
bodies; then one more open. Round two, home back and the alert closed: the
same mix with forced failbacks instead of manual failovers; then one close.
Everything the process wrote meanwhile is JSON lines without a secret.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from switch.drill import Function, notification
from tests import reliability
from tests.reliability import CF_TOKEN, HOST, POLICY, PROJECT, REGION, SERVICE, ZONE

TOKEN = "load-token-0123456789abcdef"
ALLOWED = {200, 400, 401, 502}
FAULT_RATE = 0.05


@pytest.fixture(scope="module")
def world():
    emulator, home, chaos = reliability.start_world(ready_delay=0.05)
    function = Function({
        "SWITCH_PROJECT": PROJECT, "SWITCH_REGION": REGION, "SWITCH_SERVICE": SERVICE,
        "SWITCH_IMAGE": "europe-west1-docker.pkg.dev/switch-demo/site/www:1", "SWITCH_TOKEN": TOKEN,
        "SWITCH_RUN_ENDPOINT": emulator.url, "SWITCH_MONITORING_ENDPOINT": emulator.url,
        "SWITCH_CLOUDFLARE_ENDPOINT": emulator.cloudflare_url, "SWITCH_CLOUDFLARE_TOKEN": CF_TOKEN,
        "SWITCH_CLOUDFLARE_ZONE_ID": ZONE, "SWITCH_CLOUDFLARE_HOST": HOST, "SWITCH_ALERT_POLICY": POLICY,
        "SWITCH_HOME_URL": home.url, "SWITCH_PROBE_COUNT": "1", "SWITCH_PROBE_INTERVAL_SECONDS": "0",
        "SWITCH_MIN_ACTIVE_SECONDS": "0", "SWITCH_POLL_INTERVAL_SECONDS": "0.05", "SWITCH_API_RETRIES": "3",
        "SWITCH_RETRY_BASE_SECONDS": "0.01", "SWITCH_READY_TIMEOUT_SECONDS": "20",
    })
    function.start()
    reliability.reset(emulator)
    yield emulator, home, function
    function.stop()
    reliability.stop_world(emulator, home, chaos)


def call(function: Function, kind: str, n: int) -> requests.Response:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    now = int(time.time())
    if kind in ("open", "closed"):
        body = notification(kind, f"0.load{n % 3}", now - 300, now - 1 if kind == "closed" else None)
        return requests.post(f"{function.url}/", json=body, headers=bearer, timeout=60)
    if kind == "status":
        return requests.get(f"{function.url}/status", headers=bearer, timeout=60)
    if kind == "stranger":
        return requests.post(f"{function.url}/failback", json={"force": True}, timeout=60,
                             headers={"Authorization": f"Bearer {TOKEN[:-1]}"})
    if kind == "bad body":
        return requests.post(f"{function.url}/", data=b'{"incident": {"incident_id": NaN}}', headers=bearer,
                             timeout=60)
    path, body = {"reconcile": ("/reconcile", {}), "failover": ("/failover", {}),
                  "failback": ("/failback", {}), "forced failback": ("/failback", {"force": True})}[kind]
    return requests.post(f"{function.url}{path}", json=body, headers=bearer, timeout=60)


def burst(function: Function, mix: dict[str, int], seed: int) -> Counter:
    kinds = [kind for kind, n in mix.items() for _ in range(n)]
    assert len(kinds) == 50
    random.Random(seed).shuffle(kinds)
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda item: (item[1], call(function, item[1], item[0])), enumerate(kinds)))
    statuses = Counter()
    for kind, answer in answers:
        statuses[answer.status_code] += 1
        reliability.count("load")
        assert answer.status_code in ALLOWED, (kind, answer.status_code, answer.text[:300])
        assert answer.headers["Content-Type"] == "application/json"
        if kind == "stranger":
            assert answer.status_code == 401
        elif kind == "bad body":
            assert answer.status_code == 400
        elif answer.status_code == 502:
            assert answer.json()["error"]["code"] in ("upstream", "replica_failed", "replica_timeout")
    return statuses


def only_json_lines_without_secrets(function: Function) -> None:
    """What Cloud Logging reads from the process (stdout and stderr): JSON lines, no secret."""
    output = list(function.log)
    assert len(output) >= 50  # one line per request at least
    for raw in output:
        line = json.loads(raw)
        assert line["severity"] in ("INFO", "WARNING", "ERROR") and line["message"], raw
        assert TOKEN not in raw and CF_TOKEN not in raw


def faults_fired(emulator) -> int:
    return len([r for r in emulator.calls() if r.status in (0, 503)])


def test_fifty_mixed_requests_during_an_outage_then_an_open_leave_one_replica(world):
    emulator, home, function = world
    reliability.reset(emulator)
    home.go_down()
    emulator.open_alert(POLICY, PROJECT)
    emulator.inject(status=503, rate=FAULT_RATE, seed=1)
    emulator.inject(kind="reset", rate=FAULT_RATE / 2, seed=2)

    statuses = burst(function, {"open": 16, "closed": 8, "status": 6, "reconcile": 6, "failover": 4,
                                "failback": 4, "stranger": 3, "bad body": 3}, seed=11)

    emulator.clear_faults()
    reliability.count("faults", faults_fired(emulator))
    final = call(function, "open", 99)
    assert final.status_code == 200, final.text
    state = reliability.world_state(emulator, PROJECT, REGION, SERVICE, ZONE)
    reliability.check_final(state, "active")
    assert statuses[200] >= 30, statuses
    only_json_lines_without_secrets(function)


def test_fifty_mixed_requests_after_recovery_then_a_close_leave_none(world):
    emulator, home, function = world
    home.come_back()
    while emulator.close_alert(POLICY):
        pass
    emulator.clear_requests()
    emulator.inject(status=503, rate=FAULT_RATE, seed=3)
    emulator.inject(kind="reset", rate=FAULT_RATE / 2, seed=4)

    statuses = burst(function, {"open": 14, "closed": 12, "status": 6, "reconcile": 6, "forced failback": 4,
                                "failback": 2, "stranger": 3, "bad body": 3}, seed=12)

    emulator.clear_faults()
    reliability.count("faults", faults_fired(emulator))
    final = call(function, "closed", 99)
    assert final.status_code == 200, final.text
    state = reliability.world_state(emulator, PROJECT, REGION, SERVICE, ZONE)
    reliability.check_final(state, "standby")
    assert statuses[200] >= 30, statuses
    only_json_lines_without_secrets(function)

