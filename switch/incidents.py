"""Is the alert policy's incident open right now? (Monitoring v3 ``projects.alerts``)

Reconcile asks this so a lost notification cannot leave switch in the wrong
state: an open alert with no replica is a lost "open", a replica with no open
alert may be a lost "closed".
"""

from __future__ import annotations

from .errors import UpstreamError


class OpenAlerts:
    """Open alerts of switch's policy: by the labels setup puts on it (``managed-by: switch`` and
    ``switch-service``), by its resource name, or by its display name (``alert.default_policy``)."""

    def __init__(self, client, project: str, policy: str, *, service: str = "", retries: int = 4,
                 retry_base: float = 0.5):
        self._alerts = client.projects().alerts()
        self.project = project
        self.policy = policy
        self.service = service
        self.retries = retries
        self.retry_base = retry_base

    @classmethod
    def from_settings(cls, settings, client=None) -> "OpenAlerts":
        if client is None:
            from .transport import monitoring_client

            client = monitoring_client(settings)
        from .alert import default_policy

        return cls(client, settings.project, default_policy(settings), service=settings.service,
                   retries=settings.api_retries, retry_base=settings.retry_base_seconds)

    def _list(self, filter_: str | None) -> list[dict]:
        from .transport import execute

        found, token = [], None
        for _ in range(20):  # at most 20 pages of 100: an open incident is near the top
            kwargs = {"parent": f"projects/{self.project}", "pageSize": 100}
            if filter_:
                kwargs["filter"] = filter_
            if token:
                kwargs["pageToken"] = token
            page = execute(self._alerts.list(**kwargs), label="Cloud Monitoring", api="monitoring",
                           what="alerts.list", retries=self.retries, base=self.retry_base,
                           hint="the function's service account needs roles/monitoring.alertViewer")
            found.extend(page.get("alerts") or [])
            token = page.get("nextPageToken")
            if not token:
                break
        return found

    def _ours(self, alert: dict) -> bool:
        policy = alert.get("policy") or {}
        labels = policy.get("userLabels") or {}
        if labels.get("managed-by") == "switch":
            return labels.get("switch-service") == self.service
        if self.policy.startswith("projects/"):
            return policy.get("name") == self.policy
        return policy.get("displayName") == self.policy

    def open(self) -> list[dict]:
        """Open alerts of our policy, newest first."""
        try:
            alerts = self._list('state = "OPEN"')
        except UpstreamError as exc:
            # The filter syntax comes from gcloud examples; that REST accepts it is
            # not confirmed. On INVALID_ARGUMENT, list and filter here instead.
            if exc.status_code != 400:
                raise
            alerts = self._list(None)
        return [a for a in alerts if a.get("state") == "OPEN" and self._ours(a)]

    def any_open(self) -> bool:
        return bool(self.open())
