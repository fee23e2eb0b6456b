"""The heart: converge the replica and the traffic on a desired state.

Every way in (an alert, a Pub/Sub message, a curl, the periodic reconcile)
decides ``active`` or ``standby`` and calls the same code. Each step looks at
what exists and does only what is missing, so running it twice, concurrently,
or after a crash halfway ends in the same place (a Kubernetes controller's
reconcile loop, without the loop).

- ``activate``: failover, create ▸ ready ▸ public ▸ traffic ▸ mark;
- ``deactivate``: failback, guards ▸ probe ▸ look again ▸ traffic home ▸ delete;
- ``reconcile``: what should be, from the alerts and the replica's notes;
- ``standby``: reconcile's care of the warm standby, and detection by probe;
- ``status``: every part as it is;
- ``core``: the Switch those share; ``report``: the answer's steps.

The replica is the state: what switch knows lives in its annotations
(``switch/pinned``, ``switch/incident``, ``switch/activated-at``,
``switch/close-pending``, ``switch/probe-failures``) and in the redirect rule; the process remembers only
caches that are re-checked where correctness depends on them.
"""

from __future__ import annotations

from typing import Callable

from ..alert import Incident
from . import activate, deactivate, reconcile, status
from .core import SwitchBase
from .report import ACTIVE, STANDBY, Report, Step

__all__ = ["ACTIVE", "STANDBY", "Report", "Step", "Switch"]


class Switch(SwitchBase):
    """Failover and failback for one replica and one traffic router: the ways in."""

    def failover(self, *, pinned: bool = False, incident: Incident | None = None, trigger: str = "manual",
                 check_home: bool = False, on_progress: Callable[[str], None] | None = None) -> Report:
        return activate.failover(self, pinned=pinned, incident=incident, trigger=trigger, check_home=check_home,
                                 on_progress=on_progress)

    def failback(self, *, force: bool = False, automatic: bool = True, incident: Incident | None = None,
                 trigger: str = "manual") -> Report:
        return deactivate.failback(self, force=force, automatic=automatic, incident=incident, trigger=trigger)

    def reconcile(self, *, trigger: str = "reconcile") -> Report:
        return reconcile.reconcile(self, trigger=trigger)

    def status(self) -> dict:
        return status.status(self)
