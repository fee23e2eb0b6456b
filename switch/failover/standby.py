"""The warm standby (SWITCH_STANDBY=true): reconcile keeps it ready, and may fail over to it on its own.

Between outages the replica stays deployed, public, labelled as ours and
with no visitors; Cloud Run scales it to zero, so it costs nothing but the
image's storage. Each reconcile round, when no visitor is on it and no alert
asks for it:

- a redirect left pointing at it (a failover cut short) is switched off;
- a missing standby is created; one whose image or settings differ from
  SWITCH_IMAGE and the replica settings is rolled to a new revision (never
  while visitors are on it: then it waits for the failback);
- with SWITCH_PROBE_FAILOVER_AFTER=N, home is probed: a failed round adds
  one to ``switch/probe-failures`` on the standby, a healthy one resets it,
  and the Nth failed round in a row fails over without waiting for the
  alert. The count lives on the standby, so a restart between rounds, or
  rounds run by different instances, count the same.
"""

from __future__ import annotations

from .. import logs
from ..cloudrun import Replica, service_body
from ..errors import ReplicaFailed
from .activate import activate, way_out
from .report import ACTIVE, STANDBY, Report, Steps


def keep(sw, steps: Steps, replica: Replica | None, trigger: str) -> Report:
    """Reconcile's round for a warm standby that no visitor is on and no alert asks for."""
    settings = sw.settings
    _no_stray_redirect(sw, steps)
    if replica is None:
        with steps.step("create") as s:
            replica = sw.run.create(service_body(settings))
            s.changed = True
            s.detail = f"the warm standby, image {settings.image}; public at creation, no visitors"
        if not replica.open_to_all:
            with steps.step("public") as s:
                s.changed = sw.run.make_public()
                s.detail = "allUsers granted roles/run.invoker (the invoker IAM check may not be switched off here)"
        return sw.report(steps, "standby", STANDBY, None, trigger=trigger,
                         reason="created the warm standby; Cloud Run is starting its first revision")

    reason = None
    if settings.probe_failover_after:
        outcome = _count(sw, steps, replica, trigger)
        if isinstance(outcome, Report):
            return outcome
        replica, reason = outcome
    if not replica.matches(settings):
        with steps.step("roll") as s:
            replica = sw.run.roll(replica, settings)
            s.changed = True
            s.detail = f"a new revision of the warm standby from image {settings.image}; the redirect is untouched"
        reason = "; ".join(filter(None, ["rolled the warm standby to the current settings", reason]))
    elif replica.ready is False:
        raise ReplicaFailed(f"the warm standby {replica.name!r} failed: {replica.message}. {way_out(settings)}", api="run")
    return sw.report(steps, "standby", STANDBY, None, trigger=trigger,
                     reason=reason or f"the warm standby is {'ready' if replica.ready else 'starting'} "
                                      f"({replica.revision or 'no revision ready yet'}); visitors are home")


def _no_stray_redirect(sw, steps: Steps) -> None:
    """A redirect to a standby no visitor is meant to be on (a failover cut short before its mark) goes."""
    if sw.router.name == "none":
        return
    with steps.step("traffic") as s:
        current = sw.router.current()
        s.detail = f"{sw.router.name}: {'redirect on' if current.enabled else 'redirect off'}"
    if not current.enabled:
        return
    now = sw.get_managed(steps, "look again")
    if now is not None and (now.serving or now.pinned):
        return  # a failover finished meanwhile: the next round sees it as such
    with steps.step("traffic") as s:
        s.changed = sw.router.restore()
        s.detail = f"{sw.router.name}: redirect off (it pointed at the standby, which no visitor is meant to be on)"


def _count(sw, steps: Steps, replica: Replica, trigger: str) -> Report | tuple[Replica, str | None]:
    """One round of detection by probe: count it on the standby, or fail over on the Nth failure in a row."""
    after = sw.settings.probe_failover_after
    result = sw.probe(steps)
    if result.healthy:
        if replica.probe_failures:
            with steps.step("count") as s:
                replica = sw.run.count_probe_failure(replica, failed=False)
                s.changed = True
                s.detail = "home is healthy again: the count of failed rounds starts over"
        return replica, None
    failures = replica.probe_failures + 1
    if failures < after:
        with steps.step("count") as s:
            replica = sw.run.count_probe_failure(replica, failed=True)
            s.changed = True
            s.detail = f"failed round {replica.probe_failures} of {after}"
        logs.warning(f"home failed its health check, round {replica.probe_failures} of "
                     f"SWITCH_PROBE_FAILOVER_AFTER={after}: {result.summary}", probe_failures=replica.probe_failures)
        return replica, (f"the home site is not healthy ({result.summary}): failed round "
                         f"{replica.probe_failures} of {after} before failing over")
    why = (f"the home site failed its health check in {failures} reconcile rounds in a row "
           f"(SWITCH_PROBE_FAILOVER_AFTER={after}): failed over without waiting for the alert")
    logs.warning(why, probe=result.summary)
    # Home was just probed: that was this round's evidence; the mark clears the count.
    outcome = activate(sw, steps, replica, check_home=False, verify=True)
    return sw.report(steps, "failover", ACTIVE, outcome, trigger=trigger, reason=why)
