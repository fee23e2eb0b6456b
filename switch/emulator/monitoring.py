"""Cloud Monitoring API v3: notification channels, uptime checks, alert policies and alerts.

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
import re
import string
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .google import (
    GoogleError,
    fault_response,
    html_not_found,
    invalid,
    json_response,
    opaque_token,
    read_json,
    read_token,
    rfc3339,
)
from .protojson import apply_mask, camel, duration, format_duration, one_of, page, parse_mask, user_labels
from .routing import Api, route

# The subset of the list filter switch needs; each clause is `field = "value"`.
FILTER_FIELDS = {"state": "state", "policy.display_name": "policy"}
# One clause, then AND or the end of the text.
_CLAUSE = re.compile(r'\s*(state|policy\.display_name)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:AND\s+(?=\S)|$)')
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

CHANNELS = "v3/projects/{project}/notificationChannels"
CHECKS = "v3/projects/{project}/uptimeCheckConfigs"
POLICIES = "v3/projects/{project}/alertPolicies"

# -- notification channels -------------------------------------------------------

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

# -- uptime checks -----------------------------------------------------------------

PERIODS = {60, 300, 600, 900}
# Checker locations behind each region; a check needs at least three.
REGION_LOCATIONS = {
    "USA": {"usa-oregon", "usa-iowa", "usa-virginia"},
    "USA_OREGON": {"usa-oregon"},
    "USA_IOWA": {"usa-iowa"},
    "USA_VIRGINIA": {"usa-virginia"},
    "EUROPE": {"europe"},
    "SOUTH_AMERICA": {"south-america"},
    "ASIA_PACIFIC": {"asia-pacific"},
}
RESOURCE_TYPES = {"uptime_url", "gce_instance", "gae_app", "aws_ec2_instance", "aws_elb_load_balancer",
                  "k8s_service", "servicedirectory_service", "cloud_run_revision"}
# UpdateUptimeCheckConfigRequest documents display_name, http_check, tcp_check,
# timeout, content_matchers and selected_regions (and user labels). `period` is
# not in that list, but config-connector recorded the real API accepting
# "period" in an update mask and changing it, so it is updatable here too.
CHECK_UPDATABLE = {"displayName", "httpCheck", "tcpCheck", "timeout", "contentMatchers", "selectedRegions",
                   "userLabels", "period"}
CHECK_FIELDS = ("displayName", "monitoredResource", "resourceGroup", "syntheticMonitor", "httpCheck", "tcpCheck",
                "period", "timeout", "contentMatchers", "checkerType", "selectedRegions", "isInternal",
                "internalCheckers", "userLabels", "disabled", "logCheckFailures")
# Plain proto3 bools: false is the default and is left out of the JSON.
CHECK_BOOLS = ("isInternal", "disabled", "logCheckFailures")
HTTP_BOOLS = ("useSsl", "validateSsl", "maskHeaders")

# -- alert policies ------------------------------------------------------------------

POLICY_FIELDS = ("displayName", "documentation", "userLabels", "conditions", "combiner", "enabled",
                 "notificationChannels", "alertStrategy", "severity")
CONDITION_KINDS = ("conditionThreshold", "conditionAbsent", "conditionMatchedLog",
                   "conditionMonitoringQueryLanguage", "conditionPrometheusQueryLanguage", "conditionSql")
COMBINERS = {"COMBINE_UNSPECIFIED", "AND", "OR", "AND_WITH_MATCHING_RESOURCE"}
SEVERITIES = {"SEVERITY_UNSPECIFIED", "CRITICAL", "ERROR", "WARNING"}
COMPARISONS = {"COMPARISON_GT", "COMPARISON_LT"}  # "Only COMPARISON_LT and COMPARISON_GT are supported currently."
ALIGNERS = {"ALIGN_NONE", "ALIGN_DELTA", "ALIGN_RATE", "ALIGN_INTERPOLATE", "ALIGN_NEXT_OLDER", "ALIGN_MIN",
            "ALIGN_MAX", "ALIGN_MEAN", "ALIGN_COUNT", "ALIGN_SUM", "ALIGN_STDDEV", "ALIGN_COUNT_TRUE",
            "ALIGN_COUNT_FALSE", "ALIGN_FRACTION_TRUE", "ALIGN_PERCENTILE_99", "ALIGN_PERCENTILE_95",
            "ALIGN_PERCENTILE_50", "ALIGN_PERCENTILE_05", "ALIGN_PERCENT_CHANGE"}
REDUCERS = {"REDUCE_NONE", "REDUCE_MEAN", "REDUCE_MIN", "REDUCE_MAX", "REDUCE_SUM", "REDUCE_STDDEV",
            "REDUCE_COUNT", "REDUCE_COUNT_TRUE", "REDUCE_COUNT_FALSE", "REDUCE_FRACTION_TRUE",
            "REDUCE_PERCENTILE_99", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_05"}
PROMPTS = {"OPENED", "CLOSED"}
# Not confirmed: policies read back with a 7-day autoClose when none was given
# (the console's default); clients must cope with fields they did not send.
DEFAULT_AUTO_CLOSE = "604800s"
CHECK_REFERENCE = re.compile(r'check_id\s*=\s*\\?"([^"\\]+)\\?"')


def _digits() -> str:
    """Monitoring's ids for channels, policies and conditions: about 19 digits."""
    return str(random.randrange(10**18, 10**19))


