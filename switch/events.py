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
