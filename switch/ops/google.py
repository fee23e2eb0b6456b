"""The discovery clients the operator side uses, built lazily, and one way to call them.

Every call goes through ``switch.transport``: the same requests transport,
retry policy and credentials choice as the function's own Run client, and
the same ``SWITCH_*_ENDPOINT`` overrides.
"""

from __future__ import annotations

from ..errors import UpstreamError

API_NAMES = {"monitoring": "Cloud Monitoring", "cloudscheduler": "Cloud Scheduler", "pubsub": "Pub/Sub",
             "cloudresourcemanager": "Resource Manager"}
API_HINTS = {
    "monitoring": "the caller needs roles/monitoring.editor and the Monitoring API enabled",
    "cloudscheduler": "the caller needs roles/cloudscheduler.admin and the Cloud Scheduler API enabled",
    "pubsub": "the caller needs roles/pubsub.admin on the topic",
    "cloudresourcemanager": "pass --project-number to skip this lookup",
}


class Google:
    """The discovery clients of one project, and ``call`` with switch's retries."""

    def __init__(self, settings):
        self.settings = settings
        self.parent = f"projects/{settings.project}"

    def _client(self, api: str, version: str, endpoint: str):
        from .. import transport

        return transport.client(api, version, endpoint, self.settings.http_timeout_seconds)

    @property
    def monitoring(self):
        return self._client("monitoring", "v3", self.settings.monitoring_endpoint).projects()

    @property
    def jobs(self):
        return self._client("cloudscheduler", "v1", self.settings.scheduler_endpoint).projects().locations().jobs()

    @property
    def topics(self):
        return self._client("pubsub", "v1", self.settings.pubsub_endpoint).projects().topics()

    @property
    def projects(self):
        return self._client("cloudresourcemanager", "v1", self.settings.resourcemanager_endpoint).projects()

    def call(self, request, api: str, what: str):
        """One API call with switch's retries; every failure becomes a SwitchError."""
        from ..transport import execute

        return execute(request, label=API_NAMES[api], api=api, what=what, retries=self.settings.api_retries,
                       base=self.settings.retry_base_seconds, hint=API_HINTS[api])

    def get_or_none(self, request, api: str, what: str) -> dict | None:
        """A GET whose 404 means "there is none"."""
        try:
            return self.call(request, api, what)
        except UpstreamError as exc:
            if exc.status_code == 404:
                return None
            raise

    def list_all(self, collection, key: str, api: str, what: str, **params) -> list[dict]:
        """Every page of a list."""
        items: list[dict] = []
        token = None
        while True:
            page = self.call(collection.list(**params, **({"pageToken": token} if token else {})), api, what) or {}
            items.extend(page.get(key) or [])
            token = page.get("nextPageToken")
            if not token:
                return items
