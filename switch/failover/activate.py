"""Failover: converge on ``active``, a ready, public replica with visitors on it.

Order is the safety rule: create (public at creation) or roll ▸ ready ▸ (probe) ▸ traffic ▸ mark.
Traffic never points at a replica that is not ready and public, and an
alert (unless SWITCH_TRUST_ALERTS) never switches traffic on while the home
site answers its health check: whenever visitors are not already on the
replica, home is probed first. The probe runs while Cloud Run starts the
container, so a real outage waits for nothing.

The mark (``switch/activated-at``, written right after the switch) is the
replica's memory that visitors were sent to it: the flap guard counts from
it, and it tells a replica that served from one no visitor ever saw. Writing
it also proves the replica still exists: if a concurrent failback deleted it,
the write fails and traffic is sent home again.
"""

from __future__ import annotations

import time
from typing import Callable

from ..alert import Incident
from ..cloudrun import (ACTIVATED_AT, CLOSE_PENDING, INCIDENT, INVOKER_IAM_DISABLED, PINNED, PROBE_FAILURES, Replica,
                        now_rfc3339, service_body)
from ..errors import NotManaged, ReplicaFailed, UpstreamError
from ..probe import ProbeResult, answers_publicly
from .report import ACTIVE, STANDBY, Report, Steps


def way_out(settings) -> str:
    """What a person can do about a failed revision, named in the answer."""
    remove = ("remove the warm standby with python -m switch teardown (failback keeps it)" if settings.standby
              else "remove the replica with POST /failback {\"force\": true}")
    return ("Fix SWITCH_IMAGE (with a sites file, the site's image) or the replica settings, and the next open, "
            f"reconcile or POST /failover rolls a new revision; or {remove}")


def failover(sw, *, pinned: bool = False, incident: Incident | None = None, trigger: str = "manual",
             check_home: bool = False, on_progress: Callable[[str], None] | None = None) -> Report:
    steps = sw.steps()
    replica = sw.get_managed(steps)
    incident_id = incident.id if incident else None
    outcome = activate(sw, steps, replica, pinned=pinned, incident=incident_id, check_home=check_home,
                       on_progress=on_progress)
    if isinstance(outcome, Report):
        return _finish(sw, steps, outcome, trigger, incident_id)
    reason = None if steps.changed else "the replica is already in place"
    if outcome.pinned and not pinned:
        reason = "a manual failover pinned the replica; visitors are on it, and it stays until POST /failback"
    return sw.report(steps, "failover", ACTIVE, outcome, trigger=trigger, incident=incident_id, reason=reason)


def _finish(sw, steps: Steps, outcome: Report, trigger: str, incident_id: str | None) -> Report:
    outcome.trigger, outcome.incident = trigger, incident_id
    return sw.report(steps, outcome.action, outcome.state, None, trigger=trigger, incident=incident_id,
                     reason=outcome.reason, refused=outcome.refused)


def activate(sw, steps: Steps, replica: Replica | None, *, pinned: bool = False, incident: str | None = None,
             check_home: bool = False, verify: bool = False,
             on_progress: Callable[[str], None] | None = None) -> Replica | Report:
    """create ▸ ready ▸ public ▸ traffic ▸ mark, each only when missing.

    Returns the replica with visitors on it, or a Report (action "none") when
    home answered the probe and traffic stayed home. Unless visitors are on
    the replica already, home is probed on a thread while the rest goes on,
    and a ready replica no visitor is on (a warm standby) gets one request
    so an instance is starting before the redirect sends visitors.
    """
    visitors_on = replica is not None and replica.serving
    home = sw.probe_in_background() if check_home and not visitors_on else None
    if replica is not None and replica.ready is True and not visitors_on and replica.url:
        sw.warm(steps, replica.url)
    replica, notes = _prepare(sw, steps, replica, pinned=pinned, incident=incident)
    if replica.ready is not True:
        with steps.step("ready") as s:
            def polled(current: Replica, waited: float) -> None:
                if on_progress:
                    on_progress(f"waiting for the replica to be ready ({waited:.1f} s: {current.message})")

            try:
                replica = sw.run.wait_ready(sw.settings.ready_timeout_seconds,
                                            poll_interval=sw.settings.poll_interval_seconds, on_poll=polled)
            except ReplicaFailed as exc:
                exc.message += f". {way_out(sw.settings)}"
                raise
            s.changed = True
            s.detail = replica.url or ""
    target = domain_target(sw, steps, verify) or replica.url
    if not target:
        raise UpstreamError(f"Cloud Run reports the replica {replica.name!r} ready but gives no URL; "
                            f"traffic was not switched", api="run", retryable=True)
    if _in_place(sw, steps, replica, target):
        if verify:
            _public(sw, steps, replica, verify)
        return replica
    if check_home and sw.settings.probe_url:
        # Before the replica is made public: one no visitor is sent to stays closed.
        if home is not None:
            with steps.step("probe") as s:
                result = home.result()
                s.detail = result.summary
        else:
            result = sw.probe(steps)
        if result.healthy:
            return home_is_up(sw, steps, result)
    _public(sw, steps, replica, verify)
    return _switch(sw, steps, replica, target, notes)


