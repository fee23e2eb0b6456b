"""``projects.alerts``: incidents, read-only, opened and closed by the test or the drill.

Alerts stand in for an uptime check that fails (``Emulator.open_alert``,
``POST /_emulator/alerts``). An alert names the real policy when one with that
display name exists; editing or deleting a policy's conditions closes its
open alerts, as Monitoring does (monitoring.md §2).
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass

from ..google import (
    GoogleError,
    invalid,
    json_response,
    opaque_token,
    read_token,
    rfc3339,
)

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
    policy_id: str  # made up when no policy of that name existed
    opened: float
    closed: float | None
    project: str | None  # None: visible in every project
    host: str | None
    policy_name: str | None = None  # the real policy, once one of that display name exists

    @property
    def state(self) -> str:
        return "OPEN" if self.closed is None else "CLOSED"

    def render(self, project: str, policy: dict | None = None) -> dict:
        alert = {
            "name": f"projects/{project}/alerts/{self.id}",
            "state": self.state,
            "openTime": rfc3339(self.opened),
        }
        if self.closed is not None:
            alert["closeTime"] = rfc3339(self.closed)
        labels = {"project_id": project, **({"host": self.host} if self.host else {})}
        about = {"name": f"projects/{project}/alertPolicies/{self.policy_id}", "displayName": self.policy}
        if policy is not None:
            about["name"] = policy["name"]
            about.update({k: copy.deepcopy(policy[k]) for k in ("userLabels", "severity") if policy.get(k)})
        alert.update(
            {
                "policy": about,
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


class AlertsMixin:
    """The alerts half of MonitoringApi (state lives there)."""

    def _policy_of(self, alert: Alert) -> dict | None:
        """The real policy an alert belongs to: linked when one of its display name exists."""
        if alert.policy_name in self.policies:
            return self.policies[alert.policy_name]
        for name, policy in self.policies.items():
            if policy.get("displayName") == alert.policy and alert.project in (None, name.split("/")[1]):
                alert.policy_name = name
                return policy
        return None

    def _newest_first(self, project: str | None) -> list[Alert]:
        visible = [a for a in self.alerts if project is None or a.project in (None, project)]
        return sorted(visible, key=lambda a: a.opened, reverse=True)

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
        page_of = alerts[start : start + size]
        # Empty lists and zero counts are left out, as Google's JSON encoding does.
        answer = {}
        if page_of:
            answer["alerts"] = [a.render(project, self._policy_of(a)) for a in page_of]
            answer["totalSize"] = len(alerts)
        if start + size < len(alerts):
            answer["nextPageToken"] = opaque_token(str(start + size))
        return json_response(answer)

    def get_alert(self, request, project, alert):
        for a in self._newest_first(project):
            if a.id == alert:
                return json_response(a.render(project, self._policy_of(a)))
        raise GoogleError(404, f"Alert projects/{project}/alerts/{alert} does not exist.", "NOT_FOUND")

    def _cancel_alerts(self, policy_name: str) -> None:
        """Editing or deleting a policy's conditions closes its open incidents (monitoring.md §2).

        Which edits count is not confirmed; here a change to ``conditions``
        or a delete does, other fields (channels, documentation) do not.
        """
        for alert in self.alerts:
            if alert.state == "OPEN" and (self._policy_of(alert) or {}).get("name") == policy_name:
                alert.closed = time.time()
