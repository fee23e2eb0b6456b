"""``projects.notificationChannels``: list/get/create/patch/delete, validated like Monitoring.

Secrets read back masked; a channel's type is fixed; a channel a policy still
uses cannot be deleted without ``force``.
"""

from __future__ import annotations

import copy
import re
import time

from ..google import GoogleError, invalid, json_response, read_json, rfc3339
from ..protojson import apply_mask, parse_mask, user_labels
from ..store import numeric_id
from ..validate import bool_field, is_http_url, object_field, text_field

# Channel types (notificationChannelDescriptors) and their labels: required, then optional.
CHANNEL_TYPES = {
    "webhook_basicauth": (("url", "username", "password"), ()),
    "webhook_tokenauth": (("url",), ()),
    "pubsub": (("topic",), ()),
    "email": (("email_address",), ()),
    "sms": (("number",), ()),
    "slack": (("channel_name", "auth_token"), ("team",)),
    "pagerduty": (("service_key",), ()),
    "google_chat": (("space",), ()),
}
# Labels Monitoring reads back masked (Terraform's sensitive_labels). The mask
# for channels is not confirmed; six asterisks is what the same API answers for
# an uptime check's httpCheck.authInfo.password (recorded by config-connector).
SENSITIVE_LABELS = frozenset({"password", "auth_token", "service_key"})
REDACTED = "******"
TOPIC = re.compile(r"^projects/[^/]+/topics/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
CHANNEL_NAME = re.compile(r"^projects/([^/]+)/notificationChannels/([^/]+)$")
CHANNEL_FIELDS = ("type", "displayName", "description", "labels", "userLabels", "enabled")
# The service agent that publishes Pub/Sub notifications; it exists once the
# project has its first Pub/Sub channel (monitoring.md §8).
NOTIFICATION_AGENT = "service-{number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"


class ChannelsMixin:
    """The notification channels of MonitoringApi (state lives there)."""

    def _channel(self, project: str, cid: str) -> dict:
        name = f"projects/{project}/notificationChannels/{cid}"
        found = self.channels.get(name)
        if found is None:
            # Wording not confirmed.
            raise GoogleError(404, f"Could not find notification channel '{name}'.", "NOT_FOUND")
        return found

    @staticmethod
    def _render_channel(channel: dict) -> dict:
        shown = copy.deepcopy(channel)
        for key in SENSITIVE_LABELS & set(shown.get("labels") or {}):
            shown["labels"][key] = REDACTED
        return shown

    def _validate_channel(self, body: dict) -> dict:
        """The channel as Monitoring stores it; 400 in Monitoring's words when it would refuse it."""
        unknown = set(body) - set(CHANNEL_FIELDS) - {"name", "creationRecord", "mutationRecords",
                                                      "verificationStatus"}
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at "
                          "'notification_channel': Cannot find field.")
        kind = text_field(body.get("type"), "notification_channel.type")
        if not kind:
            raise invalid("Request was missing field notification_channel.type.")
        if kind not in CHANNEL_TYPES:
            raise invalid(f"Field notification_channel.type had an invalid value of \"{kind}\": unknown channel "
                          f"type; known: {', '.join(sorted(CHANNEL_TYPES))}.")
        labels = object_field(body.get("labels"), "notification_channel.labels")
        required, optional = CHANNEL_TYPES[kind]
        for key, value in labels.items():
            if key not in required + optional:
                raise invalid(f"Field notification_channel.labels[{key}] had an invalid value: the label is not "
                              f"defined for channel type {kind} (it takes {', '.join(required + optional)}).")
            if not isinstance(value, str):
                raise invalid(f"Invalid value at 'notification_channel.labels[{key}]': expected a string.")
            if value == "":
                # Google's words (terraform-provider-google#11346).
                raise invalid(f"Field notification_channel.labels[{key}] had an invalid value: "
                              "Value must NOT be empty if provided.")
        for key in required:
            if key not in labels:
                raise invalid(f"Request was missing field notification_channel.labels[{key}].")
        if "url" in labels and not is_http_url(labels["url"]):
            raise invalid(f"Field notification_channel.labels[url] had an invalid value of \"{labels['url']}\": "
                          "the URL must start with http:// or https:// and name a host.")
        if "topic" in labels and not TOPIC.match(labels["topic"]):
            raise invalid(f"Field notification_channel.labels[topic] had an invalid value of \"{labels['topic']}\": "
                          "expected projects/PROJECT_ID/topics/TOPIC_ID.")
        bool_field(body.get("enabled"), "notification_channel.enabled")
        channel = {
            "type": kind,
            "displayName": text_field(body.get("displayName"), "notification_channel.display_name", 512),
            "description": text_field(body.get("description"), "notification_channel.description", 1024),
            "labels": dict(labels),
            "userLabels": user_labels(body.get("userLabels"), "notification_channel.user_labels"),
            "enabled": body.get("enabled", True),  # a BoolValue: false is kept, absent means true
        }
        return {k: v for k, v in channel.items() if v not in ("", {})}

    def list_channels(self, request, project):
        return json_response(self._list_items(request, project, self.channels, "notificationChannels",
                                        self._render_channel))

    def get_channel(self, request, project, cid):
        return json_response(self._render_channel(self._channel(project, cid)))

    def create_channel(self, request, project):
        channel = self._validate_channel(read_json(request))
        now = rfc3339(time.time())
        name = f"projects/{project}/notificationChannels/{numeric_id()}"
        stored = {**channel, "name": name, "creationRecord": {"mutateTime": now},
                  "mutationRecords": [{"mutateTime": now}]}
        self.channels[name] = stored
        if stored["type"] == "pubsub":
            self.agent_ready = True
        return json_response(self._render_channel(stored))

    def patch_channel(self, request, project, cid):
        stored = self._channel(project, cid)
        body = read_json(request)
        paths = parse_mask(request.args.get("updateMask"))
        if not paths:  # no mask: every field the body carries
            paths = [[f] for f in CHANNEL_FIELDS if f in body]
        for path in paths:
            if path[0] not in CHANNEL_FIELDS:
                raise invalid(f"Invalid update mask path '{'.'.join(path)}' for a notification channel.")
        updated = apply_mask(stored, body, paths, maps=frozenset({"labels", "userLabels"}))
        # Not confirmed: a channel's type is treated as fixed (its labels depend on it).
        if updated.get("type") != stored["type"]:
            raise invalid(f"Field notification_channel.type cannot be changed from {stored['type']} to "
                          f"{updated.get('type')}; create a new channel instead.")
        channel = self._validate_channel(updated)
        channel.update({k: stored[k] for k in ("name", "creationRecord")})
        channel["mutationRecords"] = stored["mutationRecords"] + [{"mutateTime": rfc3339(time.time())}]
        self.channels[stored["name"]] = channel
        return json_response(self._render_channel(channel))

    def delete_channel(self, request, project, cid):
        stored = self._channel(project, cid)
        users = [p for p in self.policies.values() if stored["name"] in (p.get("notificationChannels") or [])]
        force = request.args.get("force", "").lower() == "true"
        if users and not force:
            # Google's wording (terraform-provider-google#10337); the status is
            # FAILED_PRECONDITION as the brief asks, HTTP 400 as Google answers.
            referenced = ", ".join(f'"{p["name"]}"' for p in users)
            raise GoogleError(400, f'Could not delete "{stored["name"]}" because it is still being referenced by: '
                                   f"{referenced}", "FAILED_PRECONDITION")
        for policy in users:  # force: the policies let go of the channel
            policy["notificationChannels"] = [c for c in policy["notificationChannels"] if c != stored["name"]]
        del self.channels[stored["name"]]
        return json_response({})
