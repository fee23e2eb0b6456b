"""Failback: converge on ``standby``, visitors home and the replica gone (or, warm standby, kept idle).

Order is the safety rule: traffic home ▸ delete (or rest). Visitors are never
sent to a replica that no longer exists.

An automatic failback (our alert's close, reconcile) passes the guards first:
not a close caused by editing the policy, the close of this replica's
incident, not pinned, visitors on it for SWITCH_MIN_ACTIVE_SECONDS (a close
that comes sooner is noted on the replica, ``switch/close-pending``, and
reconcile carries it out once the time has passed), and home healthy. The
probe takes seconds, so the replica is read again after it and before each
destructive step: a replica an operator pinned meanwhile, or that visitors
were sent to again, is never taken away.
"""

from __future__ import annotations

from .. import logs
from ..alert import Incident
from ..cloudrun import CLOSE_PENDING, Replica
from ..errors import UpstreamError
from .report import ACTIVE, STANDBY, Report, Steps


def failback(sw, *, force: bool = False, automatic: bool = True, incident: Incident | None = None,
             trigger: str = "manual", evidence: bool = True) -> Report:
    """``evidence``: something says home is back besides a probe (our alert's close; for reconcile, the
    alert API or a pending close). Without SWITCH_HOME_URL an automatic failback needs it."""
    steps = sw.steps()
    replica = sw.get_managed(steps)
    incident_id = incident.id if incident else None
    refusal = None
    if replica is not None and automatic:
        refusal = guard(sw, steps, replica, incident, evidence)
    if replica is not None and refusal is None and not force:
        result = sw.probe(steps)
        if result is not None and not result.healthy:
            refusal = f"the home site is not healthy yet: {result.summary}; keeping the replica"
        elif result is None and automatic:
            logs.warning(f"{trigger}: failing back without probing home (SWITCH_HOME_URL is not set); the "
                         f"closing alert is the only evidence that home is back", incident=incident_id)
    if refusal is None and replica is not None and (automatic or not force):
        refusal = changed_meanwhile(sw, steps, replica, automatic)
    if refusal is not None:
        state = ACTIVE if replica is not None and replica.serving else STANDBY
        return sw.report(steps, "none", state, replica, reason=refusal, trigger=trigger, incident=incident_id,
                         refused=True)
    refusal = deactivate(sw, steps, replica, automatic=automatic)
    if refusal is not None:
        return sw.report(steps, "none", ACTIVE, replica, reason=refusal, trigger=trigger, incident=incident_id,
                         refused=True)
    if sw.settings.standby:
        return sw.report(steps, "failback", STANDBY, None, trigger=trigger, incident=incident_id,
                         reason="visitors are home; the warm standby stays" if steps.changed else
                         "visitors are home already; the warm standby waits" if replica is not None else
                         "no replica exists; reconcile creates the warm standby")
    return sw.report(steps, "failback", STANDBY, None, trigger=trigger, incident=incident_id,
                     reason=None if steps.changed else "no replica exists; already on standby")


def guard(sw, steps: Steps, replica: Replica, incident: Incident | None, evidence: bool) -> str | None:
    """Why an automatic failback must not happen now (None when it may)."""
    if incident is not None and incident.cancelled:
        return ("the incident was closed because its alert policy was edited or deleted, "
                "which says nothing about the home site; keeping the replica")
    if incident is not None and replica.incident and incident.id != replica.incident:
        return (f"this close is of incident {incident.id}, but the replica serves incident {replica.incident}; "
                f"keeping it until that one closes (or reconcile finds no alert open)")
    if replica.pinned:
        return "the replica is pinned by a manual failover; fail back with POST /failback"
    if replica.activated_at is not None:
        active_for = sw.wall() - replica.activated_at
        if active_for < sw.settings.min_active_seconds:
            wait = f"SWITCH_MIN_ACTIVE_SECONDS={sw.settings.min_active_seconds}"
            if incident is None:
                return (f"visitors have been on the replica for {max(active_for, 0):.0f} s, less than {wait}; "
                        f"keeping it to avoid flapping")
            if replica.close_pending != incident.id:
                with steps.step("close pending") as s:
                    sw.run.replace(replica, annotations={CLOSE_PENDING: incident.id[:256]})
                    s.changed = True
                    s.detail = f"incident {incident.id} closed; reconcile fails back after the flap guard"
            return (f"visitors have been on the replica for {max(active_for, 0):.0f} s, less than {wait}; the "
                    f"close is noted on the replica and reconcile fails back once that time has passed")
    if not sw.settings.probe_url and not evidence:
        return ("SWITCH_HOME_URL is not set and no closing alert says home is back; fail back by hand "
                "(POST /failback) or set SWITCH_HOME_URL")
    return None


