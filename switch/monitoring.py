"""Setup, teardown and status of the chain that calls switch.

``python -m switch setup`` wires, in one command and through the same
requests transport as the Run client::

    uptime check (60 s, 3 regions) ─▶ alert policy ─▶ notification channel ─▶ switch
                                                      (+ optional Cloud Scheduler job ─▶ /reconcile)

Library first, CLI thin: ``plan`` gives the desired bodies, ``setup`` /
``teardown`` converge and print one line per part, ``chain_status`` returns
rows that ``format_table`` renders. ``add_arguments`` and
``options_from_args`` are for ``switch/cli.py``.

Decisions (monitoring.md; the discovery document shipped with
google-api-python-client is the source for field names):

- **What is ours.** Notification channels, uptime checks and alert policies
  all have ``userLabels`` in Monitoring v3. Ours carry ``managed-by: switch``
  and ``switch-service: <SWITCH_SERVICE>`` (two deployments in one project do
  not step on each other). Lists are filtered client-side (the server filter
  syntax on user labels is not confirmed); an item without both labels is
  never modified or deleted. Cloud Scheduler jobs have no labels: ours is the
  exact name ``switch-reconcile-<service>`` *and* a description that starts
  with ``managed-by: switch``; a job of that name without it is refused.
- **Update in place, owned fields only.** Server-added fields (names,
  creation/mutation records, condition names, defaults left out of the JSON)
  are ignored; ``patch`` carries an ``updateMask`` with only the changed
  top-level fields, in camelCase (the JSON form of a FieldMask, as Terraform's
  REST calls send it; Google's docs show snake_case, which the server also
  accepts, not confirmed against the emulator). Labels, notification channels
  and ``alertStrategy`` entries that someone else added are kept.
- **Secrets cannot be compared.** Sensitive channel labels (``password``;
  ``auth_token``, ``service_key`` for other types) read back redacted, so the
  channel carries ``switch-secret``: a 16-hex fingerprint (PBKDF2-SHA256,
  100 000 rounds, salted with project and service, so a weak password is not
  cheap to guess from the label) of the channel's labels; a different
  fingerprint patches ``labels``. The scheduler job keeps the same kind of
  fingerprint of its credentials in its description.
- **Immutable fields are replaced.** Monitoring can update only
  ``display_name, http_check, tcp_check, timeout, content_matchers,
  selected_regions`` of an uptime check (UpdateUptimeCheckConfigRequest), so
  a new host (``SWITCH_HOME_URL``) or period means a new check: create it,
  point the policy at it, delete the old one. A channel's ``type`` is handled
  the same way (basic → pubsub).
- **Open alerts.** Editing a policy while an incident is open closes it with a
  "cancelled" notification (monitoring.md §2); setup says so when it updates a
  policy that has an open alert.
- **Dry run** reads (lists and gets, to say create or update) and sends no
  write at all; bodies are printed with secrets redacted.
- **Retried creates.** ``execute(num_retries=...)`` may repeat a create whose
  answer was lost and leave two of our channels or checks; the next setup
  keeps one and deletes the other (they carry our labels).
- **Teardown** deletes policy, check, channel, scheduler job in that order
  (a policy references the channel and the check). It leaves the Pub/Sub
  publisher grant: the topic is the user's and may serve other channels.

Google's JSON shapes live here and nowhere else above ``transport``;
googleapiclient is imported lazily (the function never imports this module).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import quote, urlsplit

from .config import Settings, is_loopback_url
from .errors import ConfigError, NotManaged, SwitchError, UpstreamError
from .iam import add_member, grants

MANAGED_BY = ("managed-by", "switch")
SERVICE_LABEL = "switch-service"
SECRET_LABEL = "switch-secret"
# Channel labels Google reads back redacted (Terraform's sensitive_labels).
SENSITIVE_LABELS = frozenset({"password", "auth_token", "service_key"})

CHANNEL_TYPES = {"basic": "webhook_basicauth", "token": "webhook_tokenauth", "pubsub": "pubsub"}
CHECK_METRIC = "monitoring.googleapis.com/uptime_check/check_passed"
CHECK_PERIOD = "60s"
CHECK_TIMEOUT = "10s"
# Each of these is at least one checker location; Monitoring wants >= 3 locations.
CHECK_REGIONS = ("USA", "EUROPE", "ASIA_PACIFIC")
DEFAULT_ALERT_DURATION = 60
MAX_ALERT_DURATION = 24 * 3600

# PBKDF2 rounds of the secret fingerprint: slow enough that a weak password is
# costly to guess from a label anyone with monitoring.viewer can read.
FINGERPRINT_ROUNDS = 100_000

SCHEDULE = "*/5 * * * *"
SCHEDULE_TIME_ZONE = "Etc/UTC"
JOB_PREFIX = "switch-reconcile-"
JOB_MARKER = "managed-by: switch"

PUBLISHER_ROLE = "roles/pubsub.publisher"
NOTIFICATION_AGENT = "service-{number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"

CHANNEL = "notification channel"
CHECK = "uptime check"
POLICY = "alert policy"
JOB = "scheduler job"
GRANT = "publisher grant"

TOPIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
TOPIC_PATH = re.compile(r"^projects/([^/]+)/topics/([^/]+)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REDACTED = "<redacted>"
PENDING_CHANNEL = "(new notification channel)"
PENDING_CHECK = "(new uptime check)"


# -- options -----------------------------------------------------------------


@dataclass(frozen=True)
class SetupOptions:
    """What setup needs beyond Settings. ``channel`` None: basic when Basic credentials are set, else token."""

    function_url: str | None = None
    channel: str | None = None
    topic: str | None = None
    alert_duration_seconds: int = DEFAULT_ALERT_DURATION
    scheduler: bool = False
    scheduler_region: str | None = None
    service_account: str | None = None
    project_number: str | None = None


@dataclass(frozen=True)
class Part:
    """One desired resource: its kind, display name and the body setup would create."""

    kind: str
    display: str
    body: dict


@dataclass(frozen=True)
class Outcome:
    """What setup or teardown did (or would do) to one part."""

    action: str  # created | updated | unchanged | deleted | granted | skipped | would create | ...
    kind: str
    display: str
    name: str = ""
    detail: str = ""

    def line(self) -> str:
        shown = f"{self.display} ({self.detail})" if self.detail else self.display
        return f"{self.action:<12}  {self.kind:<20}  {shown}  {self.name}".rstrip()


@dataclass(frozen=True)
class Row:
    """One line of ``python -m switch status``."""

    part: str
    state: str
    name: str = ""
    detail: str = ""


@dataclass(frozen=True)
class _Target:
    """Settings and options, validated together before any API call."""

    project: str
    service: str
    channel: str
    function_url: str | None
    topic: str | None
    host: str
    port: int
    use_ssl: bool
    path: str
    duration: int
    scheduler_region: str


def _function_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("--function-url", f"{value!r} is not a URL; give the deployed function's URL, "
                          "for example https://REGION-PROJECT.cloudfunctions.net/switch")
    if parts.scheme == "http" and not is_loopback_url(value):
        # The channel sends credentials with every notification.
        raise ConfigError("--function-url", f"{value!r} uses plain http; the function's URL must be https")
    if parts.query or parts.fragment:
        raise ConfigError("--function-url", f"{value!r} must not have a query or fragment; setup adds what it needs")
    return value.rstrip("/")


def _topic(value: str, project: str) -> str:
    match = TOPIC_PATH.match(value)
    name = match.group(2) if match else value
    if not TOPIC_NAME.match(name) or name.lower().startswith("goog"):
        raise ConfigError("--topic", f"{value!r} is not a Pub/Sub topic; give a name such as switch-alerts "
                          "or projects/PROJECT/topics/NAME")
    return value if match else f"projects/{project}/topics/{name}"


def _channel_kind(settings: Settings, options: SetupOptions) -> str:
    kind = options.channel
    if kind is None:
        if settings.basic_user and settings.basic_password:
            return "basic"
        if settings.token:
            return "token"
        raise ConfigError("SWITCH_TOKEN", "is not set; a webhook channel needs SWITCH_TOKEN, or SWITCH_BASIC_USER "
                          "and SWITCH_BASIC_PASSWORD (or use --channel pubsub --topic TOPIC)")
    if kind not in CHANNEL_TYPES:
        raise ConfigError("--channel", f"{kind!r} is not a channel; use basic, token or pubsub")
    if kind == "basic" and not (settings.basic_user and settings.basic_password):
        raise ConfigError("SWITCH_BASIC_USER", "is not set; --channel basic sends SWITCH_BASIC_USER and "
                          "SWITCH_BASIC_PASSWORD with every notification")
    if kind == "token" and not settings.token:
        raise ConfigError("SWITCH_TOKEN", "is not set; --channel token puts SWITCH_TOKEN in the channel's URL")
    return kind


def resolve(settings: Settings, options: SetupOptions) -> _Target:
    """Check everything setup needs; every error names the variable or option to fix."""
    if not settings.home_url:
        raise ConfigError("SWITCH_HOME_URL", "is not set; setup points the uptime check at the home site, "
                          "for example https://www.example.org")
    home = urlsplit(settings.home_url)
    if home.scheme not in ("http", "https") or not home.hostname:
        raise ConfigError("SWITCH_HOME_URL", f"{settings.home_url!r} is not an http(s) URL")
    use_ssl = home.scheme == "https"
    kind = _channel_kind(settings, options)

    duration = options.alert_duration_seconds
    if not isinstance(duration, int) or duration % 60 or not 0 <= duration <= MAX_ALERT_DURATION:
        raise ConfigError("--alert-duration", f"{duration!r} is not valid; Cloud Monitoring wants a whole number of "
                          f"minutes in seconds, such as 60 or 120 (at most {MAX_ALERT_DURATION})")

    function_url = _function_url(options.function_url) if options.function_url else None
    if function_url is None and kind in ("basic", "token"):
        raise ConfigError("--function-url", f"is required for a {CHANNEL_TYPES[kind]} channel; give the deployed "
                          "function's URL, for example https://REGION-PROJECT.cloudfunctions.net/switch")
    if function_url is None and options.scheduler:
        raise ConfigError("--function-url", "is required with --scheduler; the job calls <function-url>/reconcile")
    topic = None
    if kind == "pubsub":
        if not options.topic:
            raise ConfigError("--topic", "is required with --channel pubsub; give a topic name or "
                              "projects/PROJECT/topics/NAME")
        topic = _topic(options.topic, settings.project)
    if options.service_account is not None:
        if not EMAIL.match(options.service_account):
            raise ConfigError("--service-account", f"{options.service_account!r} is not a service account email")
        if not settings.token:
            raise ConfigError("SWITCH_TOKEN", "is not set; with --service-account the OIDC token takes the "
                              "Authorization header, so the job sends SWITCH_TOKEN as ?auth_token=")
    if options.project_number is not None and not str(options.project_number).isdigit():
        raise ConfigError("--project-number", f"{options.project_number!r} is not a project number (digits only)")

    return _Target(
        project=settings.project,
        service=settings.service,
        channel=kind,
        function_url=function_url,
        topic=topic,
        host=home.hostname.lower(),
        port=home.port or (443 if use_ssl else 80),
        use_ssl=use_ssl,
        path=settings.health_path,
        duration=duration,
        scheduler_region=options.scheduler_region or settings.region,
    )


# -- bodies ------------------------------------------------------------------


def _labels(service: str, **more: str) -> dict[str, str]:
    return {MANAGED_BY[0]: MANAGED_BY[1], SERVICE_LABEL: service, **more}


def fingerprint(project: str, service: str, material: dict | str) -> str:
    """A short, slow, salted hash: enough to see that a secret changed, costly to guess from."""
    data = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    salt = f"switch/{project}/{service}".encode()
    return hashlib.pbkdf2_hmac("sha256", data, salt, FINGERPRINT_ROUNDS).hex()[:16]


def channel_body(settings: Settings, target: _Target) -> dict:
    kind = target.channel
    if kind == "basic":
        labels = {"url": target.function_url, "username": settings.basic_user, "password": settings.basic_password}
    elif kind == "token":
        # webhook_tokenauth has no token field and no headers (monitoring.md §5): the secret rides in the URL.
        labels = {"url": f"{target.function_url}?auth_token={quote(settings.token, safe='')}"}
    else:
        labels = {"topic": target.topic}
    secret = fingerprint(target.project, target.service, {"type": CHANNEL_TYPES[kind], "labels": labels})
    return {
        "type": CHANNEL_TYPES[kind],
        "displayName": f"switch {target.service}",
        "description": (f"Alerts for switch: an opening notification fails {target.host} over to the Cloud Run "
                        f"replica {target.service}, a closing one fails it back."),
        "enabled": True,
        "labels": labels,
        "userLabels": _labels(target.service, **{SECRET_LABEL: secret}),
    }


def check_body(target: _Target) -> dict:
    return {
        "displayName": f"switch {target.service}: {target.host}{target.path}",
        "period": CHECK_PERIOD,
        "timeout": CHECK_TIMEOUT,
        "monitoredResource": {"type": "uptime_url", "labels": {"project_id": target.project, "host": target.host}},
        # The health path is excluded from the Cloudflare redirect, so during a
        # failover the check keeps asking the home origin and sees it recover.
        "httpCheck": {"requestMethod": "GET", "useSsl": target.use_ssl, "validateSsl": target.use_ssl,
                      "path": target.path, "port": target.port},
        "selectedRegions": list(CHECK_REGIONS),
        "userLabels": _labels(target.service),
    }


def policy_display_name(settings: Settings, target: _Target) -> str:
    # The function finds open alerts by this name (SWITCH_ALERT_POLICY) when it reconciles.
    return settings.alert_policy or f"switch: {target.host} down"


def _documentation(settings: Settings, target: _Target) -> str:
    scheme = "https" if target.use_ssl else "http"
    probe = f"{scheme}://{target.host}{'' if target.port in (80, 443) else f':{target.port}'}{target.path}"
    return (
        f"**switch** watches `{probe}` from {len(CHECK_REGIONS)} regions; this policy fires when more than one "
        f"region fails for {target.duration} s.\n\n"
        f"- **When it opens**, switch creates the Cloud Run service `{target.service}` (project "
        f"`{target.project}`, region `{settings.region}`) from the site's image, waits until it is ready, makes it "
        f"public and sends visitors to it.\n"
        f"- **When it closes**, switch probes `{probe}` until it answers 2xx {settings.probe_count} times in a row, "
        f"sends visitors home and deletes the replica.\n\n"
        f"The health path is left out of the redirect, so the check keeps testing the home origin during a "
        f"failover. By hand: `python -m switch status | failover | failback`."
    )


def policy_body(settings: Settings, target: _Target, channel_name: str, check_name: str) -> dict:
    check_id = check_name.rsplit("/", 1)[-1]
    return {
        "displayName": policy_display_name(settings, target),
        "combiner": "OR",
        "severity": "CRITICAL",
        "enabled": True,
        "userLabels": _labels(target.service),
        "notificationChannels": [channel_name],
        # Without CLOSED there is no failback notification.
        "alertStrategy": {"notificationPrompts": ["OPENED", "CLOSED"]},
        "documentation": {"content": _documentation(settings, target), "mimeType": "text/markdown"},
        "conditions": [{
            "displayName": f"Failure of uptime check_id {check_id}",
            "conditionThreshold": {
                "filter": (f'metric.type="{CHECK_METRIC}" AND metric.label.check_id="{check_id}" '
                           f'AND resource.type="uptime_url"'),
                "aggregations": [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_NEXT_OLDER",
                                  "crossSeriesReducer": "REDUCE_COUNT_FALSE",
                                  "groupByFields": ["resource.label.*"]}],
                # REDUCE_COUNT_FALSE > 1: at least two checker locations fail.
                "comparison": "COMPARISON_GT",
                "thresholdValue": 1,
                "duration": f"{target.duration}s",
                "trigger": {"count": 1},
            },
        }],
    }


def job_name(settings: Settings, region: str) -> str:
    """Cloud Scheduler jobs have no labels: switch's job is known by this exact name."""
    return f"projects/{settings.project}/locations/{region}/jobs/{JOB_PREFIX}{settings.service}"


