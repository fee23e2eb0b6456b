"""Cloud Monitoring API v3: notification channels, uptime checks, alert policies and alerts.

One module per collection (``channels``, ``checks``, ``policies``, ``alerts``),
each a mixin of ``MonitoringApi``, which holds the state they share: a policy
names channels and checks that must exist, a check or channel in use cannot
go, and alerts belong to policies.

``projects.notificationChannels``, ``projects.uptimeCheckConfigs`` and
``projects.alertPolicies`` are list/get/create/patch/delete, validated the way
Monitoring validates them (monitoring.md §6) and answered in its JSON shapes:
server-assigned names, creation and mutation records, secrets read back
masked, proto3's habit of leaving false and empty fields out.

``projects.alerts`` (incidents) is read-only: alerts are opened and closed by
the test or drill (``Emulator.open_alert``, ``POST /_emulator/alerts``),
standing in for an uptime check that fails. An alert names the real policy
when one with that display name exists.

Where Google's behaviour is inferred rather than confirmed, the comment says so.
Sources: the discovery document shipped with google-api-python-client, and
HTTP logs that k8s-config-connector recorded against the real API
(``pkg/test/resourcefixture/testdata/basic/monitoring``).

Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import copy
import random
import time

from ..google import GoogleApi
from ..routing import route
from ..store import list_items
from .alerts import DEFAULT_PAGE_SIZE, Alert, AlertsMixin
from .channels import NOTIFICATION_AGENT, ChannelsMixin
from .checks import ChecksMixin
from .policies import PoliciesMixin

CHANNELS = "v3/projects/{project}/notificationChannels"
CHECKS = "v3/projects/{project}/uptimeCheckConfigs"
POLICIES = "v3/projects/{project}/alertPolicies"


class MonitoringApi(ChannelsMixin, ChecksMixin, PoliciesMixin, AlertsMixin, GoogleApi):
    prefix = "v3/"

    def __init__(self, project_number: str):
        self.project_number = project_number
        self.alerts: list[Alert] = []
        self.policy_ids: dict[str, str] = {}
        # Full resource name -> the stored resource (secrets in clear), in creation order.
        self.channels: dict[str, dict] = {}
        self.checks: dict[str, dict] = {}
        self.policies: dict[str, dict] = {}
        # Monitoring's service agent appears with the project's first Pub/Sub channel.
        self.agent_ready = False
        # Lists answer this many items when the caller gives no pageSize; a test
        # may lower it to make clients follow nextPageToken.
        self.page_size = DEFAULT_PAGE_SIZE
        self.routes = [
            route("GET", "v3/projects/{project}/alerts", self.list_alerts),
            route("GET", "v3/projects/{project}/alerts/{alert}", self.get_alert),
            route("GET", CHANNELS, self.list_channels),
            route("POST", CHANNELS, self.create_channel),
            route("GET", CHANNELS + "/{cid}", self.get_channel),
            route("PATCH", CHANNELS + "/{cid}", self.patch_channel),
            route("DELETE", CHANNELS + "/{cid}", self.delete_channel),
            route("GET", CHECKS, self.list_checks),
            route("POST", CHECKS, self.create_check),
            route("GET", CHECKS + "/{cid}", self.get_check),
            route("PATCH", CHECKS + "/{cid}", self.patch_check),
            route("DELETE", CHECKS + "/{cid}", self.delete_check),
            route("GET", POLICIES, self.list_policies),
            route("POST", POLICIES, self.create_policy),
            route("GET", POLICIES + "/{pid}", self.get_policy),
            route("PATCH", POLICIES + "/{pid}", self.patch_policy),
            route("DELETE", POLICIES + "/{pid}", self.delete_policy),
        ]

    @staticmethod
    def _actor(project: str) -> str:
        return f"emulator@{project}.iam.gserviceaccount.com"

    # -- control (not Google API methods) ---------------------------------

    def open_alert(self, policy: str, project: str | None = None, host: str | None = None) -> str:
        """Open an incident for the policy, or return the one already open."""
        alert = next((a for a in self.alerts if a.policy == policy and a.state == "OPEN"), None)
        if alert is None:
            # Incident ids look like "0.nx4k2ab9pq7z".
            alert_id = "0." + "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
            policy_id = self.policy_ids.setdefault(policy, str(random.randrange(10**19, 10**20)))
            alert = Alert(alert_id, policy, policy_id, time.time(), None, project, host)
            self._policy_of(alert)
            self.alerts.append(alert)
        return f"projects/{alert.project or self.project_number}/alerts/{alert.id}"

    def close_alert(self, policy: str) -> str | None:
        """Close the policy's open incident; None when none was open."""
        for alert in self.alerts:
            if alert.policy == policy and alert.state == "OPEN":
                alert.closed = time.time()
                return f"projects/{alert.project or self.project_number}/alerts/{alert.id}"
        return None

    def has_agent(self, email: str) -> bool:
        """Whether Monitoring's notification service agent ``email`` exists yet."""
        return self.agent_ready and email == NOTIFICATION_AGENT.format(number=self.project_number)

    def snapshot(self) -> list[dict]:
        return [a.render(a.project or self.project_number, self._policy_of(a)) for a in self._newest_first(None)]

    def snapshot_of(self, collection: str) -> list[dict]:
        """Channels, checks or policies as GET shows them (secrets masked)."""
        if collection == "notificationChannels":
            return [self._render_channel(c) for c in self.channels.values()]
        if collection == "uptimeCheckConfigs":
            return [self._render_check(c) for c in self.checks.values()]
        return [copy.deepcopy(p) for p in self.policies.values()]

    # -- shared by the three collections -------------------------------------

    def _list_items(self, request, project: str, stored: dict, collection: str, render) -> dict:
        return list_items(request.args, project, stored, collection, render, self.page_size)
