"""Every site at once: reconcile and status across a sites file, a few sites at a time.

Each site converges on its own replica, its own redirect rule and its own
state, so one site's failure (a bad image, an API error) is that site's
answer and never stops or undoes another's. Reconcile stays inside the
function's timeout: sites are started a few at a time while there is time
left, a site started late waits for its replica only as long as is left, and
a site not reached is answered as such (the next reconcile goes on).
"""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

from . import logs
from .controllers import controller
from .errors import SwitchError

# A few at a time: each site's calls are sequential, and Google's quotas are per project.
PARALLEL = 4
# The deployed function's timeout is 540 s (switch/ops/deploy.py); reconcile keeps this much for itself.
BUDGET_SECONDS = 480.0
# Below this much time left a site is not started: it could not finish.
MIN_LEFT_SECONDS = 30.0


def _error(exc: SwitchError) -> dict:
    details = {k: v for k, v in exc.details.items() if v not in (None, "")}
    return {"error": {"code": exc.code, "message": logs.redact(exc.message), **details}}


def _each(sites: list, work: Callable, budget: float, clock: Callable[[], float]) -> dict[str, dict]:
    deadline = clock() + budget

    def one(settings) -> dict:
        left = deadline - clock()
        if left < MIN_LEFT_SECONDS:
            return {"skipped": f"not reached within this call's {budget:g} s; the next reconcile goes on"}
        try:
            return work(settings, left)
        except SwitchError as exc:
            logs.error(f"{settings.site}: {exc.message}", site=settings.site, outcome=exc.code)
            return _error(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(sites))), thread_name_prefix="switch-site") as pool:
        answers = list(pool.map(one, sites))
    return {s.site: answer for s, answer in zip(sites, answers)}


def reconcile(sites: list, *, trigger: str = "reconcile", budget: float = BUDGET_SECONDS,
              clock: Callable[[], float] = time.monotonic) -> tuple[dict, bool]:
    """Reconcile every site in ``sites``; (the answer, whether every site answered without an error)."""
    def work(settings, left: float) -> dict:
        switch = controller(settings)
        if settings.ready_timeout_seconds > left - MIN_LEFT_SECONDS / 2:
            # Started late: wait for a replica only as long as this call has left.
            switch = copy.copy(switch)
            switch.settings = replace(settings, ready_timeout_seconds=max(left - MIN_LEFT_SECONDS / 2, 1.0))
        return switch.reconcile(trigger=trigger).to_dict()

    answers = _each(sites, work, budget, clock)
    failed = [name for name, a in answers.items() if "error" in a]
    answer = {"action": "reconcile", "changed": any(a.get("changed") for a in answers.values()),
              "active": [name for name, a in answers.items() if a.get("state") == "active"],
              "failed": failed, "sites": answers}
    return answer, not failed


def status(sites: list, clock: Callable[[], float] = time.monotonic) -> tuple[dict, bool]:
    """Every site's status; (the answer, whether every site could be read)."""
    answers = _each(sites, lambda settings, left: controller(settings).status(), BUDGET_SECONDS, clock)
    failed = [name for name, a in answers.items() if "error" in a]
    return {"active": [name for name, a in answers.items() if a.get("state") == "active"],
            "failed": failed, "sites": answers}, not failed