def job_body(settings: Settings, target: _Target, options: SetupOptions) -> dict:
    uri = f"{target.function_url}/reconcile"
    headers = {"Content-Type": "application/json"}
    http_target: dict[str, Any] = {"uri": uri, "httpMethod": "POST", "headers": headers,
                                   "body": base64.b64encode(b"{}").decode()}
    if options.service_account:
        # Cloud Scheduler puts the OIDC token in Authorization (for an IAM-protected
        # function), so switch's own secret travels as ?auth_token=.
        http_target["uri"] = f"{uri}?auth_token={quote(settings.token, safe='')}"
        http_target["oidcToken"] = {"serviceAccountEmail": options.service_account, "audience": target.function_url}
        secret = http_target["uri"]
    elif settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
        secret = headers["Authorization"]
    else:
        raw = base64.b64encode(f"{settings.basic_user}:{settings.basic_password}".encode()).decode()
        headers["Authorization"] = f"Basic {raw}"
        secret = headers["Authorization"]
    return {
        "name": job_name(settings, target.scheduler_region),
        "description": (f"{JOB_MARKER}; service: {settings.service}; calls /reconcile every 5 minutes; "
                        f"secret {fingerprint(target.project, target.service, secret)}"),
        "schedule": SCHEDULE,
        "timeZone": SCHEDULE_TIME_ZONE,
        "httpTarget": http_target,
    }