def _create(sw, steps: Steps, *, pinned: bool, incident: str | None) -> Replica:
    """Create the replica public at creation; where that is refused, create it and grant allUsers at once.

    The grant made right after create has the container's start to propagate
    (typically two minutes, up to seven: IAM's own figures), so visitors are let
    in about when the replica is ready. Which refusal Google gives (an
    organization policy, constraints/run.managed.requireInvokerIam) is not
    confirmed live; any 400 or 403 that names the invoker check counts.
    """
    with steps.step("create") as s:
        try:
            replica = sw.run.create(service_body(sw.settings, pinned=pinned, incident=incident))
            s.detail = f"image {sw.settings.image}; public at creation (no invoker IAM check)"
        except UpstreamError as exc:
            if exc.status_code not in (400, 403) or not ("invoker" in exc.message.lower() or INVOKER_IAM_DISABLED
                                                         in exc.message):
                raise
            replica = sw.run.create(service_body(sw.settings, pinned=pinned, incident=incident, open_to_all=False))
            s.detail = (f"image {sw.settings.image}; the invoker IAM check may not be switched off here "
                        f"({exc.message[:160]}), so allUsers is granted instead")
        if not replica.managed:  # someone else created the name between our GET and create
            raise NotManaged(f"a Cloud Run service named {sw.settings.service!r} appeared that was not "
                             f"created by switch; it is left untouched")
        s.changed = True
    if not replica.open_to_all:
        with steps.step("public") as s:
            s.changed = sw.run.make_public()
            s.detail = "allUsers granted roles/run.invoker while the container starts"
    return replica


def _prepare(sw, steps: Steps, replica: Replica | None, *, pinned: bool,
             incident: str | None) -> tuple[Replica, dict[str, str | None]]:
    """The replica exists and runs what the settings ask for; returns it and the notes still to write.

    Notes (pinned, incident) are written now where something else comes
    first (visitors are on it already, or it is not ready and the wait may
    outlast this call); on a ready replica no visitor is on (a warm standby)
    they go with the mark after the switch, one write instead of two, and
    none at all if home answers the probe.
    """
    if replica is None:
        return _create(sw, steps, pinned=pinned, incident=incident), {}
    if replica.ready is False:
        if replica.matches(sw.settings):
            raise ReplicaFailed(f"Cloud Run replica {replica.name!r} failed: {replica.message}. {way_out(sw.settings)}", api="run")
        with steps.step("roll") as s:
            replica = sw.run.roll(replica, sw.settings)
            s.changed = True
            s.detail = f"the revision had failed; a new one from image {sw.settings.image}"
    notes: dict[str, str | None] = {}
    if pinned and not replica.pinned:
        notes[PINNED] = "true"
    if incident and replica.incident != incident:
        notes[INCIDENT] = incident[:256]
    if replica.close_pending:
        notes[CLOSE_PENDING] = None  # the alert opened again: that close is moot
    if notes and (replica.serving or replica.ready is not True):
        with steps.step("note") as s:
            replica = sw.run.replace(replica, annotations=notes)
            s.changed = True
            s.detail = ", ".join(f"{k.split('/')[-1]}={v}" if v else f"{k.split('/')[-1]} cleared"
                                 for k, v in notes.items())
        notes = {}
    return replica, notes


def _public(sw, steps: Steps, replica: Replica, verify: bool) -> None:
    """Public: by its annotation (nothing to do), or allUsers granted and seen to reach Google's front end."""
    if replica.open_to_all or (not verify and sw.memo(sw._public_seen, replica.uid)):
        return
    granted_at_create = any(s.step == "public" and s.changed for s in steps.steps)
    if not granted_at_create:
        with steps.step("public") as s:
            s.changed = sw.run.make_public()
            s.detail = "allUsers granted roles/run.invoker" if s.changed else "already public"
    if (granted_at_create or s.changed) and replica.url:
        _wait_reachable(sw, steps, replica.url)
    sw.memo(sw._public_seen, replica.uid, add=True)


def _wait_reachable(sw, steps: Steps, url: str) -> None:
    """After granting allUsers, wait until Google's front end lets visitors in.

    IAM changes take a minute or two to propagate; until then visitors would
    get Google's 403 instead of the site. If the grant is still not visible
    after SWITCH_PUBLIC_TIMEOUT_SECONDS, traffic is switched anyway: home is
    down, and the replica will open up on its own.
    """
    settings = sw.settings
    deadline = sw.clock() + settings.public_timeout_seconds
    delay = min(0.25, settings.poll_interval_seconds)
    with steps.step("reachable") as s:
        while True:
            ok, answer = answers_publicly(url, timeout=settings.probe_timeout_seconds)
            s.detail = f"the replica answers visitors ({answer})" if ok else f"still {answer}"
            if ok or sw.clock() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 1.6, settings.poll_interval_seconds)
        if not ok:
            s.detail = (f"still {answer} after {settings.public_timeout_seconds:g} s; switching traffic "
                        f"anyway, the grant will reach Google's front end shortly")


