"""The heart: converge the replica and the traffic on a desired state.

Every way in (an alert, a Pub/Sub message, a curl, the periodic reconcile)
decides ``active`` or ``standby`` and calls the same code. Each step looks at
what exists and does only what is missing, so running it twice, concurrently,
or after a crash halfway ends in the same place (a Kubernetes controller's
reconcile loop, without the loop).

Order is the safety rule:
- failover: create → ready → public → traffic. Traffic never points at a
  replica that is not ready and public.
- failback: traffic back → delete. Traffic never points at a replica that
  no longer exists.

Nothing is remembered between calls except one thing per process: the uid of
a replica this instance has already seen public, so a duplicate alert costs
one GET instead of a GET and an IAM read.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable

from . import logs
from .alert import Incident
from .cloudrun import ACTIVATED_AT, PINNED, CloudRunService, Replica, service_body
from .errors import NotManaged, SwitchError
from .probe import ProbeResult, probe as probe_home

ACTIVE = "active"
STANDBY = "standby"


@dataclass
class Step:
    step: str
    ms: int
    changed: bool = False
    detail: str = ""


@dataclass
class Report:
    action: str  # "failover", "failback" or "none"
    state: str  # "active" or "standby"
    service: str
    changed: bool = False
    url: str | None = None
    reason: str | None = None
    incident: str | None = None
    trigger: str = ""
    steps: list[Step] = field(default_factory=list)
    ms: int = 0

    def to_dict(self) -> dict:
        answer = asdict(self)
        return {key: value for key, value in answer.items() if value is not None}


class _Steps:
    """Times each step and keeps the list the answer reports."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.started = clock()
        self.steps: list[Step] = []

    @contextmanager
    def step(self, name: str):
        record = Step(name, 0)
        start = self.clock()
        try:
            yield record
        finally:
            record.ms = int((self.clock() - start) * 1000)
            self.steps.append(record)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.steps)

    @property
    def elapsed_ms(self) -> int:
        return int((self.clock() - self.started) * 1000)


