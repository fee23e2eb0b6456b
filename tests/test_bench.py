"""The benchmark's cheapest pieces, run for real: API round trips per event are
counted from the emulator's record, so these hold on any machine. Timing bars
are the benchmark's business (python -m switch bench), never asserted here."""

from __future__ import annotations

import pytest

from bench import common, cost
from bench.baseline import failover_baseline
from bench.server import serve_emulator
from switch.emulator import Emulator


@pytest.fixture(scope="module")
def world():
    emulator = Emulator(ready_delay=0, delete_delay=0, cloudflare_token=common.CF_TOKEN)
    server = serve_emulator(emulator)
    function = cost.InProcess(emulator, server)
    with function:
        yield emulator, function
    server.stop()


def test_a_duplicate_open_costs_exactly_one_google_call_and_no_new_connection(world):
    emulator, function = world
    function.call("POST", "/", common.open_alert())

    _, calls, opened = function.counted("POST", "/", common.open_alert())  # the same notification again

    google = common.google_calls(calls)
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in google] == [("GET", common.SERVICE)]
    assert opened == 0
    function.standby()


def test_a_fresh_failover_makes_get_create_the_ready_polls_and_one_mark_and_no_iam_call(world):
    emulator, function = world
    counts = cost.api_calls(emulator, function, ready_delay=0.1)

    fresh = counts["fresh_failover"]
    # Public at creation: no IAM read or write. After the redirect, one note that
    # visitors are on the replica (it also undoes the redirect if a concurrent
    # failback deleted the replica).
    assert fresh["bound"] == 1 + 1 + fresh["ready_polls"] + 1 and fresh["ready_polls"] >= 1
    assert fresh["google"] == fresh["bound"] and fresh["beyond_bound"] == [], fresh["calls"]
    assert not [c for c in fresh["calls"] if "IamPolicy" in c]
    assert fresh["calls"][-1] == f"PUT services/{common.SERVICE}" and fresh["steps"][-1] == "activated"
    assert fresh["cloudflare"] == 2  # read the redirect ruleset, create it with the rule
    assert counts["duplicate_open"]["google"] == 1
    assert counts["reconcile_nothing_to_do"]["google"] == 2  # GET the replica, alerts.list
    # GET, then again before each destructive step (traffic home, delete: a pin meanwhile stops it), DELETE
    assert counts["failback"]["google"] == 4
    function.standby()


def test_the_baseline_lists_every_service_on_a_new_connection_each_event(world):
    emulator, function = world
    function.call("POST", "/", common.open_alert())
    from switch import config

    settings = config.load()
    emulator.clear_requests()
    before, _ = function.server.counters()

    answer = failover_baseline(settings)

    assert answer["action"] == "none"
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in emulator.calls()] == [("GET", "services")]
    assert function.server.counters()[0] - before == 1
    function.standby()
