"""Reconcile: compare what should be with what is, and converge; what Cloud Scheduler calls.

It heals lost notifications without ever sending visitors away from a
healthy home:

- an alert of ours is open and no replica exists: fail over (home probed);
- an alert is open, or the replica is pinned: finish what is half made, and
  switch traffic only if home fails its probe (pinned: as the operator asked);
- no alert is open and the replica never had visitors: remove it, never
  finish it;
- no alert is open (or a close is pending after the flap guard) and the
  replica had visitors: fail back under the same guards as a closing alert;
- no replica: make sure no redirect points at nothing;
- SWITCH_STANDBY=true, no alert, no visitor on it: keep the warm standby
  ready and in step, and count failed probe rounds (``standby``).
"""

from __future__ import annotations

from .activate import activate
from .deactivate import changed_meanwhile, deactivate, guard
from .report import ACTIVE, STANDBY, Report
from .standby import keep as keep_standby


def reconcile(sw, *, trigger: str = "reconcile") -> Report:
    steps = sw.steps()
    replica = sw.get_managed(steps)
    alert_open = None
    if sw.alerts is not None:
        with steps.step("alerts") as s:
            alert_open = sw.alerts.any_open()
            s.detail = f"{sw.alerts.policy!r}: {'open' if alert_open else 'no open alert'}"
    check_home = not sw.settings.trust_alerts

    if sw.settings.standby and not alert_open and (replica is None or not (replica.serving or replica.pinned)):
        return keep_standby(sw, steps, replica, trigger)

    if replica is None:
        if alert_open:
            outcome = activate(sw, steps, None, check_home=check_home, verify=True)
            return _answer(sw, steps, outcome, trigger, "an alert is open but there was no replica "
                                                        "(a lost notification)")
        deactivate(sw, steps, None)
        return sw.report(steps, "failback", STANDBY, None, trigger=trigger,
                         reason="a redirect pointed at a replica that does not exist" if steps.changed
                         else "standby, and nothing is out of place")

    if replica.pinned or (alert_open and not replica.close_pending):
        why = "the replica is pinned by a manual failover" if replica.pinned else "the alert is still open"
        outcome = activate(sw, steps, replica, check_home=check_home and not replica.pinned, verify=True)
        return _answer(sw, steps, outcome, trigger, why, existing=True)

    if not replica.serving:
        # No alert asks for it and no visitor was ever sent to it (a late open
        # whose clean-up failed, a crash after create): remove it, never finish it.
        if alert_open is None and sw.settings.probe_url:
            result = sw.probe(steps)
            if not result.healthy:
                return sw.report(steps, "none", STANDBY, replica, trigger=trigger,
                                 reason=f"a replica no visitor was sent to, and the home site is not healthy "
                                        f"({result.summary}); waiting for the alert before sending visitors")
        elif alert_open is None:
            return sw.report(steps, "none", STANDBY, replica, trigger=trigger,
                             reason="a replica no visitor was sent to; without SWITCH_HOME_URL or an alert policy "
                                    "switch cannot tell whether it is wanted; remove it with POST /failback")
        deactivate(sw, steps, replica, automatic=True)
        return sw.report(steps, "failback", STANDBY, None, trigger=trigger,
                         reason="removed a replica that no alert wants and no visitor was sent to")

    evidence = alert_open is False or replica.close_pending is not None
    refusal = guard(sw, steps, replica, None, evidence)
    home_down = False
    if refusal is None:
        result = sw.probe(steps)
        if result is not None and not result.healthy:
            refusal = f"the home site is not healthy yet: {result.summary}; keeping the replica"
            home_down = True
    if refusal is None:
        refusal = changed_meanwhile(sw, steps, replica, automatic=True)
    if refusal is None:
        refusal = deactivate(sw, steps, replica, automatic=True)
    if refusal is not None:
        # Finish what may be half done (a redirect switched off by a failback
        # that was cut short), under the same probe rule as an alert.
        outcome = activate(sw, steps, replica, check_home=check_home and not home_down, verify=True)
        if isinstance(outcome, Report):
            return _answer(sw, steps, outcome, trigger, refusal)
        return sw.report(steps, "failover", ACTIVE, outcome, trigger=trigger,
                         reason=f"finished the replica; {refusal}" if steps.changed else refusal)
    return sw.report(steps, "failback", STANDBY, None, trigger=trigger,
                     reason="the incident is over and home is healthy" + (
                         " (a close the flap guard had held back)" if replica.close_pending else
                         " (a lost closing notification)"))


def _answer(sw, steps, outcome, trigger: str, why: str, existing: bool = False) -> Report:
    if isinstance(outcome, Report):
        return sw.report(steps, "none", outcome.state, None, trigger=trigger, reason=outcome.reason)
    return sw.report(steps, "failover", ACTIVE, outcome, trigger=trigger,
                     reason=f"finished the replica; {why}" if existing and steps.changed else why)
