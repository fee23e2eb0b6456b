"""What every converge step shares: the settings, the replica, the router, the probe, the report."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Callable

from .. import logs
from ..alert import default_policy
from ..cloudrun import CloudRunService, Replica
from ..domains import DomainMappings
from ..errors import NotManaged
from ..probe import ProbeResult, probe as probe_home
from .report import Report, Steps


class SwitchBase:
    """One replica and one traffic router, and the helpers the steps share.

    ``switch.failover.Switch`` adds the ways in (``failover``, ``failback``,
    ``reconcile``, ``status``), whose work is in the modules beside this one.
    """

    # Per process, a cache only (each is re-checked where correctness depends on
    # it): uids of replicas seen public, and whether the failover domain's
    # certificate was seen provisioned. A duplicate alert on a warm instance
    # then costs one GET.
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
        self.wall = wall_clock
        self.clock = clock

    @classmethod
    def from_settings(cls, settings, **kw):
        from ..traffic import router_for

        alerts = None
        if default_policy(settings):
            from ..incidents import OpenAlerts

            alerts = OpenAlerts.from_settings(settings)
        return cls(settings, CloudRunService.from_settings(settings), router_for(settings), alerts=alerts, **kw)

    # -- shared by the steps ----------------------------------------------------

    def steps(self) -> Steps:
        return Steps(self.clock)

    def report(self, steps: Steps, action: str, state: str, replica: Replica | None, **kw) -> Report:
        from .report import ACTIVE

        report = Report(action=action if steps.changed or action == "none" else "none", state=state,
                        service=self.settings.service, changed=steps.changed,
                        url=replica.url if replica and state == ACTIVE else None,
                        steps=steps.steps, ms=steps.elapsed_ms, site=self.settings.site or None, **kw)
        where = f"{report.site}: " if report.site else ""
        logs.info(f"{report.trigger or 'switch'}: {where}{report.action} ({report.reason or report.state})",
                  site=report.site, action=report.action, state=report.state, changed=report.changed,
                  incident=report.incident, trigger=report.trigger, outcome="ok", duration_ms=report.ms,
                  steps=[f"{s.step}:{s.ms}ms{'*' if s.changed else ''}" for s in report.steps])
        return report

    def get_managed(self, steps: Steps, name: str = "get") -> Replica | None:
        with steps.step(name) as s:
            replica = self.run.get()
            s.detail = "absent" if replica is None else (
                "ready" if replica.ready else "failed" if replica.ready is False else "not ready")
        if replica is not None and not replica.managed:
            raise NotManaged(f"a Cloud Run service named {self.settings.service!r} exists but was not created "
                             f"by switch (no label managed-by=switch); it is left untouched. Choose another "
                             f"SWITCH_SERVICE or remove that service yourself")
        return replica

    @classmethod
    def memo(cls, memo: set, key: str, add: bool | None = None) -> bool:
        with cls._memo_lock:
            if add is True:
                memo.add(key)
            elif add is False:
                memo.discard(key)
            return key in memo

    def probe(self, steps: Steps, name: str = "probe") -> ProbeResult | None:
        """Probe home now (None without SWITCH_HOME_URL)."""
        if not self.settings.probe_url:
            return None
        with steps.step(name) as s:
            result = self._probe_now()
            s.detail = result.summary
        return result

    def probe_in_background(self) -> Future | None:
        """Start probing home on its own thread (None without SWITCH_HOME_URL): it overlaps a container start."""
        if not self.settings.probe_url:
            return None
        future: Future = Future()

        def run():
            try:
                future.set_result(self._probe_now())
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True, name="switch-home-probe").start()
        return future

    def warm(self, steps: Steps, url: str) -> None:
        """One request to a standby's URL, not waited for: Cloud Run starts an instance while traffic is switched.

        Whatever it answers (or whether it answers before the function's own
        answer) changes nothing; the request is on its way either way.
        """
        def run():
            import requests

            try:
                requests.get(url, timeout=self.settings.http_timeout_seconds, allow_redirects=False,
                             headers={"User-Agent": "switch-warm", "Cache-Control": "no-cache"}).close()
            except requests.RequestException:
                pass  # it was only a head start

        with steps.step("warm") as s:
            threading.Thread(target=run, daemon=True, name="switch-warm").start()
            s.detail = f"one request to {url}, so an instance starts before visitors arrive"

    def _probe_now(self) -> ProbeResult:
        s = self.settings
        return self._probe(s.probe_url, count=s.probe_count, interval=s.probe_interval_seconds,
                           timeout=s.probe_timeout_seconds)
