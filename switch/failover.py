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

Nothing is remembered between calls but two facts per process: the uid of a
replica this instance has already seen public, and that the failover domain's
certificate was seen provisioned. A duplicate alert on a warm instance then
costs one GET. Reconcile re-checks both.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable

from . import logs
from .alert import Incident
from .cloudrun import PINNED, CloudRunService, DomainMappings, Replica, service_body
from .errors import NotManaged, UpstreamError
from .probe import ProbeResult, answers_publicly, probe as probe_home

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

    # Per process: uids of replicas seen public, and whether the failover
    # domain's certificate was seen provisioned (see module docstring).
    _public_seen: set[str] = set()
    _domain_ready: set[str] = set()
    _memo_lock = threading.Lock()

    def __init__(self, settings, run: CloudRunService, router, *,
                 probe: Callable[..., ProbeResult] = probe_home,
                 alerts=None,
                 wall_clock: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.run = run
        self.router = router
        self.alerts = alerts
        self.domains = DomainMappings(run) if settings.failover_domain else None
        self._probe = probe
        self._wall = wall_clock
        self._clock = clock

    @classmethod
    def from_settings(cls, settings, **kw) -> "Switch":
        from .traffic import router_for

        alerts = None
        if settings.alert_policy:
            from .incidents import OpenAlerts

            alerts = OpenAlerts.from_settings(settings)
        return cls(settings, CloudRunService.from_settings(settings), router_for(settings), alerts=alerts, **kw)

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

    @classmethod
    def _memo(cls, memo: set, key: str, add: bool | None = None) -> bool:
        with cls._memo_lock:
            if add is True:
                memo.add(key)
            elif add is False:
                memo.discard(key)
            return key in memo

    def _domain_target(self, steps: _Steps, verify: bool) -> str | None:
        """``https://FAILOVER_DOMAIN`` once its certificate is provisioned, else None.

        The mapping is created on first sight (reconcile does this long before an
        outage); until Google has issued its certificate the run.app URL is used.
        """
        host = self.settings.failover_domain
        if not host or self.domains is None:
            return None
        if not verify and self._memo(self._domain_ready, host):
            return f"https://{host}"
        with steps.step("domain") as s:
            mapping, created = self.domains.ensure(host)
            s.changed = created
            s.detail = (f"{host}: certificate provisioned" if mapping.certificate_ready else
                        f"{host}: certificate not provisioned yet; using the run.app URL")
        if mapping.certificate_ready:
            self._memo(self._domain_ready, host, add=True)
            return f"https://{host}"
        return None

    # -- failover ---------------------------------------------------------

    def failover(self, *, pinned: bool = False, incident: Incident | None = None, trigger: str = "manual",
                 check_home: bool = False, on_progress: Callable[[str], None] | None = None) -> Report:
        """Converge on ``active``: a ready, public, managed replica with traffic on it.

        With ``check_home`` (an alert, unless SWITCH_TRUST_ALERTS), a new replica
        only gets traffic if the home site fails its probe. The probe runs while
        Cloud Run starts the container, so a real outage waits for nothing; a
        late or spurious alert while home is healthy ends with the replica
        removed again and no visitor sent anywhere.
        """
        steps = _Steps(self._clock)
        replica = self._get_managed(steps)
        home = None
        if check_home and self.settings.probe_url and (replica is None or self._never_served(steps, replica)):
            home = _background(self._probe, self.settings.probe_url, count=self.settings.probe_count,
                               interval=self.settings.probe_interval_seconds,
                               timeout=self.settings.probe_timeout_seconds)
        incident_id = incident.id if incident else None
        try:
            replica = self._activate(steps, replica, pinned=pinned, incident=incident, verify=False,
                                     on_progress=on_progress, home=home)
        except _HomeIsUp as up:
            # Look again: the probe took seconds, and a manual failover may have
            # pinned this replica meanwhile. Then it is the operator's, not ours to remove.
            current = self._get_managed(steps)
            if current is not None and current.pinned:
                return self._report(steps, "none", ACTIVE, current, trigger=trigger, incident=incident_id,
                                    reason=f"the home site answers its health check ({up.result.summary}), but a "
                                           f"manual failover pinned the replica meanwhile; it is left in place")
            self._deactivate(steps, current)
            return self._report(steps, "none", STANDBY, None, trigger=trigger, incident=incident_id,
                                reason=f"the home site answers its health check ({up.result.summary}), so the alert "
                                       f"is late or partial; the replica was not given traffic and was removed "
                                       f"(set SWITCH_TRUST_ALERTS=true to fail over regardless)")
        return self._report(steps, "failover", ACTIVE, replica, trigger=trigger, incident=incident_id,
                            reason=None if steps.changed else "the replica is already in place")

    def _never_served(self, steps: _Steps, replica: Replica) -> bool:
        """A replica no visitor was ever sent to: not pinned, not public.

        An alert that found home healthy removes the replica it made; when that
        removal fails, the replica stays behind unfinished, and the next open
        alert must probe home again rather than finish it and send visitors away
        from a healthy site.
        """
        if replica.pinned or self._memo(self._public_seen, replica.uid):
            return False
        with steps.step("check public") as s:
            public = self.run.is_public()
            s.detail = "public" if public else "not public: never given visitors"
        if public:
            self._memo(self._public_seen, replica.uid, add=True)
        return not public

    def _activate(self, steps: _Steps, replica: Replica | None, *, pinned: bool, incident: Incident | None,
                  verify: bool, on_progress: Callable[[str], None] | None = None, home=None) -> Replica:
        """create → ready → public → traffic, each only when missing."""
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

        if home is not None:
            with steps.step("probe") as s:
                result = home.result()
                s.detail = result.summary
            if result.healthy:
                raise _HomeIsUp(replica, result)

        if verify or not self._memo(self._public_seen, replica.uid):
            with steps.step("public") as s:
                s.changed = self.run.make_public()
                s.detail = "allUsers granted roles/run.invoker" if s.changed else "already public"
            if s.changed and replica.url:
                self._wait_reachable(steps, replica.url)
            self._memo(self._public_seen, replica.uid, add=True)

        target = self._domain_target(steps, verify) or replica.url
        if not target:
            raise UpstreamError(f"Cloud Run reports the replica {replica.name!r} ready but gives no URL; "
                                f"traffic was not switched", api="run", retryable=True)
        with steps.step("traffic") as s:
            s.changed = self.router.send_to(target)
            s.detail = f"{self.router.name} → {target}" if self.router.name != "none" else "no router configured"
        if steps.steps[-1].changed:
            # A failback running at the same time may have deleted the replica
            # between our readiness check and the redirect: look once more.
            with steps.step("verify") as s:
                still = self.run.get()
                s.detail = "replica still in place"
            if still is None or still.uid != replica.uid:
                self.router.restore()
                raise UpstreamError(f"the replica {replica.name!r} was deleted while traffic was being switched "
                                    f"(a concurrent failback); traffic was sent home again", api="run",
                                    retryable=True)
        return replica

    def _wait_reachable(self, steps: _Steps, url: str) -> None:
        """After granting allUsers, wait until Google's front end lets visitors in.

        IAM changes take a minute or two to propagate; until then visitors would
        get Google's 403 instead of the site. If the grant is still not visible
        after SWITCH_PUBLIC_TIMEOUT_SECONDS, traffic is switched anyway: home is
        down, and the replica will open up on its own.
        """
        deadline = self._clock() + self.settings.public_timeout_seconds
        delay = min(0.25, self.settings.poll_interval_seconds)
        with steps.step("reachable") as s:
            while True:
                ok, answer = answers_publicly(url, timeout=self.settings.probe_timeout_seconds)
                s.detail = f"the replica answers visitors ({answer})" if ok else f"still {answer}"
                if ok or self._clock() + delay > deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 1.6, self.settings.poll_interval_seconds)
            if not ok:
                s.detail = (f"still {answer} after {self.settings.public_timeout_seconds:g} s; switching traffic "
                            f"anyway, the grant will reach Google's front end shortly")

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

    def _home_refusal(self, steps: _Steps) -> str | None:
        """Probe home (when SWITCH_HOME_URL is set); the reason to wait, or None."""
        if not self.settings.probe_url:
            return None
        with steps.step("probe") as s:
            result = self._probe(self.settings.probe_url, count=self.settings.probe_count,
                                 interval=self.settings.probe_interval_seconds,
                                 timeout=self.settings.probe_timeout_seconds)
            s.detail = result.summary
        if result.healthy:
            return None
        return f"the home site is not healthy yet: {result.summary}; keeping the replica"

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
            if refusal is None and not force:
                refusal = self._home_refusal(steps)
            if refusal is not None:
                return self._report(steps, "none", ACTIVE, replica, reason=refusal, trigger=trigger,
                                    incident=incident_id)

        self._deactivate(steps, replica)
        return self._report(steps, "failback", STANDBY, None, trigger=trigger, incident=incident_id,
                            reason=None if steps.changed else "no replica exists; already on standby")

    def _deactivate(self, steps: _Steps, replica: Replica | None) -> None:
        """traffic back → delete. Visitors must never be sent to a replica that is gone."""
        with steps.step("traffic") as s:
            s.changed = self.router.restore()
            s.detail = f"{self.router.name}: redirect off" if self.router.name != "none" else "no router configured"
        if replica is not None:
            with steps.step("delete") as s:
                s.changed = self.run.delete(replica)
                s.detail = replica.name
            self._memo(self._public_seen, replica.uid, add=False)
            if self.router.name != "none" and self.router.current().enabled:
                # A failover running at the same time switched traffic on after
                # our first restore; the replica is gone now, so switch it off again.
                with steps.step("traffic") as s:
                    s.changed = self.router.restore()
                    s.detail = f"{self.router.name}: redirect off again (a concurrent failover had switched it on)"

    # -- reconcile --------------------------------------------------------

    def reconcile(self, *, trigger: str = "reconcile") -> Report:
        """Compare what should be with what is, and converge; for Cloud Scheduler.

        Heals lost notifications: an open alert with no replica fails over; a
        replica whose incident is over fails back (same guards as a closing
        alert); a redirect with no replica behind it is switched off; a
        half-finished replica is finished.
        """
        steps = _Steps(self._clock)
        replica = self._get_managed(steps)
        alert_open = None
        if self.alerts is not None:
            with steps.step("alerts") as s:
                alert_open = self.alerts.any_open()
                s.detail = f"{self.settings.alert_policy!r}: {'open' if alert_open else 'no open alert'}"

        if replica is None:
            if alert_open:
                replica = self._activate(steps, None, pinned=False, incident=None, verify=True)
                return self._report(steps, "failover", ACTIVE, replica, trigger=trigger,
                                    reason="an alert is open but there was no replica (a lost notification)")
            self._deactivate(steps, None)
            return self._report(steps, "failback", STANDBY, None, trigger=trigger,
                                reason="a redirect pointed at a replica that does not exist" if steps.changed
                                else "standby, and nothing is out of place")

        refusal = self.failback_refusal(replica, automatic=True, incident=None)
        if refusal is None and alert_open:
            refusal = f"the alert {self.settings.alert_policy!r} is still open"
        if refusal is None and alert_open is None and not self.settings.probe_url:
            refusal = "no SWITCH_HOME_URL or SWITCH_ALERT_POLICY to tell that home is back; fail back by hand"
        if refusal is None:
            refusal = self._home_refusal(steps)
        if refusal is None:
            self._deactivate(steps, replica)
            return self._report(steps, "failback", STANDBY, None, trigger=trigger,
                                reason="the incident is over and home is healthy (a lost closing notification)")

        replica = self._activate(steps, replica, pinned=False, incident=None, verify=True)
        return self._report(steps, "failover", ACTIVE, replica, trigger=trigger,
                            reason=f"finished the replica; {refusal}" if steps.changed else refusal)

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
        if self.domains is not None:
            mapping = self.domains.get(self.settings.failover_domain)
            answer["domain"] = None if mapping is None else {
                "host": mapping.host, "route": mapping.route, "conditions": mapping.conditions,
                "dns_records": mapping.records}
        if self.alerts is not None:
            answer["alert_open"] = self.alerts.any_open()
        return answer


class _HomeIsUp(Exception):
    def __init__(self, replica: Replica, result: ProbeResult):
        super().__init__(result.summary)
        self.replica = replica
        self.result = result


def _background(function, *args, **kwargs) -> Future:
    """Run ``function`` on its own thread; the Future carries its result."""
    future: Future = Future()

    def run():
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True, name="switch-home-probe").start()
    return future
