"""From a notification to a desired state: the rules every way in shares.

The webhook body and the Pub/Sub message carry the same notification; both
end here and call the same converge code.
"""

from __future__ import annotations

from . import alert, logs


def handle_incident(switch, incident: alert.Incident, *, trigger: str) -> dict:
    if incident.is_test:
        logs.info("test notification acknowledged; nothing done", incident=incident.id, trigger=trigger,
                  action="none", outcome="test")
        return {"action": "none", "state": None, "changed": False, "service": switch.settings.service,
                "reason": "test notification from the Cloud Monitoring console; nothing done",
                "incident": incident.id, "trigger": trigger, "steps": []}
    if incident.state == alert.OPEN:
        return switch.failover(incident=incident, trigger=trigger).to_dict()
    return switch.failback(incident=incident, automatic=True, trigger=trigger).to_dict()


def handle_notification(switch, body: bytes, *, trigger: str) -> dict:
    return handle_incident(switch, alert.parse_json(body), trigger=trigger)


def handle_pubsub(data) -> dict | None:
    """A Pub/Sub-delivered notification (the CloudEvent's data).

    Pub/Sub redelivers whatever raises, so only failures that a later attempt
    can fix (a retryable API error, a replica still starting) raise; a message
    that can never be processed is logged and acknowledged, never retried forever.
    """
    from . import config
    from .app import controller
    from .errors import BadRequest, SwitchError, UpstreamError

    message = data.get("message") if isinstance(data, dict) else None
    message_id = (message or {}).get("messageId") if isinstance(message, dict) else None
    try:
        incident = alert.from_pubsub_message(message)
        settings = config.load()
        return handle_incident(controller(settings), incident, trigger="pubsub")
    except UpstreamError as exc:
        if exc.retryable:
            logs.warning(f"pubsub: {exc.message}; Pub/Sub will redeliver", outcome=exc.code, message_id=message_id)
            raise
        logs.error(f"pubsub: {exc.message}; acknowledged without retry", outcome=exc.code, message_id=message_id)
    except BadRequest as exc:
        logs.error(f"pubsub: not a Cloud Monitoring notification ({exc.message}); acknowledged",
                   outcome=exc.code, message_id=message_id)
    except SwitchError as exc:
        logs.error(f"pubsub: {exc.message}; acknowledged without retry", outcome=exc.code, message_id=message_id)
    return None
