"""The reliability suite's figures, and the state checks they count.

The hostile, credential, fault, ordering, load and log tests add to these
counters; ``conftest.pytest_terminal_summary`` prints them after the run, and
tests/RELIABILITY.md quotes them. Import it as ``tests.reliability`` so every
test module and the conftest share one copy.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
figures = {"hostile": 0, "faults": 0, "states": 0, "unexpected_5xx": 0}

# Answers the function documents for the HTTP entry point (README "Answers").
DOCUMENTED = {200, 400, 401, 404, 405, 409, 413, 500, 502}


def count(name: str, n: int = 1) -> None:
    with _lock:
        figures[name] += n


def answered(status: int, documented_5xx: bool = False) -> None:
    """One hostile request answered; a 5xx that is not a documented one is counted as unexpected."""
    count("hostile")
    if status >= 500 and not documented_5xx:
        count("unexpected_5xx")


def summary() -> str | None:
    with _lock:
        f = dict(figures)
    if not any(f.values()):
        return None
    return (f"reliability: {f['hostile']} hostile requests tried, {f['faults']} faults injected, "
            f"{f['states']} final states checked, {f['unexpected_5xx']} unexpected 5xx")


# -- the state checks ------------------------------------------------------------

REF = "switch_failover"


def world_state(emulator, project: str, region: str, service: str, zone: str | None) -> dict:
    """One atomic look at the emulator: the replica, whether it is public, and our redirect rule."""
    state = emulator.state()  # taken under the emulator's lock: services, IAM and rules agree
    services = state["services"].get(f"{project}/{region}", {})
    replica = services.get(service)
    ready = public = False
    url = None
    if replica is not None:
        conditions = {c["type"]: c["status"] for c in replica.get("status", {}).get("conditions", [])}
        ready = conditions.get("Ready") == "True"
        url = replica.get("status", {}).get("url")
        policy = state["iam"].get(f"projects/{project}/locations/{region}/services/{service}", {})
        public = any(b["role"] == "roles/run.invoker" and "allUsers" in b["members"]
                     for b in policy.get("bindings", []))
    rule = None
    if zone is not None:
        rules = (state["rulesets"].get(zone) or {}).get("rules", [])
        rule = next((r for r in rules if r.get("ref") == REF), None)
    enabled = bool(rule and rule.get("enabled", True))
    target = None
    if rule is not None:
        expression = rule["action_parameters"]["from_value"]["target_url"].get("expression", "")
        target = expression.split('"')[1] if '"' in expression else None
    return {"services": sorted(services), "replica": replica is not None, "ready": ready, "public": public,
            "url": url, "managed": bool(replica and replica["metadata"]["labels"].get("managed-by") == "switch"),
            "pinned": bool(replica and replica["metadata"]["annotations"].get("switch/pinned") == "true"),
            "redirect": enabled, "target": target}


def check_safe(state: dict) -> None:
    """What must hold at every quiet moment, whatever happened before: never a redirect
    to a replica that is missing, not ready or not public; never more than our one service."""
    assert len(state["services"]) <= 1, state
    if state["redirect"]:
        assert state["replica"] and state["ready"] and state["public"], f"redirect to a missing or unfit replica: {state}"
        assert state["target"] == state["url"], f"redirect points elsewhere: {state}"


def check_final(state: dict, expect: str, *, router: bool = True) -> None:
    """The converged state: ``active`` (one ready, public replica, visitors sent to it) or
    ``standby`` (no replica, no redirect). Counted in the figures."""
    check_safe(state)
    if expect == "active":
        assert state["replica"] and state["managed"] and state["ready"] and state["public"], state
        if router:
            assert state["redirect"] and state["target"] == state["url"], state
    else:
        assert not state["replica"] and not state["redirect"], state
    count("states")
