"""Cloud Monitoring API v3: the read-only ``projects.alerts`` (incidents).

Alerts are opened and closed by the test or drill (``Emulator.open_alert``,
``POST /_emulator/alerts``), standing in for an uptime check that fails.

Each resource family is a handful of handlers plus lines in ``self.routes``;
notificationChannels, uptimeCheckConfigs or alertPolicies go here the same way
without touching the server.

Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

from .google import (
    GoogleError,
    fault_response,
    html_not_found,
    invalid,
    json_response,
    opaque_token,
    read_token,
    rfc3339,
)
from .routing import Api, route

# The subset of the list filter switch needs; each clause is `field = "value"`.
FILTER_FIELDS = {"state": "state", "policy.display_name": "policy"}
# One clause, then AND or the end of the text.
_CLAUSE = re.compile(r'\s*(state|policy\.display_name)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:AND\s+(?=\S)|$)')
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass
class Alert:
    id: str
    policy: str  # the policy's display name
    policy_id: str
    opened: float
    closed: float | None
    project: str | None  # None: visible in every project
    host: str | None

    @property
    def state(self) -> str:
        return "OPEN" if self.closed is None else "CLOSED"

    def render(self, project: str) -> dict:
        alert = {
            "name": f"projects/{project}/alerts/{self.id}",
            "state": self.state,
            "openTime": rfc3339(self.opened),
        }
        if self.closed is not None:
            alert["closeTime"] = rfc3339(self.closed)
        labels = {"project_id": project, **({"host": self.host} if self.host else {})}
        alert.update(
            {
                "policy": {"name": f"projects/{project}/alertPolicies/{self.policy_id}", "displayName": self.policy},
                "resource": {"type": "uptime_url", "labels": labels},
                "metric": {"type": "monitoring.googleapis.com/uptime_check/check_passed"},
            }
        )
        return alert


def parse_filter(text: str):
    """A predicate over alerts for ``state = "OPEN" AND policy.display_name = "x"``.

    Anything outside that subset is refused: silently ignoring part of a
    filter would hand the caller alerts it asked not to see.
    """
    wanted: dict[str, str] = {}
    text, pos = text.strip(), 0
    while pos < len(text):
        m = _CLAUSE.match(text, pos)
        if not m:
            raise invalid(
                f"Invalid filter '{text}': the emulator understands state = \"OPEN\"|\"CLOSED\" and "
                'policy.display_name = "NAME", joined by AND.'
            )
        field, value = FILTER_FIELDS[m.group(1)], re.sub(r"\\(.)", r"\1", m.group(2))
        if field == "state" and value not in ("OPEN", "CLOSED"):
            raise invalid(f"Invalid filter '{text}': state must be \"OPEN\" or \"CLOSED\".")
        wanted[field] = value
        pos = m.end()
    return lambda alert: all(getattr(alert, f) == v for f, v in wanted.items())


class MonitoringApi(Api):
    prefix = "v3/"

    def __init__(self, project_number: str):
        self.project_number = project_number
        self.alerts: list[Alert] = []
        self.policy_ids: dict[str, str] = {}
        self.routes = [
            route("GET", "v3/projects/{project}/alerts", self.list_alerts),
            route("GET", "v3/projects/{project}/alerts/{alert}", self.get_alert),
        ]

    def not_found(self, request):
        return html_not_found(request.path)

    def fault(self, status, retry_after=None):
        return fault_response(status, retry_after)

    # -- control (not Google API methods) ---------------------------------

    def open_alert(self, policy: str, project: str | None = None, host: str | None = None) -> str:
        """Open an incident for the policy, or return the one already open."""
        alert = next((a for a in self.alerts if a.policy == policy and a.state == "OPEN"), None)
        if alert is None:
            # Incident ids look like "0.nx4k2ab9pq7z".
            alert_id = "0." + "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
            policy_id = self.policy_ids.setdefault(policy, str(random.randrange(10**19, 10**20)))
            alert = Alert(alert_id, policy, policy_id, time.time(), None, project, host)
            self.alerts.append(alert)
        return f"projects/{alert.project or self.project_number}/alerts/{alert.id}"

    def close_alert(self, policy: str) -> str | None:
        """Close the policy's open incident; None when none was open."""
        for alert in self.alerts:
            if alert.policy == policy and alert.state == "OPEN":
                alert.closed = time.time()
                return f"projects/{alert.project or self.project_number}/alerts/{alert.id}"
        return None

    def snapshot(self) -> list[dict]:
        return [a.render(a.project or self.project_number) for a in self._newest_first(None)]

    def _newest_first(self, project: str | None) -> list[Alert]:
        visible = [a for a in self.alerts if project is None or a.project in (None, project)]
        return sorted(visible, key=lambda a: a.opened, reverse=True)

    # -- projects.alerts --------------------------------------------------

    def list_alerts(self, request, project):
        matches = parse_filter(request.args.get("filter", ""))
        order = request.args.get("orderBy", "").strip()
        if order not in ("", "openTime desc", "open_time desc", "openTime asc", "open_time asc"):
            raise invalid(f"Invalid orderBy '{order}': the emulator supports openTime asc|desc.")
        try:
            size = int(request.args.get("pageSize") or DEFAULT_PAGE_SIZE)
            start = int(read_token(request.args["pageToken"])) if request.args.get("pageToken") else 0
        except ValueError:
            raise invalid("Invalid pageSize or pageToken.") from None
        if size < 0:
            raise invalid("pageSize must not be negative.")
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        alerts = [a for a in self._newest_first(project) if matches(a)]
        if order.endswith("asc"):
            alerts.reverse()
        page = alerts[start : start + size]
        # Empty lists and zero counts are left out, as Google's JSON encoding does.
        answer = {}
        if page:
            answer["alerts"] = [a.render(project) for a in page]
            answer["totalSize"] = len(alerts)
        if start + size < len(alerts):
            answer["nextPageToken"] = opaque_token(str(start + size))
        return json_response(answer)

    def get_alert(self, request, project, alert):
        for a in self._newest_first(project):
            if a.id == alert:
                return json_response(a.render(project))
        raise GoogleError(404, f"Alert projects/{project}/alerts/{alert} does not exist.", "NOT_FOUND")
