"""Settings: one frozen object read from the environment and validated once.

Every error names the variable to fix. ``load()`` caches the result for the
process and re-reads only when a ``SWITCH_*`` variable changes, so a warm
function instance pays for validation once.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

from . import logs
from .errors import ConfigError

PREFIX = "SWITCH_"

# Cloud Run service names: lowercase letters, digits and '-', a letter first,
# no trailing '-', at most 63 characters (cloudrun.md §3).
SERVICE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
PROJECT_ID = re.compile(r"^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|\d{1,20})$")
REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
MEMORY = re.compile(r"^\d+(?:Mi|Gi)$")
CPU = re.compile(r"^(?:\d+(?:\.\d+)?|\d+m)$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Cloud Run reserves these container variables and rejects a service that sets them.
RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

MIN_TOKEN_LENGTH = 16

DEFAULT_CLOUDFLARE_ENDPOINT = "https://api.cloudflare.com/client/v4/"
DEFAULT_MONITORING_ENDPOINT = "https://monitoring.googleapis.com/"
DEFAULT_SCHEDULER_ENDPOINT = "https://cloudscheduler.googleapis.com/"
DEFAULT_PUBSUB_ENDPOINT = "https://pubsub.googleapis.com/"
DEFAULT_RESOURCEMANAGER_ENDPOINT = "https://cloudresourcemanager.googleapis.com/"
DEFAULT_FUNCTIONS_ENDPOINT = "https://cloudfunctions.googleapis.com/"
DEFAULT_SECRETMANAGER_ENDPOINT = "https://secretmanager.googleapis.com/"
DEFAULT_IAM_ENDPOINT = "https://iam.googleapis.com/"
# Every API root but Cloud Run's (regional, see from_env), by its variable (without SWITCH_).
ENDPOINTS = {
    "CLOUDFLARE_ENDPOINT": DEFAULT_CLOUDFLARE_ENDPOINT,
    "MONITORING_ENDPOINT": DEFAULT_MONITORING_ENDPOINT,
    "SCHEDULER_ENDPOINT": DEFAULT_SCHEDULER_ENDPOINT,
    "PUBSUB_ENDPOINT": DEFAULT_PUBSUB_ENDPOINT,
    "RESOURCEMANAGER_ENDPOINT": DEFAULT_RESOURCEMANAGER_ENDPOINT,
    "FUNCTIONS_ENDPOINT": DEFAULT_FUNCTIONS_ENDPOINT,
    "SECRETMANAGER_ENDPOINT": DEFAULT_SECRETMANAGER_ENDPOINT,
    "IAM_ENDPOINT": DEFAULT_IAM_ENDPOINT,
}
# Values people copy from examples instead of making up a secret.
PLACEHOLDER = re.compile(r"change[-_ ]?me|replace[-_ ]?me|placeholder|your[-_ ]?(token|secret|password)"
                         r"|^<.*>$|^\$\{.*\}$|^x{6,}$|todo", re.I)


@dataclass(frozen=True)
class Settings:
    project: str
    region: str
    service: str
    image: str
    port: int = 8080
    memory: str = "512Mi"
    cpu: str = "1"
    max_instances: int = 3
    container_env: Mapping[str, str] = field(default_factory=dict)
    run_endpoint: str = ""
    # health of the primary site
    home_url: str | None = None
    health_path: str = "/healthz"
    probe_count: int = 3
    probe_interval_seconds: float = 2.0
    probe_timeout_seconds: float = 5.0
    # failback and readiness timing
    min_active_seconds: int = 300
    ready_timeout_seconds: float = 300.0
    poll_interval_seconds: float = 1.0
    public_timeout_seconds: float = 120.0
    # how to talk to APIs
    http_timeout_seconds: float = 30.0
    api_retries: int = 4
    retry_base_seconds: float = 0.5
    # who may call the function
    basic_user: str | None = None
    basic_password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    # traffic
    cloudflare_token: str | None = field(default=None, repr=False)
    cloudflare_zone_id: str | None = None
    cloudflare_host: str | None = None
    cloudflare_endpoint: str = DEFAULT_CLOUDFLARE_ENDPOINT
    failover_domain: str | None = None
    # Cloud Monitoring
    alert_policy: str | None = None
    monitoring_endpoint: str = DEFAULT_MONITORING_ENDPOINT
    scheduler_endpoint: str = DEFAULT_SCHEDULER_ENDPOINT
    pubsub_endpoint: str = DEFAULT_PUBSUB_ENDPOINT
    resourcemanager_endpoint: str = DEFAULT_RESOURCEMANAGER_ENDPOINT
    functions_endpoint: str = DEFAULT_FUNCTIONS_ENDPOINT
    secretmanager_endpoint: str = DEFAULT_SECRETMANAGER_ENDPOINT
    iam_endpoint: str = DEFAULT_IAM_ENDPOINT
    # event ordering
    trust_alerts: bool = False
    max_event_age_seconds: int = 6 * 3600
    # the warm standby and detection without the alert
    standby: bool = False
    probe_failover_after: int = 0
    # the site's name in a sites file (switch.sites); "" when the SWITCH_* variables describe the one site
    site: str = ""

    @property
    def probe_url(self) -> str | None:
        """The URL the home probe asks: the home site with the health path.

        The same path is excluded from the Cloudflare redirect, so the probe
        (and the uptime check) reach the home origin, never the replica.
        """
        if not self.home_url:
            return None
        parts = urlsplit(self.home_url)
        return f"{parts.scheme}://{parts.netloc}{self.health_path}"

    @property
    def cloudflare_enabled(self) -> bool:
        return bool(self.cloudflare_token)

    @property
    def auth_configured(self) -> bool:
        return bool(self.token or (self.basic_user and self.basic_password))


def is_loopback_url(url: str) -> bool:
    """True for an ``http://`` URL on this machine: a local emulator."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class _Reader:
    """Reads and checks one variable at a time; every problem names it, and all are kept.

    A bad value is recorded and read as its default, so one run reports every
    problem at once (``ConfigError.problems``) instead of one per run.
    """

    def __init__(self, environ: Mapping[str, str]):
        self.env = environ
        self.problems: list[tuple[str, str]] = []

    def problem(self, name: str, text: str) -> None:
        variable = name if name.startswith(PREFIX) or name.startswith("-") else PREFIX + name
        if all(v != variable for v, _ in self.problems):
            self.problems.append((variable, text))

    def check(self, read, *args, **kwargs):
        """``read(*args)``, or None after recording the ConfigError it raised."""
        try:
            return read(*args, **kwargs)
        except ConfigError as exc:
            self.problem(exc.variable, exc.problem)
            return None

    def raw(self, name: str) -> str | None:
        value = self.env.get(PREFIX + name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def text(self, name: str, default: str | None = None, *, pattern: re.Pattern | None = None,
             hint: str = "") -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if pattern is not None and not pattern.match(value):
            raise ConfigError(PREFIX + name, f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value

    def required(self, name: str, missing: str, **kw) -> str:
        value = self.text(name, **kw)
        if value is None:
            raise ConfigError(PREFIX + name, f"is not set; {missing}")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(PREFIX + name, f"{value!r} is not a whole number") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(PREFIX + name, f"{number} is out of range; use a number {bound}")
        return number

    def number(self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(PREFIX + name, f"{value!r} is not a number of seconds") from None
        if not number == number or number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
            raise ConfigError(PREFIX + name, f"{value} is out of range; use a number {bound}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(PREFIX + name, f"{value!r} is not a yes/no value; use true or false")

    def url(self, name: str, default: str | None = None, *, allow_path: bool = True) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(PREFIX + name, f"{value!r} is not an http(s) URL")
        if parts.scheme == "http" and not is_loopback_url(value) and name.endswith("ENDPOINT"):
            # Credentials travel with every API call: plain http only to this machine.
            raise ConfigError(PREFIX + name, f"{value!r} uses plain http; only a loopback emulator may")
        if not allow_path and parts.path not in ("", "/"):
            raise ConfigError(PREFIX + name, f"{value!r} must not have a path")
        return value if value.endswith("/") or not name.endswith("ENDPOINT") else value + "/"


def _container_env(reader: _Reader) -> dict[str, str]:
    name = PREFIX + "CONTAINER_ENV"
    raw = reader.raw("CONTAINER_ENV")
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(name, f"is not valid JSON ({exc.msg}); use an object such as {{\"KEY\": \"value\"}}") from None
    if not isinstance(value, dict):
        raise ConfigError(name, "must be a JSON object of names to string values")
    result = {}
    for key, item in value.items():
        if not ENV_NAME.match(key):
            raise ConfigError(name, f"{key!r} is not a valid environment variable name")
        if key in RESERVED_ENV:
            raise ConfigError(name, f"{key!r} is reserved by Cloud Run and cannot be set")
        if not isinstance(item, (str, int, float, bool)):
            raise ConfigError(name, f"the value of {key!r} must be a string")
        result[key] = item if isinstance(item, str) else json.dumps(item)
    return result


def placeholder(value: str) -> bool:
    """A value copied from an example rather than made up: CHANGE-ME..., xxxx, <token>, 0000000000000000."""
    return bool(PLACEHOLDER.search(value)) or len(set(value)) < 6


def _secret(reader: _Reader, name: str, what: str) -> str | None:
    value = reader.raw(name)
    if value is None:
        return None
    hint = ("use at least 16 random characters, for example: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(PREFIX + name, f"is too short to be a secret; {hint}")
    if placeholder(value):
        # Never echo it: it is meant to be a secret, even when it is not one yet.
        raise ConfigError(PREFIX + name, f"looks like a placeholder copied from an example, not a {what}; {hint}")
    return value


def _credentials(r: _Reader, paired: bool) -> tuple[str | None, str | None, str | None]:
    basic_user = r.text("BASIC_USER")
    basic_password = r.check(_secret, r, "BASIC_PASSWORD", "password")
    if bool(basic_user) != bool(r.raw("BASIC_PASSWORD")) and (paired or not basic_user):
        missing = "SWITCH_BASIC_PASSWORD" if basic_user else "SWITCH_BASIC_USER"
        r.problem(missing, "is not set; Basic auth needs both SWITCH_BASIC_USER and SWITCH_BASIC_PASSWORD")
    if basic_user and ":" in basic_user:
        r.problem("BASIC_USER", "must not contain ':' (HTTP Basic separates user and password with it)")
    token = r.check(_secret, r, "TOKEN", "token")
    return basic_user, basic_password, token


def _cloudflare(r: _Reader) -> dict[str, str | None]:
    cf = {key: r.text(key) for key in ("CLOUDFLARE_TOKEN", "CLOUDFLARE_ZONE_ID", "CLOUDFLARE_HOST")}
    if any(cf.values()) and not all(cf.values()):
        missing = next(key for key, value in cf.items() if not value)
        r.problem(missing, "is not set; the Cloudflare redirect needs SWITCH_CLOUDFLARE_TOKEN, "
                  "SWITCH_CLOUDFLARE_ZONE_ID and SWITCH_CLOUDFLARE_HOST together")
    if cf["CLOUDFLARE_HOST"] and not HOSTNAME.match(cf["CLOUDFLARE_HOST"]):
        r.problem("CLOUDFLARE_HOST", f"{cf['CLOUDFLARE_HOST']!r} is not a hostname such as www.example.org")
    if cf["CLOUDFLARE_ZONE_ID"] and not re.match(r"^[0-9a-f]{32}$", cf["CLOUDFLARE_ZONE_ID"]):
        r.problem("CLOUDFLARE_ZONE_ID", "is not a Cloudflare zone ID (32 hex characters)")
    return cf


NEEDS = ("region", "image", "credentials")


def from_env(environ: Mapping[str, str] | None = None, *, need: tuple[str, ...] = NEEDS) -> Settings:
    """Build and validate Settings; raises one ConfigError that names every bad variable.

    ``need`` says which of ``region``, ``image`` and ``credentials`` (a Basic
    user comes with its password) the caller uses: the function needs all;
    setup, teardown and status ask only for what they use (setup can read a
    password the deploy stored in Secret Manager).
    """
    env = os.environ if environ is None else environ
    r = _Reader(env)

    project = r.text("PROJECT") or (env.get("GOOGLE_CLOUD_PROJECT") or "").strip() or None
    if project is None:
        r.problem("PROJECT", "is not set; give the Google Cloud project ID (GOOGLE_CLOUD_PROJECT is used "
                  "when present)")
    elif not PROJECT_ID.match(project):
        r.problem("PROJECT", f"{project!r} is not a Google Cloud project ID")
    region_hint = dict(pattern=REGION, hint="a region looks like europe-west1")
    if "region" in need:
        region = r.check(r.required, "REGION", "give the Cloud Run region, for example europe-west1", **region_hint)
    else:
        region = r.check(r.text, "REGION", **region_hint)
    service = r.check(r.text, "SERVICE", "site-replica", pattern=SERVICE_NAME,
                      hint="lowercase letters, digits and '-', a letter first, at most 63 characters")
    image_missing = ("give the site's container image, for example "
                     "europe-west1-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG")
    image = r.check(r.required, "IMAGE", image_missing) if "image" in need else r.text("IMAGE")
    if image and any(c.isspace() for c in image):
        r.problem("IMAGE", f"{image!r} contains whitespace")

    basic_user, basic_password, token = _credentials(r, "credentials" in need)
    cf = _cloudflare(r)
    region_root = f"https://{region}-run.googleapis.com/" if region else ""

    values = dict(
        project=project or "",
        region=region or "",
        service=service or "site-replica",
        image=image or "",
        port=r.check(r.integer, "PORT", 8080, minimum=1, maximum=65535),
        memory=r.check(r.text, "MEMORY", "512Mi", pattern=MEMORY, hint="for example 512Mi or 2Gi"),
        cpu=r.check(r.text, "CPU", "1", pattern=CPU, hint="for example 1, 2 or 1000m"),
        max_instances=r.check(r.integer, "MAX_INSTANCES", 3, minimum=1, maximum=1000),
        container_env=r.check(_container_env, r),
        run_endpoint=r.check(r.url, "RUN_ENDPOINT", region_root),
        home_url=r.check(r.url, "HOME_URL"),
        health_path=r.check(r.text, "HEALTH_PATH", "/healthz", pattern=re.compile(r"^/[A-Za-z0-9._~/-]*$"),
                            hint="a path such as /healthz"),
        probe_count=r.check(r.integer, "PROBE_COUNT", 3, minimum=1, maximum=20),
        probe_interval_seconds=r.check(r.number, "PROBE_INTERVAL_SECONDS", 2.0, maximum=60),
        probe_timeout_seconds=r.check(r.number, "PROBE_TIMEOUT_SECONDS", 5.0, minimum=0.1, maximum=60),
        min_active_seconds=r.check(r.integer, "MIN_ACTIVE_SECONDS", 300),
        ready_timeout_seconds=r.check(r.number, "READY_TIMEOUT_SECONDS", 300.0, minimum=1, maximum=3600),
        poll_interval_seconds=r.check(r.number, "POLL_INTERVAL_SECONDS", 1.0, minimum=0.05, maximum=30),
        public_timeout_seconds=r.check(r.number, "PUBLIC_TIMEOUT_SECONDS", 120.0, maximum=600),
        http_timeout_seconds=r.check(r.number, "HTTP_TIMEOUT_SECONDS", 30.0, minimum=1, maximum=300),
        api_retries=r.check(r.integer, "API_RETRIES", 4, maximum=10),
        retry_base_seconds=r.check(r.number, "RETRY_BASE_SECONDS", 0.5, maximum=10),
        basic_user=basic_user,
        basic_password=basic_password,
        token=token,
        cloudflare_token=cf["CLOUDFLARE_TOKEN"],
        cloudflare_zone_id=cf["CLOUDFLARE_ZONE_ID"],
        cloudflare_host=cf["CLOUDFLARE_HOST"],
        failover_domain=r.check(r.text, "FAILOVER_DOMAIN", pattern=HOSTNAME,
                                hint="a hostname such as failover.example.org"),
        alert_policy=r.text("ALERT_POLICY"),
        trust_alerts=r.check(r.boolean, "TRUST_ALERTS", False),
        max_event_age_seconds=r.check(r.integer, "MAX_EVENT_AGE_SECONDS", 6 * 3600, minimum=60),
        standby=r.check(r.boolean, "STANDBY", False),
        probe_failover_after=r.check(r.integer, "PROBE_FAILOVER_AFTER", 0, maximum=60),
    )
    if values["probe_failover_after"]:
        # Detection by probe fails over without an alert's second opinion; it is only
        # fast, and only safe to count, with a replica that is already there to hold the count.
        if not values["standby"]:
            r.problem("PROBE_FAILOVER_AFTER", "needs SWITCH_STANDBY=true: detection by probe fails over to the warm "
                      "standby and keeps its count of failed rounds there; set SWITCH_STANDBY=true, or unset "
                      "SWITCH_PROBE_FAILOVER_AFTER")
        if not values["home_url"]:
            r.problem("HOME_URL", "is not set; SWITCH_PROBE_FAILOVER_AFTER probes the home site's health path, "
                      "for example https://www.example.org")
    for variable, default in ENDPOINTS.items():
        values[variable.lower()] = r.check(r.url, variable, default)
    if r.problems:
        raise ConfigError.of(r.problems)
    return Settings(**values)


_cache: tuple[tuple, Settings] | None = None


def _fingerprint(env: Mapping[str, str]) -> tuple:
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith(PREFIX) or k == "GOOGLE_CLOUD_PROJECT"))


def load(need: tuple[str, ...] = NEEDS) -> Settings:
    """Settings from ``os.environ``, validated once per distinct environment (see ``from_env`` for ``need``)."""
    global _cache
    key = (_fingerprint(os.environ), need)
    cached = _cache
    if cached is not None and cached[0] == key:
        return cached[1]
    settings = from_env(os.environ, need=need)
    logs.conceal(settings.token, settings.basic_password, settings.cloudflare_token,
                 basic=(settings.basic_user, settings.basic_password))
    _cache = (key, settings)
    return settings