def _string(value, field: str, limit: int | None = None, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise invalid(f"Field {field} is required.")
        return ""
    if not isinstance(value, str):
        raise invalid(f"Invalid value at '{field}': expected a string.")
    if limit is not None and len(value) > limit:
        raise invalid(f"Field {field} is {len(value)} characters; at most {limit} are allowed.")
    return value


def _object(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid value at '{field}': expected an object.")
    return value


def _list(value, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"Invalid value at '{field}': expected a list.")
    return value


def _bool(value, field: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise invalid(f"Invalid value at '{field}' (TYPE_BOOL), \"{value}\"")


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# -- list filters --------------------------------------------------------------------

_LIST_CLAUSE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:AND\s+(?=\S)|$)')


def _list_filter(text: str):
    """``display_name = "x" AND user_labels.team = "web"``: equality clauses joined by AND.

    Google's list filters are richer; anything outside this subset is refused
    rather than half-applied.
    """
    clauses, text, pos = [], (text or "").strip(), 0
    while pos < len(text):
        m = _LIST_CLAUSE.match(text, pos)
        if not m:
            raise invalid(f"Invalid filter '{text}': the emulator understands field = \"value\" clauses joined by AND.")
        head, *rest = m.group(1).split(".")
        head = {"user_label": "userLabels", "user_labels": "userLabels"}.get(head, head)
        keys = [camel(head)] + rest
        clauses.append((keys, re.sub(r"\\(.)", r"\1", m.group(2))))
        pos = m.end()

    def matches(item: dict) -> bool:
        for keys, wanted in clauses:
            value = item
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if str(value) != wanted and not (isinstance(value, bool) and str(value).lower() == wanted):
                return False
        return True

    return matches


# -- alerts --------------------------------------------------------------------------


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


class MonitoringApi(Api):
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

    def not_found(self, request):
        return html_not_found(request.path)

    def fault(self, status, retry_after=None):
        return fault_response(status, retry_after)

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

    def _policy_of(self, alert: Alert) -> dict | None:
        """The real policy an alert belongs to: linked when one of its display name exists."""
        if alert.policy_name in self.policies:
            return self.policies[alert.policy_name]
        for name, policy in self.policies.items():
            if policy.get("displayName") == alert.policy and alert.project in (None, name.split("/")[1]):
                alert.policy_name = name
                return policy
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

    # -- shared by the three collections -------------------------------------

    def _list(self, request, project: str, stored: dict, collection: str, render) -> dict:
        matches = _list_filter(request.args.get("filter", ""))
        items = [render(i) for n, i in stored.items() if n.split("/")[1] == project]
        items = [i for i in items if matches(i)]
        order = request.args.get("orderBy", "").strip()
        if order:
            field, _, direction = order.partition(" ")
            if direction.strip() not in ("", "asc", "desc"):
                raise invalid(f"Invalid orderBy '{order}'.")
            items.sort(key=lambda i: str(i.get(camel(field.lstrip("-")), "")), reverse=direction.strip() == "desc")
        return page(items, request.args, collection, default_size=self.page_size)

    # -- projects.notificationChannels -------------------------------------------

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
        kind = _string(body.get("type"), "notification_channel.type")
        if not kind:
            raise invalid("Request was missing field notification_channel.type.")
        if kind not in CHANNEL_TYPES:
            raise invalid(f"Field notification_channel.type had an invalid value of \"{kind}\": unknown channel "
                          f"type; known: {', '.join(sorted(CHANNEL_TYPES))}.")
        labels = _object(body.get("labels"), "notification_channel.labels")
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
        if "url" in labels and not _http_url(labels["url"]):
            raise invalid(f"Field notification_channel.labels[url] had an invalid value of \"{labels['url']}\": "
                          "the URL must start with http:// or https:// and name a host.")
        if "topic" in labels and not TOPIC.match(labels["topic"]):
            raise invalid(f"Field notification_channel.labels[topic] had an invalid value of \"{labels['topic']}\": "
                          "expected projects/PROJECT_ID/topics/TOPIC_ID.")
        _bool(body.get("enabled"), "notification_channel.enabled")
        channel = {
            "type": kind,
            "displayName": _string(body.get("displayName"), "notification_channel.display_name", 512),
            "description": _string(body.get("description"), "notification_channel.description", 1024),
            "labels": dict(labels),
            "userLabels": user_labels(body.get("userLabels"), "notification_channel.user_labels"),
            "enabled": body.get("enabled", True),  # a BoolValue: false is kept, absent means true
        }
        return {k: v for k, v in channel.items() if v not in ("", {})}

    def list_channels(self, request, project):
        return json_response(self._list(request, project, self.channels, "notificationChannels",
                                        self._render_channel))

    def get_channel(self, request, project, cid):
        return json_response(self._render_channel(self._channel(project, cid)))

    def create_channel(self, request, project):
        channel = self._validate_channel(read_json(request))
        now = rfc3339(time.time())
        name = f"projects/{project}/notificationChannels/{_digits()}"
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

    # -- projects.uptimeCheckConfigs ----------------------------------------------

    def _check(self, project: str, cid: str) -> dict:
        found = self.checks.get(f"projects/{project}/uptimeCheckConfigs/{cid}")
        if found is None:
            # Google's wording, as config-connector recorded it.
            raise GoogleError(404, f"Config not found for check {cid} in project {project}", "NOT_FOUND")
        return found

    @staticmethod
    def _render_check(check: dict) -> dict:
        shown = copy.deepcopy(check)
        http = shown.get("httpCheck")
        if http:
            if (http.get("authInfo") or {}).get("password"):
                http["authInfo"]["password"] = REDACTED  # as recorded from the real API
            if http.get("maskHeaders") and http.get("headers"):
                http["headers"] = {k: REDACTED for k in http["headers"]}
            for key in HTTP_BOOLS:
                if http.get(key) is False:
                    del http[key]
        for key in CHECK_BOOLS:
            if shown.get(key) is False:
                del shown[key]
        return shown

    def _validate_check(self, body: dict) -> dict:
        unknown = set(body) - set(CHECK_FIELDS) - {"name"}
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at "
                          "'uptime_check_config': Cannot find field.")
        check = {k: copy.deepcopy(body[k]) for k in CHECK_FIELDS if body.get(k) is not None}
        check["displayName"] = _string(body.get("displayName"), "uptime_check_config.display_name", 512,
                                       required=True)
        target = one_of(body, ("monitoredResource", "resourceGroup", "syntheticMonitor"), "uptime_check_config")
        if target == "monitoredResource":
            resource = _object(body["monitoredResource"], "uptime_check_config.monitored_resource")
            if resource.get("type") not in RESOURCE_TYPES:
                raise invalid(f"Field uptime_check_config.monitored_resource.type had an invalid value of "
                              f"\"{resource.get('type')}\"; uptime checks take {', '.join(sorted(RESOURCE_TYPES))}.")
            labels = _object(resource.get("labels"), "uptime_check_config.monitored_resource.labels")
            if resource["type"] == "uptime_url":
                for key in ("host", "project_id"):
                    if not labels.get(key):
                        raise invalid(f"uptime_url check is missing the '{key}' label.")
                host = labels["host"]
                if "/" in host:
                    # Google's words (GoogleCloudPlatform/oss-test-infra#1241).
                    raise invalid("A host name should not contain '/'. Consider moving everything following the "
                                  "first '/' to the 'path' field.; uptime_url check has malformed host")
                if ":" in host or not re.match(r"^[A-Za-z0-9.-]+$", host):
                    raise invalid(f"uptime_url check has malformed host '{host}'.")
        if target != "syntheticMonitor":
            kind = one_of(body, ("httpCheck", "tcpCheck"), "uptime_check_config")
            if kind == "httpCheck":
                check["httpCheck"] = self._validate_http(_object(body["httpCheck"], "uptime_check_config.http_check"))
            else:
                tcp = _object(body["tcpCheck"], "uptime_check_config.tcp_check")
                port = tcp.get("port")
                if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                    raise invalid("Field uptime_check_config.tcp_check.port must be between 1 and 65535.")
        period = duration(body.get("period", "60s"), "uptime_check_config.period")
        if period not in PERIODS:
            raise invalid(f"Field uptime_check_config.period had an invalid value of \"{body.get('period')}\": "
                          "the period must be 60s, 300s, 600s or 900s.")
        check["period"] = format_duration(period)
        if body.get("timeout") is None:
            raise invalid("Field uptime_check_config.timeout is required.")
        timeout = duration(body["timeout"], "uptime_check_config.timeout")
        if not 1 <= timeout <= 60:
            raise invalid(f"Field uptime_check_config.timeout had an invalid value of \"{body['timeout']}\": "
                          "the timeout must be between 1 and 60 seconds.")
        check["timeout"] = format_duration(timeout)
        regions = _list(body.get("selectedRegions"), "uptime_check_config.selected_regions")
        if regions:
            locations: set[str] = set()
            for region in regions:
                if region not in REGION_LOCATIONS:
                    raise invalid(f"Invalid value at 'uptime_check_config.selected_regions' "
                                  f"(type.googleapis.com/google.monitoring.v3.UptimeCheckRegion), \"{region}\"")
                locations |= REGION_LOCATIONS[region]
            if len(locations) < 3:
                # Wording not confirmed; the rule is the discovery document's.
                raise invalid(f"The selected regions {', '.join(regions)} include {len(locations)} checker "
                              "location(s); an uptime check needs at least 3 (USA alone counts as 3).")
        for i, matcher in enumerate(_list(body.get("contentMatchers"), "uptime_check_config.content_matchers")):
            if not isinstance(matcher, dict) or not isinstance(matcher.get("content"), str):
                raise invalid(f"Field uptime_check_config.content_matchers[{i}].content is required.")
        check["userLabels"] = user_labels(body.get("userLabels"), "uptime_check_config.user_labels")
        for key in CHECK_BOOLS:
            _bool(body.get(key), f"uptime_check_config.{key}")
        check.setdefault("checkerType", "STATIC_IP_CHECKERS")
        return {k: v for k, v in check.items() if v not in ({}, [], "")}

    @staticmethod
    def _validate_http(http: dict) -> dict:
        http = copy.deepcopy(http)
        method = http.get("requestMethod", "GET")
        if method not in ("METHOD_UNSPECIFIED", "GET", "POST"):
            raise invalid(f"Invalid value at 'uptime_check_config.http_check.request_method' "
                          f"(type.googleapis.com/google.monitoring.v3.UptimeCheckConfig.HttpCheck.RequestMethod), "
                          f"\"{method}\"")
        path = _string(http.get("path"), "uptime_check_config.http_check.path") or "/"
        # Documented: "If the provided path does not begin with "/", a "/" will be prepended automatically."
        http["path"] = path if path.startswith("/") else "/" + path
        port = http.get("port")
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
            raise invalid("Field uptime_check_config.http_check.port must be between 1 and 65535.")
        for key in HTTP_BOOLS:
            _bool(http.get(key), f"uptime_check_config.http_check.{key}")
        if http.get("body") and method in ("GET", "METHOD_UNSPECIFIED"):
            raise invalid("An uptime check with request_method GET must not have a body.")
        headers = _object(http.get("headers"), "uptime_check_config.http_check.headers")
        if any(not isinstance(v, str) for v in headers.values()):
            raise invalid("Field uptime_check_config.http_check.headers takes string values.")
        return http

    @staticmethod
    def _check_id(display_name: str) -> str:
        # Inferred, not confirmed: the id is the display name made URL-safe plus a random suffix.
        slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")[:60].strip("-") or "uptime-check"
        return f"{slug}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=10))}"

    def list_checks(self, request, project):
        return json_response(self._list(request, project, self.checks, "uptimeCheckConfigs", self._render_check))

    def get_check(self, request, project, cid):
        return json_response(self._render_check(self._check(project, cid)))

    def create_check(self, request, project):
        check = self._validate_check(read_json(request))
        check["name"] = f"projects/{project}/uptimeCheckConfigs/{self._check_id(check['displayName'])}"
        self.checks[check["name"]] = check
        return json_response(self._render_check(check))

    def patch_check(self, request, project, cid):
        stored = self._check(project, cid)
        body = read_json(request)
        paths = parse_mask(request.args.get("updateMask"))
        if paths:
            for path in paths:
                if path[0] not in CHECK_UPDATABLE:
                    # Wording not confirmed.
                    raise invalid(f"Field '{'.'.join(path)}' of an uptime check cannot be updated; updatable: "
                                  f"{', '.join(sorted(CHECK_UPDATABLE))}.")
            updated = apply_mask(stored, body, paths, maps=frozenset({"userLabels", "headers"}))
        else:
            # No mask: "the current configuration is completely replaced with the new configuration",
            # which may not move the check to another resource.
            updated = {k: v for k, v in body.items() if k != "name"}
            for key in ("monitoredResource", "resourceGroup", "syntheticMonitor", "checkerType"):
                given = updated.get(key, stored.get(key) if key == "checkerType" else None)
                if given != stored.get(key):
                    raise invalid(f"Field '{key}' of an uptime check cannot be updated.")
        check = self._validate_check({k: v for k, v in updated.items() if k != "name"})
        check["name"] = stored["name"]
        self.checks[stored["name"]] = check
        return json_response(self._render_check(check))

    def delete_check(self, request, project, cid):
        stored = self._check(project, cid)
        users = [p["name"] for p in self.policies.values() if cid in self._checks_named_by(p)]
        if users:
            # Google answers 400 here (terraform-provider-google#10176, magic-modules#9429); wording not confirmed.
            raise GoogleError(400, f"Cannot delete check {cid}. One or more alerting policies is using it: "
                                   f"{', '.join(users)}.", "FAILED_PRECONDITION")
        del self.checks[stored["name"]]
        return json_response({})

    @staticmethod
    def _checks_named_by(policy: dict) -> set[str]:
        ids = set()
        for condition in policy.get("conditions") or []:
            for kind in ("conditionThreshold", "conditionAbsent"):
                ids.update(CHECK_REFERENCE.findall((condition.get(kind) or {}).get("filter", "")))
        return ids

    # -- projects.alertPolicies --------------------------------------------------

    def _policy(self, project: str, pid: str) -> dict:
        name = f"projects/{project}/alertPolicies/{pid}"
        found = self.policies.get(name)
        if found is None:
            # Wording not confirmed.
            raise GoogleError(404, f"Could not find alert policy '{name}'.", "NOT_FOUND")
        return found

    def _validate_policy(self, body: dict, project: str) -> dict:
        unknown = set(body) - set(POLICY_FIELDS) - {"name", "creationRecord", "mutationRecord", "validity"}
        if unknown:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at "
                          "'alert_policy': Cannot find field.")
        policy = {k: copy.deepcopy(body[k]) for k in POLICY_FIELDS if body.get(k) is not None}
        policy["displayName"] = _string(body.get("displayName"), "alert_policy.display_name", 512, required=True)
        conditions = _list(body.get("conditions"), "alert_policy.conditions")
        if not 1 <= len(conditions) <= 6:
            raise invalid(f"An alerting policy must have between 1 and 6 conditions; got {len(conditions)}.")
        for i, condition in enumerate(conditions):
            self._validate_condition(_object(condition, f"alert_policy.conditions[{i}]"),
                                     f"alert_policy.conditions[{i}]")
        combiner = body.get("combiner", "COMBINE_UNSPECIFIED")
        if combiner not in COMBINERS:
            raise invalid(f"Invalid value at 'alert_policy.combiner' "
                          f"(type.googleapis.com/google.monitoring.v3.AlertPolicy.ConditionCombinerType), \"{combiner}\"")
        if len(conditions) > 1 and combiner == "COMBINE_UNSPECIFIED":
            raise invalid("An alerting policy with more than one condition must have a combiner: AND, OR or "
                          "AND_WITH_MATCHING_RESOURCE.")
        if body.get("severity", "SEVERITY_UNSPECIFIED") not in SEVERITIES:
            raise invalid(f"Invalid value at 'alert_policy.severity' "
                          f"(type.googleapis.com/google.monitoring.v3.AlertPolicy.Severity), \"{body['severity']}\"")
        _bool(body.get("enabled"), "alert_policy.enabled")
        policy["enabled"] = body.get("enabled", True)  # a BoolValue: written unset means enabled
        for channel in _list(body.get("notificationChannels"), "alert_policy.notification_channels"):
            if not isinstance(channel, str) or not CHANNEL_NAME.match(channel):
                # Google's words (crossplane-contrib/provider-upjet-gcp#498).
                raise invalid(f"Name must begin with 'projects/{{project_id}}/notificationChannels/{{channel_id}}', "
                              f"got: {channel}")
            if channel not in self.channels:
                # Google refuses a channel that does not exist; status and wording not confirmed.
                raise invalid(f"Notification channel '{channel}' does not exist.")
        documentation = _object(body.get("documentation"), "alert_policy.documentation")
        if documentation:
            content = _string(documentation.get("content"), "alert_policy.documentation.content")
            if len(content) > 8192 or len(content.encode()) > 10240:
                raise invalid("Field alert_policy.documentation.content may not exceed 8,192 characters or 10,240 "
                              "bytes.")
            if documentation.get("mimeType", "text/markdown") != "text/markdown":
                raise invalid(f"Field alert_policy.documentation.mime_type had an invalid value of "
                              f"\"{documentation['mimeType']}\": only text/markdown is supported.")
            if len(_list(documentation.get("links"), "alert_policy.documentation.links")) > 3:
                raise invalid("Field alert_policy.documentation.links can contain up to 3 entries.")
        strategy = _object(body.get("alertStrategy"), "alert_policy.alert_strategy")
        for prompt in _list(strategy.get("notificationPrompts"), "alert_policy.alert_strategy.notification_prompts"):
            if prompt not in PROMPTS:
                raise invalid(f"Invalid value at 'alert_policy.alert_strategy.notification_prompts' "
                              f"(type.googleapis.com/google.monitoring.v3.AlertPolicy.AlertStrategy."
                              f"NotificationPrompt), \"{prompt}\"")
        if "autoClose" in strategy:
            duration(strategy["autoClose"], "alert_policy.alert_strategy.auto_close")
        if any("conditionThreshold" in c or "conditionAbsent" in c for c in conditions):
            policy["alertStrategy"] = {"autoClose": DEFAULT_AUTO_CLOSE, **strategy}
        policy["userLabels"] = user_labels(body.get("userLabels"), "alert_policy.user_labels")
        return {k: v for k, v in policy.items() if v not in ({}, [], "")}

    @staticmethod
    def _validate_condition(condition: dict, where: str) -> None:
        kind = one_of(condition, CONDITION_KINDS, where)
        spec = _object(condition[kind], f"{where}.{kind}")
        if kind not in ("conditionThreshold", "conditionAbsent"):
            return  # accepted as given: switch uses threshold conditions only
        snake = "condition_threshold" if kind == "conditionThreshold" else "condition_absent"
        at = f"{where}.{snake}"
        metric_filter = _string(spec.get("filter"), f"{at}.filter")
        if not metric_filter:
            raise invalid(f"Field {at}.filter is required.")
        if "metric.type" not in metric_filter:
            # Inferred: a condition's filter must select a metric type.
            raise invalid(f"Field {at}.filter had an invalid value of \"{metric_filter}\": the filter must "
                          "specify a metric type, such as metric.type=\"...\".")
        if spec.get("duration") is None:
            raise invalid(f"Field {at}.duration is required.")
        seconds = duration(spec["duration"], f"{at}.duration")
        if seconds < 0 or seconds % 60:
            raise invalid(f"Field {at}.duration had an invalid value of \"{spec['duration']}\": only multiples of "
                          "a minute (0s, 60s, 120s, ...) are supported.")
        for i, aggregation in enumerate(_list(spec.get("aggregations"), f"{at}.aggregations")):
            aggregation = _object(aggregation, f"{at}.aggregations[{i}]")
            if aggregation.get("alignmentPeriod") is not None:
                period = duration(aggregation["alignmentPeriod"], f"{at}.aggregations[{i}].alignment_period")
                if period < 60:
                    raise invalid(f"Field {at}.aggregations[{i}].alignment_period had an invalid value of "
                                  f"\"{aggregation['alignmentPeriod']}\": it must be at least 60 seconds.")
            if aggregation.get("perSeriesAligner", "ALIGN_NONE") not in ALIGNERS:
                raise invalid(f"Invalid value at '{at}.aggregations[{i}].per_series_aligner', "
                              f"\"{aggregation['perSeriesAligner']}\"")
            if aggregation.get("crossSeriesReducer", "REDUCE_NONE") not in REDUCERS:
                raise invalid(f"Invalid value at '{at}.aggregations[{i}].cross_series_reducer', "
                              f"\"{aggregation['crossSeriesReducer']}\"")
        if kind == "conditionThreshold":
            if spec.get("comparison") not in COMPARISONS:
                raise invalid(f"Field {at}.comparison had an invalid value of \"{spec.get('comparison')}\": only "
                              "COMPARISON_GT and COMPARISON_LT are supported.")
            threshold = spec.get("thresholdValue")
            if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
                raise invalid(f"Invalid value at '{at}.threshold_value' (TYPE_DOUBLE), \"{threshold}\"")
            if spec.get("evaluationMissingData") and seconds < 60:
                raise invalid(f"Field {at}.evaluation_missing_data needs a duration of at least 60 seconds.")
        trigger = _object(spec.get("trigger"), f"{at}.trigger")
        if "count" in trigger and "percent" in trigger:
            raise invalid(f"{at}.trigger: only one of count, percent may be set.")

    def _name_conditions(self, policy: dict, previous: dict | None) -> None:
        """Give each condition its name: kept when the caller sent back one of this policy's, else new."""
        known = {c.get("name") for c in (previous or {}).get("conditions") or []}
        for i, condition in enumerate(policy["conditions"]):
            given = condition.get("name")
            if given and given not in known:
                # Inferred: a condition name from elsewhere is refused rather than adopted.
                raise invalid(f"Field alert_policy.conditions[{i}].name '{given}' is not a condition of "
                              f"{policy['name']}; leave it out to create a new condition.")
            if not given:
                condition["name"] = f"{policy['name']}/conditions/{_digits()}"

    def list_policies(self, request, project):
        return json_response(self._list(request, project, self.policies, "alertPolicies", copy.deepcopy))

    def get_policy(self, request, project, pid):
        return json_response(copy.deepcopy(self._policy(project, pid)))

    def create_policy(self, request, project):
        body = read_json(request)
        for condition in body.get("conditions") or []:
            if isinstance(condition, dict):
                condition.pop("name", None)  # the server names conditions of a new policy
        policy = self._validate_policy(body, project)
        now, actor = rfc3339(time.time()), self._actor(project)
        policy["name"] = f"projects/{project}/alertPolicies/{_digits()}"
        self._name_conditions(policy, None)
        policy["creationRecord"] = {"mutateTime": now, "mutatedBy": actor}
        policy["mutationRecord"] = {"mutateTime": now, "mutatedBy": actor}
        self.policies[policy["name"]] = policy
        return json_response(copy.deepcopy(policy))

    def patch_policy(self, request, project, pid):
        stored = self._policy(project, pid)
        body = read_json(request)
        paths = parse_mask(request.args.get("updateMask"))
        if paths:
            for path in paths:
                if path[0] not in POLICY_FIELDS:
                    raise invalid(f"Invalid update mask path '{'.'.join(path)}' for an alert policy.")
            updated = apply_mask(stored, body, paths, maps=frozenset({"userLabels"}))
        else:
            # No mask: the body replaces the policy, keeping its id (and the
            # ids of conditions sent back with their names).
            updated = {k: v for k, v in body.items() if k in POLICY_FIELDS}
        policy = self._validate_policy(updated, project)
        policy["name"] = stored["name"]
        self._name_conditions(policy, stored)
        policy["creationRecord"] = stored["creationRecord"]
        policy["mutationRecord"] = {"mutateTime": rfc3339(time.time()), "mutatedBy": self._actor(project)}
        self.policies[stored["name"]] = policy
        if policy["conditions"] != stored["conditions"]:
            self._cancel_alerts(stored["name"])
        return json_response(copy.deepcopy(policy))

    def delete_policy(self, request, project, pid):
        stored = self._policy(project, pid)
        self._cancel_alerts(stored["name"])
        del self.policies[stored["name"]]
        return json_response({})

    def _cancel_alerts(self, policy_name: str) -> None:
        """Editing or deleting a policy's conditions closes its open incidents (monitoring.md §2).

        Which edits count is not confirmed; here a change to ``conditions``
        or a delete does, other fields (channels, documentation) do not.
        """
        for alert in self.alerts:
            if alert.state == "OPEN" and (self._policy_of(alert) or {}).get("name") == policy_name:
                alert.closed = time.time()