def changed_meanwhile(sw, steps: Steps, before: Replica, automatic: bool) -> str | None:
    """Read the replica again (a probe takes seconds): why not to go on, or None."""
    now = sw.get_managed(steps, "look again")
    if now is None:
        return None
    if now.uid != before.uid:
        return "the replica was replaced meanwhile; reconcile decides about the new one"
    if automatic and now.pinned and not before.pinned:
        return "a manual failover pinned the replica meanwhile; it is left in place"
    if (now.activated_at or 0) > (before.activated_at or 0):
        return "visitors were sent to the replica again meanwhile (a new failover); keeping it"
    return None


def deactivate(sw, steps: Steps, replica: Replica | None, *, automatic: bool = False) -> str | None:
    """traffic home ▸ delete. Returns why it stopped halfway (traffic put back), or None when done."""
    with steps.step("traffic") as s:
        s.changed = sw.router.restore()
        s.detail = f"{sw.router.name}: redirect off" if sw.router.name != "none" else "no router configured"
    if replica is None:
        return None
    if automatic and s.changed:
        # The last moment to notice an operator's pin: visitors were home for a
        # moment only; send them back to the replica the operator wants.
        now = sw.get_managed(steps, "look again")
        if now is not None and now.pinned and not replica.pinned and now.url:
            with steps.step("traffic") as back:
                back.changed = sw.router.send_to(now.url)
                back.detail = f"{sw.router.name} → {now.url} again: pinned meanwhile"
            return "a manual failover pinned the replica meanwhile; visitors are on it again"
    if sw.settings.standby:
        return _rest(sw, steps, replica)
    with steps.step("delete") as s:
        s.changed = sw.run.delete(replica)
        s.detail = replica.name
    sw.memo(sw._public_seen, replica.uid, add=False)
    if sw.router.name != "none" and sw.router.current().enabled:
        # A failover running at the same time switched traffic on after our
        # first restore; the replica is gone now, so switch it off again.
        with steps.step("traffic") as s:
            s.changed = sw.router.restore()
            s.detail = f"{sw.router.name}: redirect off again (a concurrent failover had switched it on)"
    return None


def _rest(sw, steps: Steps, replica: Replica) -> str | None:
    """A warm standby is kept: shed the notes of this stay of visitors, so the next outage starts clean."""
    with steps.step("rest") as s:
        try:
            rested = sw.run.rest(replica)
        except UpstreamError as exc:
            if exc.status_code != 404:
                raise
            s.detail = "the standby was deleted meanwhile; reconcile creates it again"
            return None
        if rested is None:
            s.detail = "visitors were sent to the standby again meanwhile (a newer failover)"
        else:
            s.changed = rested is not replica
            s.detail = "the warm standby stays, public, with no visitors (Cloud Run scales it to zero)"
    if rested is not None:
        return None
    # The newer failover's redirect may have come before our restore: it wins, so send visitors back.
    now = sw.run.get()
    if now is not None and now.managed and now.serving and now.url:
        with steps.step("traffic") as back:
            back.changed = sw.router.send_to(now.url)
            back.detail = f"{sw.router.name} → {now.url} again: a newer failover"
    return "visitors were sent to the replica again meanwhile (a newer failover); it keeps them"