def domain_target(sw, steps: Steps, verify: bool) -> str | None:
    """``https://FAILOVER_DOMAIN`` once its mapping is ours and its certificate provisioned, else None.

    The failover domain is a nicety: a mapping that is someone else's, still
    waiting for its certificate, or that Google will not show or create right
    now never delays a failover; the run.app URL is used and the step says why.
    """
    host = sw.settings.failover_domain
    if not host or sw.domains is None:
        return None
    if not verify and sw.memo(sw._domain_ready, host):
        return f"https://{host}"
    with steps.step("domain") as s:
        try:
            mapping, created = sw.domains.ensure(host)
        except (NotManaged, UpstreamError) as exc:
            s.detail = f"{host}: {exc.message}; using the run.app URL"
            return None
        s.changed = created
        if not mapping.managed:
            s.detail = f"{host}: the mapping was not created by switch; using the run.app URL"
            return None
        s.detail = (f"{host}: certificate provisioned" if mapping.certificate_ready else
                    f"{host}: certificate not provisioned yet; using the run.app URL")
    if mapping.certificate_ready:
        sw.memo(sw._domain_ready, host, add=True)
        return f"https://{host}"
    return None


def _in_place(sw, steps: Steps, replica: Replica, target: str) -> bool:
    """Visitors are already on this replica: a duplicate, nothing to switch (and nothing to probe)."""
    if not replica.serving:
        return False
    if sw.router.name == "none":
        return True
    with steps.step("traffic") as s:
        current = sw.router.current()
        same = current.enabled and (current.target or "").rstrip("/") == target.rstrip("/")
        s.detail = f"{sw.router.name} → {current.target}" if same else f"{sw.router.name}: {current.detail}"
    return same


def _switch(sw, steps: Steps, replica: Replica, target: str, notes: dict[str, str | None]) -> Replica:
    with steps.step("traffic") as s:
        s.changed = sw.router.send_to(target)
        s.detail = f"{sw.router.name} → {target}" if sw.router.name != "none" else "no router configured"
    with steps.step("activated") as s:
        mark: dict[str, str | None] = {**notes, ACTIVATED_AT: now_rfc3339(sw.wall())}
        if replica.probe_failures:
            mark[PROBE_FAILURES] = None  # the count did its work; the next outage counts from zero
        try:
            replica = sw.run.replace(replica, annotations=mark)
        except UpstreamError as exc:
            if exc.status_code != 404:
                raise
            # A failback running at the same time deleted the replica between our
            # readiness check and the redirect: send visitors home again.
            sw.router.restore()
            raise UpstreamError(f"the replica {replica.name!r} was deleted while traffic was being switched "
                                f"(a concurrent failback); traffic was sent home again", api="run",
                                retryable=True) from None
        s.changed = True
        s.detail = "visitors are on the replica from now; the flap guard counts from here"
    return replica


def home_is_up(sw, steps: Steps, result: ProbeResult) -> Report:
    """An alert, but home answers its health check: traffic stays home.

    Look again first: the probe took seconds, and a manual failover may have
    pinned the replica meanwhile; then it is the operator's, not ours to touch.
    A replica no visitor was ever sent to goes again (a warm standby stays);
    one that had visitors stays for the closing alert or reconcile, which
    probe before they remove it.
    """
    from .deactivate import deactivate

    current = sw.get_managed(steps, "look again")
    if current is not None and current.pinned:
        return Report("none", ACTIVE, sw.settings.service, refused=True,
                      reason=f"the home site answers its health check ({result.summary}), but a manual failover "
                             f"pinned the replica meanwhile; it is left in place")
    if current is not None and current.serving:
        return Report("none", STANDBY, sw.settings.service, refused=True,
                      reason=f"the home site answers its health check ({result.summary}); visitors stay home "
                             f"(the replica had visitors before: the closing alert or reconcile removes it)")
    if sw.settings.standby and current is not None:
        with steps.step("traffic") as s:
            s.changed = sw.router.restore()
            s.detail = f"{sw.router.name}: redirect off" if sw.router.name != "none" else "no router configured"
        return Report("none", STANDBY, sw.settings.service, refused=True,
                      reason=f"the home site answers its health check ({result.summary}), so the alert is late or "
                             f"partial; visitors stay home and the warm standby waits "
                             f"(set SWITCH_TRUST_ALERTS=true to fail over regardless)")
    deactivate(sw, steps, current)
    return Report("none", STANDBY, sw.settings.service, refused=True,
                  reason=f"the home site answers its health check ({result.summary}), so the alert is late or "
                         f"partial; no visitor was sent to the replica and it was removed "
                         f"(set SWITCH_TRUST_ALERTS=true to fail over regardless)")