class Switch:
    """Failover and failback for one replica and one traffic router."""

    # uids of replicas this process has seen public (see module docstring)
    _public_seen: set[str] = set()
    _public_lock = threading.Lock()

    def __init__(self, settings, run: CloudRunService, router, *,
                 probe: Callable[..., ProbeResult] = probe_home,
                 wall_clock: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.run = run
        self.router = router
        self._probe = probe
        self._wall = wall_clock
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings, **kw) -> "Switch":
        from .traffic import router_for

        return cls(settings, CloudRunService.from_settings(settings), router_for(settings), **kw)

    # -- helpers ----------------------------------------------------------

    def _report(self, steps: _Steps, action: str, state: str, replica: Replica | None, **kw) -> Report:
        report = Report(action=action if steps.changed or action == "none" else "none", state=state,
                        service=self.settings.service, changed=steps.changed,
                        url=replica.url if replica and state == ACTIVE else None,
                        steps=steps.steps, ms=steps.elapsed_ms, **kw)
        logs.info(f"{report.trigger or 'switch'}: {report.action} ({report.reason or report.state})",
                  action=report.action, state=report.state, changed=report.changed,
                  incident=report.incident, trigger=report.trigger, outcome="ok", duration_ms=report.ms,
                  steps=[f"{s.step}:{s.ms}ms{'*' if s.changed else ''}" for s in report.steps])
        return report

    def _get_managed(self, steps: _Steps) -> Replica | None:
        with steps.step("get") as s:
            replica = self.run.get()
            s.detail = "absent" if replica is None else (
                "ready" if replica.ready else "failed" if replica.ready is False else "not ready")
        if replica is not None and not replica.managed:
            raise NotManaged(f"a Cloud Run service named {self.settings.service!r} exists but was not created "
                             f"by switch (no label managed-by=switch); it is left untouched. Choose another "
                             f"SWITCH_SERVICE or remove that service yourself")
        return replica

    def traffic_target(self, replica: Replica) -> str:
        return replica.url

    @classmethod
    def _remember_public(cls, uid: str) -> None:
        with cls._public_lock:
            cls._public_seen.add(uid)

    @classmethod
    def _forget_public(cls, uid: str) -> None:
        with cls._public_lock:
            cls._public_seen.discard(uid)

    # -- failover ---------------------------------------------------------

    def failover(self, *, pinned: bool = False, incident: Incident | None = None, trigger: str = "manual",
                 verify_public: bool = False, on_progress: Callable[[str], None] | None = None) -> Report:
        """Converge on ``active``: a ready, public, managed replica with traffic on it."""
        steps = _Steps(self._clock)
        replica = self._get_managed(steps)

        if replica is None:
            with steps.step("create") as s:
                body = service_body(self.settings, pinned=pinned, incident=incident.id if incident else None)
                replica = self.run.create(body)
                if not replica.managed:  # someone else created the name between our GET and create
                    raise NotManaged(f"a Cloud Run service named {self.settings.service!r} appeared that was not "
                                     f"created by switch; it is left untouched")
                s.changed = True
                s.detail = f"image {self.settings.image}"
        elif pinned and not replica.pinned:
            with steps.step("pin") as s:
                replica = self.run.replace(replica, annotations={PINNED: "true"})
                s.changed = True

        if replica.ready is not True:
            with steps.step("ready") as s:
                def polled(current: Replica, waited: float) -> None:
                    if on_progress:
                        on_progress(f"waiting for the replica to be ready ({waited:.1f} s: {current.message})")

                replica = self.run.wait_ready(self.settings.ready_timeout_seconds,
                                              poll_interval=self.settings.poll_interval_seconds, on_poll=polled)
                s.changed = True
                s.detail = replica.url or ""

        with self._public_lock:
            known_public = replica.uid in self._public_seen
        if verify_public or not known_public:
            with steps.step("public") as s:
                s.changed = self.run.make_public()
                s.detail = "allUsers granted roles/run.invoker" if s.changed else "already public"
            self._remember_public(replica.uid)

        with steps.step("traffic") as s:
            target = self.traffic_target(replica)
            s.changed = self.router.send_to(target)
            s.detail = f"{self.router.name} → {target}" if self.router.name != "none" else "no router configured"

        return self._report(steps, "failover", ACTIVE, replica, trigger=trigger,
                            incident=incident.id if incident else None,
                            reason=None if steps.changed else "the replica is already in place")

    # -- failback ---------------------------------------------------------

    def failback_refusal(self, replica: Replica, *, automatic: bool, incident: Incident | None) -> str | None:
        """Why an automatic failback must not happen now (None when it may)."""
        if not automatic:
            return None
        if incident is not None and incident.cancelled:
            return ("the incident was closed because its alert policy was edited or deleted, "
                    "which says nothing about the home site; keeping the replica")
        if replica.pinned:
            return "the replica is pinned by a manual failover; fail back with POST /failback"
        if replica.activated_at is not None:
            active_for = self._wall() - replica.activated_at
            if active_for < self.settings.min_active_seconds:
                return (f"the replica has been active for {max(active_for, 0):.0f} s, less than "
                        f"SWITCH_MIN_ACTIVE_SECONDS={self.settings.min_active_seconds}; keeping it to avoid flapping")
        return None

    def failback(self, *, force: bool = False, automatic: bool = True, incident: Incident | None = None,
                 trigger: str = "manual") -> Report:
        """Converge on ``standby``: traffic home, then the replica deleted.

        Automatic failbacks (a closing alert, reconcile) respect the pin and the
        flap guard; every failback probes the home site first unless forced.
        """
        steps = _Steps(self._clock)
        replica = self._get_managed(steps)
        incident_id = incident.id if incident else None

        if replica is not None:
            refusal = self.failback_refusal(replica, automatic=automatic, incident=incident)
            if refusal is None and not force and self.settings.probe_url:
                with steps.step("probe") as s:
                    result = self._probe(self.settings.probe_url, count=self.settings.probe_count,
                                         interval=self.settings.probe_interval_seconds,
                                         timeout=self.settings.probe_timeout_seconds)
                    s.detail = result.summary
                if not result.healthy:
                    refusal = f"the home site is not healthy yet: {result.summary}; keeping the replica"
            if refusal is not None:
                return self._report(steps, "none", ACTIVE, replica, reason=refusal, trigger=trigger,
                                    incident=incident_id)

        # Traffic first: visitors must never be sent to a replica that is gone.
        with steps.step("traffic") as s:
            s.changed = self.router.restore()
            s.detail = f"{self.router.name}: redirect off" if self.router.name != "none" else "no router configured"

        if replica is not None:
            with steps.step("delete") as s:
                s.changed = self.run.delete(replica)
                s.detail = replica.name
            self._forget_public(replica.uid)

        return self._report(steps, "failback", STANDBY, None, trigger=trigger, incident=incident_id,
                            reason=None if steps.changed else "no replica exists; already on standby")

    # -- status -----------------------------------------------------------

    def status(self) -> dict:
        replica = self.run.get()
        if replica is not None and not replica.managed:
            raise NotManaged(f"a Cloud Run service named {self.settings.service!r} exists but was not created by "
                             f"switch; it is left untouched")
        traffic = self.router.current()
        answer = {
            "state": ACTIVE if replica else STANDBY,
            "service": self.settings.service,
            "project": self.settings.project,
            "region": self.settings.region,
            "replica": None,
            "traffic": {"router": self.router.name, "configured": traffic.configured, "enabled": traffic.enabled,
                        "target": traffic.target, "detail": traffic.detail or None},
        }
        if replica is not None:
            answer["url"] = replica.url
            answer["replica"] = {
                "ready": replica.ready, "message": replica.message or None, "url": replica.url,
                "image": replica.image, "pinned": replica.pinned, "incident": replica.incident,
                "activated_at": replica.activated_at,
                "active_seconds": int(self._wall() - replica.activated_at) if replica.activated_at else None,
            }
        return answer


def decide(incident: Incident) -> str:
    """The desired state an incident asks for."""
    return ACTIVE if incident.state == "open" else STANDBY


__all__ = ["Switch", "Report", "Step", "ACTIVE", "STANDBY", "SwitchError", "ACTIVATED_AT", "decide"]
