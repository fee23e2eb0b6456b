"""From a notification to a desired state: the rules every way in shares.

The webhook body and the Pub/Sub message carry the same notification; both
end here and call the same converge code. Notifications can arrive twice,
late, or out of order (webhook retries, Pub/Sub redelivery), so:

1. Duplicates are harmless: converging twice on the same state changes nothing.
2. An event older than SWITCH_MAX_EVENT_AGE_SECONDS (its start for an open,
   its end for a close) is acknowledged and ignored; reconcile, which looks at
   what is true now, decides instead.
3. An open notification only sends visitors to a replica that has had none yet
   (a new one, or one an earlier alert left unfinished) if the home site fails
   its probe too, unless SWITCH_TRUST_ALERTS is set. This covers an open
   redelivered after its close, and a close that overtook its open.
4. A close only fails back when the failback guards allow it: not a
   policy-cancel close, not pinned, active long enough, home healthy.
5. Only switch's own alert policy is acted on (``alert.not_ours``); a
   notification of any other policy is acknowledged and ignored. With a sites
   file, a notification belongs to at most one site (``sites.route``) and
   only that site's Switch sees it; one of no site changes nothing.
6. An event dated more than FUTURE_SKEW_SECONDS ahead is ignored like a stale
   one: clocks drift by seconds, not minutes, and a far-future date would
   otherwise never grow stale.
"""

from __future__ import annotations

import time

from . import alert, logs
from .errors import SwitchError

FUTURE_SKEW_SECONDS = 300


def _ignored(switch, incident: alert.Incident, trigger: str, reason: str, outcome: str, started: float) -> dict:
    site = switch.settings.site or None if switch is not None else None
    logs.info(f"{trigger}: {reason}", site=site, incident=incident.id, trigger=trigger, action="none",
              outcome=outcome, duration_ms=int((time.monotonic() - started) * 1000))
    answer = {"action": "none", "state": None, "changed": False,
              "service": switch.settings.service if switch is not None else None,
              "reason": reason, "incident": incident.id, "trigger": trigger, "steps": []}
    if site:
        answer["site"] = site
    return {k: v for k, v in answer.items() if v is not None or k == "state"}


def handle_for_sites(sites, incident: alert.Incident, *, trigger: str) -> dict:
    """The notification, to the one site it belongs to; one of no site is acknowledged and changes nothing."""
    from .controllers import controller
    from .sites import route

    if not sites.multi:
        return handle_incident(controller(sites.any), incident, trigger=trigger)
    started = time.monotonic()
    if incident.is_test:
        return _ignored(None, incident, trigger, "test notification from the Cloud Monitoring console; nothing done",
                        "test", started)
    settings, why = route(incident, sites)
    if settings is None:
        return _ignored(None, incident, trigger, f"the notification belongs to no site: {why}; nothing done",
                        "no_site", started)
    return handle_incident(controller(settings), incident, trigger=trigger)


def handle_incident(switch, incident: alert.Incident, *, trigger: str, now: float | None = None) -> dict:
    started = time.monotonic()
    if incident.is_test:
        return _ignored(switch, incident, trigger, "test notification from the Cloud Monitoring console; nothing done",
                        "test", started)
    foreign = alert.not_ours(incident, switch.settings)
    if foreign is not None:
        return _ignored(switch, incident, trigger, f"{foreign}; nothing done", "other_policy", started)
    now = time.time() if now is None else now
    bound = switch.settings.max_event_age_seconds
    when = incident.event_time
    if when is not None and now - when > bound:
        return _ignored(switch, incident, trigger,
                        f"the incident was {incident.state} {int(now - when)} s ago, longer than "
                        f"SWITCH_MAX_EVENT_AGE_SECONDS={bound}; a late redelivery is not acted on "
                        f"(POST /reconcile converges on what is true now)", "stale", started)
    if when is not None and when - now > FUTURE_SKEW_SECONDS:
        return _ignored(switch, incident, trigger,
                        f"the incident is dated {int(when - now)} s in the future, more than the "
                        f"{FUTURE_SKEW_SECONDS} s a clock may be off; it is not acted on "
                        f"(POST /reconcile converges on what is true now)", "future", started)
    try:
        if incident.state == alert.OPEN:
            return switch.failover(incident=incident, trigger=trigger,
                                   check_home=not switch.settings.trust_alerts).to_dict()
        return switch.failback(incident=incident, automatic=True, trigger=trigger).to_dict()
    except SwitchError as exc:
        # Whoever logs the failure (app.py, handle_pubsub) names what failed.
        exc.details.setdefault("incident", incident.id)
        exc.details.setdefault("action", "failover" if incident.state == alert.OPEN else "failback")
        raise


def handle_notification(sites, body: bytes, *, trigger: str) -> dict:
    return handle_for_sites(sites, alert.parse_json(body), trigger=trigger)


def handle_pubsub(data) -> dict | None:
    """A Pub/Sub-delivered notification (the CloudEvent's data).

    Pub/Sub redelivers whatever raises, so only failures that a later attempt
    can fix (a retryable API error, a replica still starting) raise; a message
    that can never be processed is logged and acknowledged, never retried forever.
    """
    from . import sites
    from .errors import BadRequest, UpstreamError

    started = time.monotonic()
    message = data.get("message") if isinstance(data, dict) else None
    message_id = (message or {}).get("messageId") if isinstance(message, dict) else None

    def fields(exc: SwitchError) -> dict:
        return dict(outcome=exc.code, message_id=message_id, incident=exc.details.get("incident"),
                    action=exc.details.get("action"), duration_ms=int((time.monotonic() - started) * 1000))

    try:
        incident = alert.from_pubsub_message(message)
        return handle_for_sites(sites.load(), incident, trigger="pubsub")
    except UpstreamError as exc:
        if exc.retryable:
            logs.warning(f"pubsub: {exc.message}; Pub/Sub will redeliver", **fields(exc))
            raise
        logs.error(f"pubsub: {exc.message}; acknowledged without retry", **fields(exc))
    except BadRequest as exc:
        logs.error(f"pubsub: not a Cloud Monitoring notification ({exc.message}); acknowledged", **fields(exc))
    except SwitchError as exc:
        logs.error(f"pubsub: {exc.message}; acknowledged without retry", **fields(exc))
    return None