def plan(settings: Settings, options: SetupOptions = SetupOptions(), *,
         channel_name: str = PENDING_CHANNEL, check_name: str = PENDING_CHECK) -> list[Part]:
    """The desired bodies, in the order setup creates them (no API call)."""
    target = resolve(settings, options)
    check = check_body(target)
    parts = [
        Part(CHANNEL, f"switch {target.service}", channel_body(settings, target)),
        Part(CHECK, check["displayName"], check),
        Part(POLICY, policy_display_name(settings, target), policy_body(settings, target, channel_name, check_name)),
    ]
    if options.scheduler:
        parts.append(Part(JOB, JOB_PREFIX + settings.service, job_body(settings, target, options)))
    return parts


def redact(body: Any) -> Any:
    """A copy fit to print: passwords, Authorization headers and auth_token values hidden."""
    if isinstance(body, dict):
        return {k: (REDACTED if k in SENSITIVE_LABELS or k.lower() == "authorization" else redact(v))
                for k, v in body.items()}
    if isinstance(body, list):
        return [redact(v) for v in body]
    if isinstance(body, str):
        return re.sub(r"(auth_token=)[^&\s\"]+", r"\1" + REDACTED, body)
    return body


# -- comparing what exists with what is wanted -----------------------------------


def _seconds(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(str(value).rstrip("s"))
    except ValueError:
        return None


def _ours(item: dict, service: str) -> bool:
    labels = item.get("userLabels") or {}
    return labels.get(MANAGED_BY[0]) == MANAGED_BY[1] and labels.get(SERVICE_LABEL) == service


def _our_labels(labels: dict | None) -> dict:
    return {k: v for k, v in (labels or {}).items() if k in (MANAGED_BY[0], SERVICE_LABEL, SECRET_LABEL)}


def _channel_key(body: dict) -> dict:
    return {
        "displayName": body.get("displayName", ""),
        "description": body.get("description", ""),
        "enabled": body.get("enabled", True) is not False,
        "labels": {k: v for k, v in (body.get("labels") or {}).items() if k not in SENSITIVE_LABELS},
        "userLabels": _our_labels(body.get("userLabels")),
    }


def _http_key(check: dict) -> tuple:
    http = check.get("httpCheck") or {}
    use_ssl = bool(http.get("useSsl", False))  # proto3 JSON leaves false out
    return (http.get("requestMethod") or "GET", use_ssl, bool(http.get("validateSsl", False)),
            http.get("path") or "/", int(http.get("port") or (443 if use_ssl else 80)))


def _check_key(body: dict) -> dict:
    return {
        "displayName": body.get("displayName", ""),
        "timeout": _seconds(body.get("timeout")),
        "selectedRegions": sorted(body.get("selectedRegions") or []),
        "httpCheck": _http_key(body),
    }


def _check_fixed(body: dict) -> tuple:
    """Fields Monitoring cannot update on a check: a change means a new check."""
    resource = body.get("monitoredResource") or {}
    labels = resource.get("labels") or {}
    return resource.get("type"), labels.get("host"), labels.get("project_id"), _seconds(body.get("period"))


def _condition_key(condition: dict) -> tuple:
    t = condition.get("conditionThreshold") or {}
    trigger = t.get("trigger") or {"count": 1}
    aggregations = tuple(
        (_seconds(a.get("alignmentPeriod")), a.get("perSeriesAligner"), a.get("crossSeriesReducer"),
         tuple(sorted(a.get("groupByFields") or [])))
        for a in t.get("aggregations") or []
    )
    threshold = t.get("thresholdValue")
    return (condition.get("displayName"), t.get("filter"), aggregations, t.get("comparison"),
            float(threshold) if threshold is not None else None, _seconds(t.get("duration")) or 0.0,
            trigger.get("count"), trigger.get("percent"))


def _policy_key(body: dict) -> dict:
    documentation = body.get("documentation") or {}
    return {
        "displayName": body.get("displayName", ""),
        "combiner": body.get("combiner"),
        "severity": body.get("severity"),
        "enabled": body.get("enabled", True) is not False,
        "userLabels": _our_labels(body.get("userLabels")),
        "notificationChannels": sorted(body.get("notificationChannels") or []),
        "alertStrategy": sorted((body.get("alertStrategy") or {}).get("notificationPrompts") or []),
        "documentation": (documentation.get("content"), documentation.get("mimeType")),
        "conditions": [_condition_key(c) for c in body.get("conditions") or []],
    }


def _job_key(body: dict) -> dict:
    http = body.get("httpTarget") or {}
    # Cloud Scheduler adds headers of its own (User-Agent); compare ours, by
    # case-insensitive name, and leave Authorization to the fingerprint.
    ours = {"content-type"}
    headers = {k.lower(): v for k, v in (http.get("headers") or {}).items() if k.lower() in ours}
    return {
        "description": body.get("description", ""),
        "schedule": body.get("schedule"),
        "timeZone": body.get("timeZone") or "Etc/UTC",
        "httpTarget": (http.get("uri"), http.get("httpMethod"), http.get("body") or "", headers,
                       http.get("oidcToken") or None),
    }


def _changed(key: Callable[[dict], dict], desired: dict, actual: dict) -> list[str]:
    want, have = key(desired), key(actual)
    return [name for name in want if want[name] != have.get(name)]


# -- calling Google ------------------------------------------------------------

API_NAMES = {"monitoring": "Cloud Monitoring", "cloudscheduler": "Cloud Scheduler", "pubsub": "Pub/Sub",
             "cloudresourcemanager": "Resource Manager"}
API_HINTS = {
    "monitoring": "the caller needs roles/monitoring.editor and the Monitoring API enabled",
    "cloudscheduler": "the caller needs roles/cloudscheduler.admin and the Cloud Scheduler API enabled",
    "pubsub": "the caller needs roles/pubsub.admin on the topic",
    "cloudresourcemanager": "pass --project-number to skip this lookup",
}


class _Google:
    """The discovery clients setup uses, built lazily, and one way to call them."""

    def __init__(self, settings: Settings, options: SetupOptions):
        self.settings = settings
        self.options = options
        self.parent = f"projects/{settings.project}"

    def _client(self, api: str, version: str, endpoint: str):
        from . import transport

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
        from .transport import execute

        return execute(request, label=API_NAMES[api], api=api, what=what, retries=self.settings.api_retries,
                       base=self.settings.retry_base_seconds, hint=API_HINTS[api])

    def list_all(self, collection, key: str, api: str, what: str, **params) -> list[dict]:
        items: list[dict] = []
        token = None
        while True:
            page = self.call(collection.list(**params, **({"pageToken": token} if token else {})), api, what) or {}
            items.extend(page.get(key) or [])
            token = page.get("nextPageToken")
            if not token:
                return items

    # Monitoring collections, each listed in full and filtered to ours.

    def channels(self) -> list[dict]:
        return self.list_all(self.monitoring.notificationChannels(), "notificationChannels", "monitoring",
                             "list notification channels", name=self.parent)

    def checks(self) -> list[dict]:
        return self.list_all(self.monitoring.uptimeCheckConfigs(), "uptimeCheckConfigs", "monitoring",
                             "list uptime checks", parent=self.parent)

    def policies(self) -> list[dict]:
        return self.list_all(self.monitoring.alertPolicies(), "alertPolicies", "monitoring",
                             "list alert policies", name=self.parent)

    def open_alerts(self, policy: dict) -> list[dict]:
        """Open alerts of ``policy``. The server filter syntax is not confirmed for REST, so a
        refused filter falls back to listing, and the match is always made here."""
        alerts_api = self.monitoring.alerts()
        try:
            alerts = self.list_all(alerts_api, "alerts", "monitoring", "list alerts",
                                   parent=self.parent, filter='state = "OPEN"')
        except UpstreamError as exc:
            if exc.status_code != 400:
                raise
            alerts = self.list_all(alerts_api, "alerts", "monitoring", "list alerts", parent=self.parent)

        def matches(alert: dict) -> bool:
            about = alert.get("policy") or {}
            if about.get("name"):
                return about["name"] == policy.get("name")
            return about.get("displayName") == policy.get("displayName")

        return [a for a in alerts if str(a.get("state", "")).upper() == "OPEN" and matches(a)]

    def job(self, name: str) -> dict | None:
        try:
            return self.call(self.jobs.get(name=name), "cloudscheduler", "get job")
        except UpstreamError as exc:
            if exc.status_code == 404:
                return None
            raise


def _sorted_ours(items: Iterable[dict], service: str) -> list[dict]:
    return sorted((i for i in items if _ours(i, service)), key=lambda i: i.get("name", ""))


def _pick(items: list[dict], prefer: Callable[[dict], bool]) -> tuple[dict | None, list[dict]]:
    """The item setup keeps, and the rest (duplicates that setup deletes)."""
    if not items:
        return None, []
    keep = next((i for i in items if prefer(i)), items[0])
    return keep, [i for i in items if i is not keep]


# -- setup ---------------------------------------------------------------------------


class _Recorder:
    """Collects outcomes and prints each one as it happens."""

    def __init__(self, out: Callable[[str], None], dry_run: bool):
        self.out = out
        self.dry_run = dry_run
        self.outcomes: list[Outcome] = []

    def record(self, action: str, kind: str, display: str, name: str = "", detail: str = "",
               body: dict | None = None, mask: str | None = None) -> Outcome:
        if self.dry_run and action in ("created", "updated", "deleted", "granted"):
            action = {"created": "would create", "updated": "would update", "deleted": "would delete",
                      "granted": "would grant"}[action]
        outcome = Outcome(action, kind, display, name, detail)
        self.outcomes.append(outcome)
        self.out(outcome.line())
        if self.dry_run and body is not None:
            heading = f"  updateMask={mask}\n" if mask else ""
            text = json.dumps(redact(body), indent=2, sort_keys=True)
            self.out(heading + "\n".join("  " + line for line in text.splitlines()))
        return outcome

    def summary(self, verb: str) -> str:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        if not counts:
            text = f"{verb}: nothing of switch's found; nothing to do"
        elif set(counts) <= {"unchanged", "skipped"}:
            text = f"{verb}: nothing to change ({counts.get('unchanged', 0)} unchanged)"
        else:
            order = ("created", "updated", "deleted", "granted", "unchanged", "skipped", "would create",
                     "would update", "would delete", "would grant")
            text = f"{verb}: " + ", ".join(f"{counts[a]} {a}" for a in order if a in counts)
        if self.dry_run:
            text += "; dry run: nothing was sent"
        self.out(text)
        return text


def setup(settings: Settings, options: SetupOptions = SetupOptions(), *, dry_run: bool = False,
          out: Callable[[str], None] = print) -> list[Outcome]:
    """Create, or find and update, channel, uptime check, alert policy (and scheduler job).

    Idempotent: a second run prints ``unchanged`` for each part and writes
    nothing. With ``dry_run`` it reads what exists and sends no write.
    """
    target = resolve(settings, options)  # before any API call
    google = _Google(settings, options)
    rec = _Recorder(out, dry_run)
    if not target.use_ssl:
        out("note: SWITCH_HOME_URL is plain http, so the uptime check does too (no certificate to validate)")

    if target.channel == "pubsub":
        google.call(google.topics.get(topic=target.topic), "pubsub", f"get topic {target.topic}")

    channel_name, stale_channels, our_channel_names = _converge_channel(google, settings, target, rec)
    if target.channel == "pubsub":
        _grant_publisher(google, settings, target, rec)
    check_name, stale_checks = _converge_check(google, target, rec)
    stale_policies = _converge_policy(google, settings, target, rec, channel_name, check_name, our_channel_names)

    # Old and duplicate parts go last, dependents first, once nothing points at them.
    for kind, items, collection in ((POLICY, stale_policies, "alertPolicies"),
                                    (CHECK, stale_checks, "uptimeCheckConfigs"),
                                    (CHANNEL, stale_channels, "notificationChannels")):
        for item, why in items:
            _delete(google, rec, kind, item, collection, detail=why)

    if options.scheduler:
        _converge_job(google, settings, target, options, rec)
    rec.summary("setup")
    policy_moved = any(o.kind == POLICY and o.action in ("created", "updated") for o in rec.outcomes)
    if settings.alert_policy is None and policy_moved and not dry_run:
        out(f"hint: set SWITCH_ALERT_POLICY={policy_display_name(settings, target)!r} on the function so its "
            f"reconcile can see open alerts")
    return rec.outcomes


def _converge_channel(google: _Google, settings: Settings, target: _Target, rec: _Recorder):
    desired = channel_body(settings, target)
    display = desired["displayName"]
    ours = _sorted_ours(google.channels(), target.service)
    names = {c["name"] for c in ours}
    found, extra = _pick(ours, lambda c: c.get("type") == desired["type"])
    stale = [(c, f"duplicate of {found['name']}") for c in extra] if found else []
    if found is not None and found.get("type") != desired["type"]:
        # The type of a channel cannot be changed: make the new one, retire the old.
        stale.append((found, f"replaced: {found.get('type')} → {desired['type']}"))
        found = None
    if found is None:
        if rec.dry_run:
            rec.record("created", CHANNEL, display, "", desired["type"], body=desired)
            return PENDING_CHANNEL, stale, names
        created = google.call(google.monitoring.notificationChannels().create(name=google.parent, body=desired),
                              "monitoring", "create notification channel")
        rec.record("created", CHANNEL, display, created["name"], desired["type"])
        return created["name"], stale, names | {created["name"]}
    changed = _changed(_channel_key, desired, found)
    if (found.get("userLabels") or {}).get(SECRET_LABEL) != desired["userLabels"][SECRET_LABEL] \
            and "labels" not in changed:
        changed.append("labels")  # the secret changed: send the labels again
    if not changed:
        rec.record("unchanged", CHANNEL, display, found["name"], desired["type"])
        return found["name"], stale, names
    body = {name: desired[name] for name in changed}
    if "userLabels" in body:
        body["userLabels"] = {**(found.get("userLabels") or {}), **desired["userLabels"]}
    mask = ",".join(changed)
    if not rec.dry_run:
        google.call(google.monitoring.notificationChannels().patch(name=found["name"], updateMask=mask, body=body),
                    "monitoring", "update notification channel")
    rec.record("updated", CHANNEL, display, found["name"], f"{desired['type']}; {', '.join(changed)}",
               body=body, mask=mask)
    return found["name"], stale, names


def _grant_publisher(google: _Google, settings: Settings, target: _Target, rec: _Recorder, attempts: int = 5):
    number = google.options.project_number
    if number is None:
        if settings.project.isdigit():
            number = settings.project
        else:
            project = google.call(google.projects.get(projectId=settings.project), "cloudresourcemanager",
                                  f"get project {settings.project} (for its number)")
            number = str(project.get("projectNumber") or "")
            if not number.isdigit():
                raise ConfigError("--project-number", "Resource Manager did not give the project number; pass it")
    agent = NOTIFICATION_AGENT.format(number=number)
    member = f"serviceAccount:{agent}"
    display = f"{PUBLISHER_ROLE} on {target.topic}"
    rec.out(f"note: Cloud Monitoring publishes Pub/Sub notifications as its service agent {agent}; "
            f"without {PUBLISHER_ROLE} on the topic the channel drops every alert.")
    if rec.dry_run:
        policy = google.call(google.topics.getIamPolicy(resource=target.topic, options_requestedPolicyVersion=3),
                             "pubsub", "get topic IAM policy") or {}
        rec.record("unchanged" if grants(policy, PUBLISHER_ROLE, member) else "granted", GRANT, display, member)
        return

    def read() -> dict:
        return google.call(google.topics.getIamPolicy(resource=target.topic, options_requestedPolicyVersion=3),
                           "pubsub", "get topic IAM policy")

    def write(policy: dict) -> None:
        google.call(google.topics.setIamPolicy(resource=target.topic, body={"policy": policy}),
                    "pubsub", "set topic IAM policy")

    try:
        changed = add_member(read, write, PUBLISHER_ROLE, member, attempts=attempts)
    except UpstreamError as exc:
        if exc.status_code == 400 and "does not exist" in exc.message:
            exc.message += (" (the notification service agent appears with the project's first Pub/Sub "
                            "channel; run setup again in a minute)")
        raise
    rec.record("granted" if changed else "unchanged", GRANT, display, member)


def _converge_check(google: _Google, target: _Target, rec: _Recorder):
    desired = check_body(target)
    display = desired["displayName"]
    ours = _sorted_ours(google.checks(), target.service)
    found, extra = _pick(ours, lambda c: _check_fixed(c) == _check_fixed(desired))
    stale = [(c, f"duplicate of {found['name']}") for c in extra] if found else []
    if found is not None and _check_fixed(found) != _check_fixed(desired):
        old_host = ((found.get("monitoredResource") or {}).get("labels") or {}).get("host")
        stale.append((found, f"replaced: host {old_host}, period {found.get('period')}"))
        found = None
    if found is None:
        if rec.dry_run:
            rec.record("created", CHECK, display, "", "", body=desired)
            return PENDING_CHECK, stale
        created = google.call(google.monitoring.uptimeCheckConfigs().create(parent=google.parent, body=desired),
                              "monitoring", "create uptime check")
        rec.record("created", CHECK, display, created["name"])
        return created["name"], stale
    changed = _changed(_check_key, desired, found)
    if not changed:
        rec.record("unchanged", CHECK, display, found["name"])
        return found["name"], stale
    body = {name: desired[name] for name in changed}
    mask = ",".join(changed)
    if not rec.dry_run:
        google.call(google.monitoring.uptimeCheckConfigs().patch(name=found["name"], updateMask=mask, body=body),
                    "monitoring", "update uptime check")
    rec.record("updated", CHECK, display, found["name"], ", ".join(changed), body=body, mask=mask)
    return found["name"], stale


def _converge_policy(google: _Google, settings: Settings, target: _Target, rec: _Recorder,
                     channel_name: str, check_name: str, our_channels: set[str]):
    desired = policy_body(settings, target, channel_name, check_name)
    display = desired["displayName"]
    ours = _sorted_ours(google.policies(), target.service)
    found, extra = _pick(ours, lambda p: True)
    stale = [(p, f"duplicate of {found['name']}") for p in extra]
    if found is None:
        if rec.dry_run:
            rec.record("created", POLICY, display, "", "", body=desired)
            return stale
        created = google.call(google.monitoring.alertPolicies().create(name=google.parent, body=desired),
                              "monitoring", "create alert policy")
        rec.record("created", POLICY, display, created["name"])
        return stale
    # Keep what others added: channels that are not ours, labels, alert strategy settings.
    foreign = [c for c in found.get("notificationChannels") or [] if c not in our_channels]
    desired["notificationChannels"] = [channel_name] + foreign
    desired["userLabels"] = {**(found.get("userLabels") or {}), **desired["userLabels"]}
    desired["alertStrategy"] = {**(found.get("alertStrategy") or {}), **desired["alertStrategy"]}
    existing = found.get("conditions") or []
    if len(existing) == 1 and existing[0].get("name"):
        desired["conditions"][0]["name"] = existing[0]["name"]  # keeps the CONDITION_ID
    changed = _changed(_policy_key, desired, found)
    if not changed:
        rec.record("unchanged", POLICY, display, found["name"])
        return stale
    body = {name: desired[name] for name in changed}
    mask = ",".join(changed)
    try:
        if google.open_alerts(found):
            rec.out("note: an alert of this policy is open; Cloud Monitoring closes it when the policy changes "
                    "(a 'cancelled' closing notification), and switch re-probes the home site before failing back")
    except SwitchError:
        pass  # only a warning; the update itself will say if something is wrong
    if not rec.dry_run:
        google.call(google.monitoring.alertPolicies().patch(name=found["name"], updateMask=mask, body=body),
                    "monitoring", "update alert policy")
    rec.record("updated", POLICY, display, found["name"], ", ".join(changed), body=body, mask=mask)
    return stale


def _delete(google: _Google, rec: _Recorder, kind: str, item: dict, collection: str, detail: str = ""):
    display = item.get("displayName", "")
    if not rec.dry_run:
        api = getattr(google.monitoring, collection)()
        try:
            google.call(api.delete(name=item["name"]), "monitoring", f"delete {kind}")
        except UpstreamError as exc:
            if exc.status_code != 404:
                if exc.status_code == 400 and kind in (CHANNEL, CHECK):
                    exc.message += " (is it still used by an alert policy that is not switch's? remove it there)"
                raise
    rec.record("deleted", kind, display, item["name"], detail)


def _converge_job(google: _Google, settings: Settings, target: _Target, options: SetupOptions, rec: _Recorder):
    desired = job_body(settings, target, options)
    name = desired["name"]
    display = name.rsplit("/", 1)[-1]

    def ours_or_refuse(job: dict) -> None:
        if not str(job.get("description", "")).startswith(JOB_MARKER):
            raise NotManaged(f"a Cloud Scheduler job {name} exists but was not created by switch "
                             f"(its description does not start with {JOB_MARKER!r}); it is left untouched")

    found = google.job(name)
    if found is not None:
        ours_or_refuse(found)
    else:
        if not rec.dry_run:
            parent = name.rsplit("/jobs/", 1)[0]
            try:
                google.call(google.jobs.create(parent=parent, body=desired), "cloudscheduler", "create job")
            except UpstreamError as exc:
                # The job's name is fixed, so a create retried after its answer was lost
                # (or a setup running alongside) meets a job that is already there: 409.
                # Look at it and carry on as if it had been found.
                if exc.status_code != 409:
                    raise
                found = google.job(name)
                if found is None:
                    raise
                ours_or_refuse(found)
        if found is None or not _changed(_job_key, desired, found):
            rec.record("created", JOB, display, name, f"{SCHEDULE} → /reconcile", body=desired)
            return
    changed = _changed(_job_key, desired, found)
    if not changed:
        rec.record("unchanged", JOB, display, name, found.get("state", "").lower())
        return
    body = {key: desired[key] for key in changed}
    mask = ",".join(changed)
    if not rec.dry_run:
        google.call(google.jobs.patch(name=name, updateMask=mask, body=body), "cloudscheduler", "update job")
    rec.record("updated", JOB, display, name, ", ".join(changed), body=body, mask=mask)


# -- teardown ------------------------------------------------------------------


def teardown(settings: Settings, options: SetupOptions = SetupOptions(), *, dry_run: bool = False,
             out: Callable[[str], None] = print) -> list[Outcome]:
    """Delete what setup created: only items labelled as switch's for this service.

    Policy first (it references the channel and the check), then check,
    channel, and the scheduler job. Anything else is never touched.
    """
    google = _Google(settings, options)
    rec = _Recorder(out, dry_run)
    service = settings.service
    for kind, items, collection in ((POLICY, google.policies(), "alertPolicies"),
                                    (CHECK, google.checks(), "uptimeCheckConfigs"),
                                    (CHANNEL, google.channels(), "notificationChannels")):
        for item in _sorted_ours(items, service):
            _delete(google, rec, kind, item, collection)

    name = job_name(settings, options.scheduler_region or settings.region)
    try:
        job = google.job(name)
    except UpstreamError as exc:
        # Never used the scheduler (API disabled, no such location) or not allowed
        # to look: the monitoring parts are gone already, so say so and finish.
        rec.record("skipped", JOB, name.rsplit("/", 1)[-1], name, f"could not look: {exc.message}")
        job = None
    if job is not None:
        if str(job.get("description", "")).startswith(JOB_MARKER):
            if not dry_run:
                try:
                    google.call(google.jobs.delete(name=name), "cloudscheduler", "delete job")
                except UpstreamError as exc:
                    if exc.status_code != 404:
                        raise
            rec.record("deleted", JOB, name.rsplit("/", 1)[-1], name)
        else:
            rec.record("skipped", JOB, name.rsplit("/", 1)[-1], name, "not created by switch")
    rec.summary("teardown")
    return rec.outcomes


# -- status --------------------------------------------------------------------


def _describe_channel(channel: dict) -> str:
    labels = channel.get("labels") or {}
    where = labels.get("url") or labels.get("topic") or ""
    return f"{channel.get('type', '?')} {redact(where)}".strip()


def _describe_check(check: dict) -> str:
    method, use_ssl, _, path, port = _http_key(check)
    host = ((check.get("monitoredResource") or {}).get("labels") or {}).get("host", "?")
    scheme = "https" if use_ssl else "http"
    regions = ", ".join(check.get("selectedRegions") or ["all regions"])
    return f"{method} {scheme}://{host}:{port}{path} every {check.get('period', '?')} from {regions}"


def _status_of(found: list[dict], kind: str, describe: Callable[[dict], str]) -> tuple[dict | None, Row]:
    if not found:
        return None, Row(kind, "missing", "", "run: python -m switch setup")
    item = found[0]
    state = "disabled" if item.get("enabled") is False or item.get("disabled") is True else "ok"
    detail = describe(item)
    if len(found) > 1:
        detail += f" (+{len(found) - 1} duplicate; setup removes it)"
    return item, Row(kind, state, item.get("name", ""), detail)


def chain_status(settings: Settings, options: SetupOptions = SetupOptions(), *,
                 extra: Callable[[], list[Row]] | None = None) -> list[Row]:
    """One row per part of the chain; a part that cannot be read says why instead of failing the rest.

    ``extra`` returns more rows (replica, domain mapping, redirect), for
    example ``lambda: rows_from_switch_status(Switch.from_settings(s).status())``.
    """
    google = _Google(settings, options)
    service = settings.service
    rows: list[Row] = []

    def guarded(kind: str, read: Callable[[], list[dict]], describe: Callable[[dict], str]) -> dict | None:
        try:
            item, row = _status_of(_sorted_ours(read(), service), kind, describe)
        except SwitchError as exc:
            rows.append(Row(kind, "error", "", exc.message))
            return None
        rows.append(row)
        return item

    guarded(CHANNEL, google.channels, _describe_channel)
    guarded(CHECK, google.checks, _describe_check)
    policy = guarded(POLICY, google.policies, lambda p: "")
    if policy is not None:
        try:
            open_alerts = google.open_alerts(policy)
            answer = f"alert open: yes (since {open_alerts[0].get('openTime', '?')})" if open_alerts \
                else "alert open: no"
        except SwitchError as exc:
            answer = f"alert open: unknown ({exc.message})"
        rows[-1] = Row(POLICY, rows[-1].state, rows[-1].name, f"{policy.get('displayName', '')}; {answer}")

    name = job_name(settings, options.scheduler_region or settings.region)
    try:
        job = google.job(name)
        if job is None:
            rows.append(Row(JOB, "missing", name, "optional: python -m switch setup --scheduler"))
        else:
            ours = str(job.get("description", "")).startswith(JOB_MARKER)
            last = job.get("lastAttemptTime")
            status = (job.get("status") or {}).get("message") or ("ok" if last else "")
            detail = f"{job.get('schedule', '?')} → {((job.get('httpTarget') or {}).get('uri') or '?').split('?')[0]}"
            if last:
                detail += f"; last run {last} {status}".rstrip()
            if not ours:
                detail += "; not created by switch"
            rows.append(Row(JOB, str(job.get("state", "?")).lower(), name, detail))
    except SwitchError as exc:
        rows.append(Row(JOB, "unknown", name, exc.message))

    if extra is not None:
        try:
            rows.extend(extra())
        except SwitchError as exc:
            rows.append(Row("replica", "error", settings.service, exc.message))
    return rows


def rows_from_switch_status(status: dict) -> list[Row]:
    """Rows for the replica, its domain mapping and the redirect from ``Switch.status()``."""
    rows = []
    replica = status.get("replica")
    service = status.get("service", "")
    if not replica:
        rows.append(Row("replica", "none", service, "standby: visitors go to the home site"))
    else:
        ready = replica.get("ready")
        state = "ready" if ready is True else "failed" if ready is False else "deploying"
        bits = [replica.get("url") or ""]
        if replica.get("pinned"):
            bits.append("pinned")
        if replica.get("active_seconds") is not None:
            bits.append(f"active {replica['active_seconds']} s")
        if replica.get("message") and ready is not True:
            bits.append(str(replica["message"]))
        rows.append(Row("replica", state, service, "; ".join(b for b in bits if b)))
    if "domain" in status:
        mapping = status.get("domain")
        if not mapping:
            rows.append(Row("domain mapping", "none", "", "created by the next failover or reconcile"))
        else:
            conditions = mapping.get("conditions") or {}
            cert = (conditions.get("CertificateProvisioned") or {}).get("status")
            state = "ready" if cert == "True" else "pending"
            records = ", ".join(f"{r.get('name')} {r.get('type')} {r.get('rrdata')}"
                                for r in mapping.get("dns_records") or [])
            detail = f"certificate {cert or 'unknown'}" + (f"; DNS: {records}" if records else "")
            rows.append(Row("domain mapping", state, str(mapping.get("host") or ""), detail))
    traffic = status.get("traffic") or {}
    if traffic:
        if not traffic.get("configured"):
            state = "not configured"
        else:
            state = "on" if traffic.get("enabled") else "off"
        detail = f"→ {traffic['target']}" if traffic.get("enabled") and traffic.get("target") else ""
        if traffic.get("detail"):
            detail = f"{detail}; {traffic['detail']}".lstrip("; ")
        rows.append(Row("redirect", state, str(traffic.get("router") or ""), detail))
    return rows


def format_table(rows: list[Row]) -> str:
    """An aligned table: PART, STATE, NAME, DETAIL."""
    table = [("PART", "STATE", "NAME", "DETAIL")] + [(r.part, r.state, r.name, r.detail) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    return "\n".join(
        f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:<{widths[2]}}  {line[3]}".rstrip()
        for line in table
    )


# -- the CLI's side ------------------------------------------------------------


def add_arguments(parser, command: str = "setup") -> None:
    """Options for ``setup`` (all), ``teardown`` (--dry-run, --scheduler-region) or ``status``."""
    if command in ("setup", "teardown"):
        parser.add_argument("--dry-run", action="store_true",
                            help="read what exists and print what would change (request bodies with secrets "
                                 "redacted); send no write")
    if command == "setup":
        parser.add_argument("--function-url", metavar="URL",
                            help="the deployed function's https URL (required for webhook channels and --scheduler)")
        parser.add_argument("--channel", choices=sorted(CHANNEL_TYPES),
                            help="how Cloud Monitoring calls switch: basic (webhook_basicauth with "
                                 "SWITCH_BASIC_USER/PASSWORD), token (webhook_tokenauth, ?auth_token=SWITCH_TOKEN) "
                                 "or pubsub (a topic); default: basic when Basic credentials are set, else token")
        parser.add_argument("--topic", metavar="TOPIC",
                            help="Pub/Sub topic for --channel pubsub: a name or projects/P/topics/T")
        parser.add_argument("--alert-duration", type=int, default=DEFAULT_ALERT_DURATION, metavar="SECONDS",
                            dest="alert_duration_seconds",
                            help="how long more than one region must fail before the alert opens "
                                 "(a multiple of 60; default 60)")
        parser.add_argument("--scheduler", action="store_true",
                            help="also create a Cloud Scheduler job that POSTs /reconcile every 5 minutes")
        parser.add_argument("--service-account", metavar="EMAIL",
                            help="the scheduler job sends an OIDC token of this account (for an IAM-protected "
                                 "function) and SWITCH_TOKEN as ?auth_token=")
        parser.add_argument("--project-number", metavar="NUMBER",
                            help="the project's number, for the Pub/Sub grant (else asked of Resource Manager)")
    parser.add_argument("--scheduler-region", metavar="REGION",
                        help="Cloud Scheduler region of the reconcile job (default: SWITCH_REGION)")


def options_from_args(args) -> SetupOptions:
    """SetupOptions from what ``add_arguments`` parsed (missing attributes take the defaults)."""
    def get(name, default=None):
        value = getattr(args, name, None)
        return default if value is None else value

    return SetupOptions(
        function_url=get("function_url"),
        channel=get("channel"),
        topic=get("topic"),
        alert_duration_seconds=get("alert_duration_seconds", DEFAULT_ALERT_DURATION),
        scheduler=bool(get("scheduler", False)),
        scheduler_region=get("scheduler_region"),
        service_account=get("service_account"),
        project_number=get("project_number"),
    )


__all__ = [
    "SetupOptions", "Part", "Outcome", "Row", "plan", "setup", "teardown", "chain_status",
    "rows_from_switch_status", "format_table", "add_arguments", "options_from_args", "redact",
    "channel_body", "check_body", "policy_body", "job_body", "fingerprint", "resolve",
]
