"""Cloud Monitoring notifications (schema 1.2) → Incident.

The same JSON arrives as a webhook body or as a Pub/Sub message's data
(monitoring.md §1, §4). Parsing is strict about what switch acts on (an
incident id and a state) and lenient about everything else: field types vary
between real payloads (``documentation`` is a string in test notifications,
``metric.labels`` may be absent, ``ended_at`` is null while open).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import BadRequest

OPEN = "open"
# The label setup puts on a site's alert policy when a sites file describes several (switch.sites).
SITE_LABEL = "switch-site"
CLOSED = "closed"
TEST = "test"

# The webhook's body limit (64 KiB), in base64.
MAX_PUBSUB_DATA = 4 * (64 * 1024 // 3 + 1)

# A close sent because someone edited or deleted the policy while the incident
# was open (monitoring.md §2). The site may still be down: not a recovery.
POLICY_CANCEL_MARKER = "incident cancelled because the alert policy"


@dataclass(frozen=True)
class Incident:
    id: str
    state: str  # "open", "closed" or "test"
    policy: str = ""
    started_at: int | None = None
    ended_at: int | None = None
    summary: str = ""
    cancelled: bool = False  # closed by a policy edit/delete, not by recovery
    policy_labels: tuple = ()  # the policy's user labels, as (key, value) pairs
    condition: str = ""  # the condition's resource name: projects/P/alertPolicies/ID/conditions/CID

    @property
    def is_test(self) -> bool:
        return self.state == TEST

    @property
    def event_time(self) -> int | None:
        """When the event this notification reports happened (close or open)."""
        return self.ended_at if self.state == CLOSED and self.ended_at else self.started_at


def _epoch(value, field_name: str) -> int | None:
    # The type first: false == 0 in Python, and a boolean is no time at all.
    if isinstance(value, bool) or not (value is None or isinstance(value, (int, float, str))):
        raise BadRequest(f"incident.{field_name} must be epoch seconds")
    if value is None or value == 0:
        return None
    try:
        number = int(float(value))
    except (ValueError, OverflowError):
        raise BadRequest(f"incident.{field_name} must be epoch seconds") from None
    if not 0 < number < 10**11:
        raise BadRequest(f"incident.{field_name} is out of range")
    return number


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse(payload) -> Incident:
    """An Incident from a decoded notification; BadRequest when it is not one."""
    if not isinstance(payload, dict):
        raise BadRequest("the body is not a Cloud Monitoring notification (expected a JSON object)")
    incident = payload.get("incident")
    if not isinstance(incident, dict):
        raise BadRequest("the body is not a Cloud Monitoring notification (no \"incident\" object)")
    version = payload.get("version")
    raw_state = incident.get("state")
    if not isinstance(raw_state, str):
        raise BadRequest("incident.state must be \"open\" or \"closed\"")
    incident_id = incident.get("incident_id")
    if isinstance(incident_id, (int, float)) and not isinstance(incident_id, bool):
        # json.loads takes NaN and Infinity (and 1e400 overflows to inf): no incident has those ids.
        incident_id = str(incident_id) if math.isfinite(incident_id) else None
    if not isinstance(incident_id, str) or not incident_id.strip() or len(incident_id) > 256:
        raise BadRequest("incident.incident_id must be a non-empty string")
    policy = _text(incident.get("policy_name"))[:512]
    summary = _text(incident.get("summary"))[:1024]
    labels = incident.get("policy_user_labels")
    policy_labels = tuple(sorted((str(k)[:63], v[:63]) for k, v in labels.items() if isinstance(v, str))[:64]) \
        if isinstance(labels, dict) else ()
    condition = incident.get("condition")
    condition_name = _text(condition.get("name"))[:512] if isinstance(condition, dict) else ""

    # The console's "send test notification" (monitoring.md §3): acknowledge, never act.
    if version == TEST:
        return Incident(id=incident_id, state=TEST, policy=policy, summary=summary)

    state = raw_state.strip().lower()
    if state not in (OPEN, CLOSED):
        raise BadRequest(f"incident.state {raw_state[:40]!r} is neither \"open\" nor \"closed\"")
    observed = _text(incident.get("observed_value"))
    cancelled = state == CLOSED and (
        POLICY_CANCEL_MARKER in observed.lower() or POLICY_CANCEL_MARKER in summary.lower())
    return Incident(
        id=incident_id,
        state=state,
        policy=policy,
        started_at=_epoch(incident.get("started_at"), "started_at"),
        ended_at=_epoch(incident.get("ended_at"), "ended_at"),
        summary=summary,
        cancelled=cancelled,
        policy_labels=policy_labels,
        condition=condition_name,
    )


def parse_json(body: bytes) -> Incident:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    return parse(payload)


def from_pubsub_message(message) -> Incident:
    """An Incident from a Pub/Sub message: ``{"data": base64(notification JSON), ...}``."""
    if not isinstance(message, dict):
        raise BadRequest("the Pub/Sub message is not an object")
    data = message.get("data")
    if not isinstance(data, (str, bytes)) or not data:
        raise BadRequest("the Pub/Sub message has no data")
    if len(data) > MAX_PUBSUB_DATA:
        # Refused before it is decoded or parsed: a notification is a few KB, and a
        # large nested payload would cost far more memory than its size.
        raise BadRequest(f"the Pub/Sub message data is {len(data)} bytes; a notification is at most "
                         f"{MAX_PUBSUB_DATA} (64 KiB of JSON in base64)")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the Pub/Sub message data is not base64") from None
    return parse_json(decoded)


def default_policy(settings) -> str | None:
    """The display name ``python -m switch setup`` gives the alert policy when SWITCH_ALERT_POLICY is unset."""
    if settings.alert_policy:
        return settings.alert_policy
    host = urlsplit(settings.home_url).hostname if settings.home_url else None
    return f"switch: {host} down" if host else None


def not_ours(incident: Incident, settings) -> str | None:
    """Why a notification is not about switch's own alert policy, or None when it is.

    switch acts only on its own policy: another policy routed to the same
    channel (a CPU alert, someone else's site) must never fail over or back.
    Ours, in order of trust: the policy's user labels that setup puts on it
    (``managed-by: switch``, ``switch-service: SERVICE``); the policy named by
    SWITCH_ALERT_POLICY, as its display name or its resource name
    (``projects/P/alertPolicies/ID``, matched through the condition's name);
    or, without it, the display name setup gives (``switch: HOST down``).
    """
    labels = dict(incident.policy_labels)
    if labels.get("managed-by") == "switch":
        if settings.site and labels.get(SITE_LABEL):
            if labels[SITE_LABEL] == settings.site:
                return None
            return (f"the notification is about switch's policy of another site ({labels[SITE_LABEL][:64]!r}), "
                    f"not {settings.site!r}")
        if labels.get("switch-service") == settings.service:
            return None
        return (f"the notification is about switch's policy of another service "
                f"({labels.get('switch-service')!r}), not {settings.service!r}")
    expected = default_policy(settings)
    if expected is None:
        return ("the notification's alert policy cannot be told to be switch's: set SWITCH_ALERT_POLICY (its "
                "display name) or SWITCH_HOME_URL, or create the policy with python -m switch setup")
    if expected.startswith("projects/") and "/alertPolicies/" in expected:
        if incident.condition.startswith(expected + "/conditions/") or incident.policy == expected:
            return None
    elif incident.policy == expected:
        return None
    return f"the notification is about the alert policy {incident.policy[:120]!r}, not switch's {expected!r}"
