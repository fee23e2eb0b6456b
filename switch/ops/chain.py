"""Setup, teardown and status of the chain that calls switch.

``python -m switch setup`` wires, in one command and through the same
requests transport as the Run client::

    uptime check (60 s, 3 regions) ─▶ alert policy ─▶ notification channel ─▶ switch
                                                      (+ optional Cloud Scheduler job ─▶ /reconcile)

Each command is a list of kinds (``switch.ops.kinds``) handed to the engine
(``switch.ops.engine``), which finds what is ours by its labels, updates in
place, replaces what cannot be updated, cleans up duplicates, prints one
line per object and never writes in a dry run. This module checks the
settings and options together, before any API call, and says what to fix.

Teardown deletes policy, check, channel, scheduler job in that order (a
policy references the channel and the check), then the replica (the warm
standby, or one a failover left), unless visitors are on it. It leaves the
Pub/Sub publisher grant: the topic is the user's and may serve other
channels.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from ..config import Settings, is_loopback_url
from ..errors import ConfigError, SwitchError
from . import engine, naming
from .engine import Context, Outcome, Recorder, Row
from .google import Google
from .kinds import kinds
from .kinds.channel import TYPES as CHANNEL_TYPES

DEFAULT_ALERT_DURATION = 60
# setup --fast: how many failed reconcile rounds (one a minute) fail over to the warm standby.
FAST_PROBE_ROUNDS = 2
MAX_ALERT_DURATION = 24 * 3600
TOPIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
TOPIC_PATH = re.compile(r"^projects/([^/]+)/topics/([^/]+)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

SETUP = ("notification channel", "publisher grant", "uptime check", "alert policy", "scheduler job")
TEARDOWN = ("alert policy", "uptime check", "notification channel", "scheduler job", "replica")
STATUS = ("notification channel", "uptime check", "alert policy", "scheduler job")


def _functions(scope) -> list:
    """The deployed functions, as status shows them."""
    from .kinds.function import Function

    return [Function(entry) for entry in naming.ENTRY_POINTS] if scope.region else []


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
    stage: str | None = None  # the deploy's stage: where its secrets and functions are found
    fast: bool = False  # the reconcile job every minute: detection by probe for the warm standby


@dataclass(frozen=True)
class Target:
    """Settings and options, validated together before any API call."""

    project: str
    service: str
    scheduler_region: str
    options: SetupOptions = field(default_factory=SetupOptions)
    region: str = ""
    stage: str = naming.DEFAULT_STAGE
    channel: str = ""
    function_url: str | None = None
    topic: str | None = None
    host: str = ""
    port: int = 443
    use_ssl: bool = True
    path: str = "/healthz"
    duration: int = DEFAULT_ALERT_DURATION
    site: str = ""  # with a sites file: the site of a check or policy ("" for what all sites share)
    sites: tuple[str, ...] = ()  # with a sites file: every site (what the shared channel and job serve)

    @property
    def location(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def function_name(self, entry: str) -> str:
        return f"{self.location}/functions/{naming.function_id(self.stage, entry)}"


def _function_url(value: str) -> str:
    parts = urlsplit(value)
    shown = repr(f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else "(not a URL)")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("--function-url", f"{shown} is not a URL; give the deployed function's URL, "
                          "for example https://REGION-PROJECT.cloudfunctions.net/switch-prod")
    if parts.scheme == "http" and not is_loopback_url(value):
        # The channel sends credentials with every notification.
        raise ConfigError("--function-url", f"{shown} uses plain http; the function's URL must be https")
    if parts.query or parts.fragment:
        # Never echo the query: people paste the channel's URL, ?auth_token=SECRET and all.
        raise ConfigError("--function-url", f"{shown} must not have a query or fragment; setup adds the token "
                          "itself (from SWITCH_TOKEN, or where deploy stored it)")
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


def resolve(settings: Settings, options: SetupOptions) -> Target:
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
        raise ConfigError("--function-url", f"is required for a {CHANNEL_TYPES[kind]} channel and no deployed "
                          "function was found; deploy first (python -m switch deploy), or give the function's "
                          "URL, for example https://REGION-PROJECT.cloudfunctions.net/switch-prod")
    if function_url is None and options.scheduler:
        raise ConfigError("--function-url", "is required for the reconcile job, which calls <function-url>/reconcile "
                          "(deploy first: python -m switch deploy; or leave the job out with --no-scheduler)")
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

    if options.fast and not options.scheduler:
        raise ConfigError("--fast", "needs the reconcile job: detection by probe is a reconcile round a minute; "
                          "leave out --no-scheduler")
    scheduler_region = options.scheduler_region or settings.region
    if options.scheduler and not scheduler_region:
        raise ConfigError("SWITCH_REGION", "is not set; the scheduler job needs a region: set SWITCH_REGION "
                          "or --scheduler-region")
    return Target(
        project=settings.project,
        service=settings.service,
        scheduler_region=scheduler_region,
        options=options,
        region=settings.region,
        stage=naming.stage(options.stage),
        channel=kind,
        function_url=function_url,
        topic=topic,
        host=home.hostname.lower(),
        port=home.port or (443 if use_ssl else 80),
        use_ssl=use_ssl,
        path=settings.health_path,
        duration=duration,
        site=settings.site,
    )


def _scope(settings: Settings, options: SetupOptions) -> Target:
    """What teardown and status need: only where to look."""
    return Target(project=settings.project, service=settings.service,
                  scheduler_region=options.scheduler_region or settings.region, options=options,
                  region=settings.region, stage=naming.stage(options.stage))


def _looking(labels: tuple[str, ...], target: Target) -> tuple[str, ...]:
    """The kinds that can be looked for: the scheduler job needs a region, the functions need SWITCH_REGION."""
    return tuple(label for label in labels if (label != "scheduler job" or target.scheduler_region)
                 and (label not in ("function", "replica") or target.region))


def with_deployed_url(settings: Settings, options: SetupOptions, out: Callable[[str], None]) -> SetupOptions:
    """``options`` with the deployed HTTP function's URL when ``--function-url`` was not given."""
    if options.function_url or (options.channel == "pubsub" and not options.scheduler) or not settings.region:
        return options
    from dataclasses import replace

    api = Google(settings)
    name = _scope(settings, options).function_name("switch")
    function = api.get_or_none(api.functions.functions().get(name=name), "cloudfunctions", "get function")
    url = (function or {}).get("url") or ((function or {}).get("serviceConfig") or {}).get("uri")
    if not url:
        return options
    out(f"note: the function's URL, from the deployed {name.rsplit('/', 1)[-1]}: {url}")
    return replace(options, function_url=url)


def with_deployed_secrets(settings: Settings, options: SetupOptions, out: Callable[[str], None]) -> Settings:
    """Settings with SWITCH_TOKEN / SWITCH_BASIC_PASSWORD read from Secret Manager when the shell lacks them.

    ``python -m switch deploy`` stored them there; a person wiring the alert
    from another machine should not have to find and retype them. A secret
    that does not exist is simply not there (setup then says what is missing).
    """
    if settings.token or settings.basic_password:
        return settings
    from dataclasses import replace

    from .kinds.secret import secret_id

    api, stage, found = Google(settings), naming.stage(options.stage), {}
    for variable in ("SWITCH_TOKEN", "SWITCH_BASIC_PASSWORD"):
        if variable == "SWITCH_BASIC_PASSWORD" and not settings.basic_user:
            continue
        name = f"projects/{settings.project}/secrets/{secret_id(stage, variable)}/versions/latest"
        answer = api.get_or_none(api.secrets.versions().access(name=name), "secretmanager",
                                 f"read {secret_id(stage, variable)}")
        if answer is not None:
            found[variable[len("SWITCH_"):].lower()] = base64.b64decode(answer["payload"]["data"]).decode()
            out(f"note: {variable} read from Secret Manager ({secret_id(stage, variable)}), where deploy stored it")
    return replace(settings, **found) if found else settings


def _context(settings: Settings, target: Target, out: Callable[[str], None], dry_run: bool) -> Context:
    return Context(settings=settings, target=target, api=Google(settings), rec=Recorder(out, dry_run))


def setup(settings: Settings, options: SetupOptions = SetupOptions(), *, dry_run: bool = False,
          out: Callable[[str], None] = print) -> list[Outcome]:
    """Create, or find and update, channel, uptime check, alert policy (and scheduler job).

    Idempotent: a second run prints ``unchanged`` for each part and writes
    nothing. With ``dry_run`` it reads what exists and sends no write.
    """
    # Reads only, and only for what the command line and the shell lack; then every check before any write.
    settings = with_deployed_secrets(settings, options, out)
    options = with_deployed_url(settings, options, out)
    target = resolve(settings, options)
    ctx = _context(settings, target, out, dry_run)
    if not target.use_ssl:
        out("note: SWITCH_HOME_URL is plain http, so the uptime check does too (no certificate to validate)")
    if target.channel == "pubsub":
        topic = ctx.api.get_or_none(ctx.api.topics.get(topic=target.topic), "pubsub", f"get topic {target.topic}")
        if topic is None:
            short = target.topic.rsplit("/", 1)[-1]
            raise ConfigError("--topic", f"the Pub/Sub topic {target.topic} does not exist. python -m switch deploy "
                              f"creates it with the Pub/Sub function (SWITCH_PUBSUB_TOPIC={short}), or create it: "
                              f"gcloud pubsub topics create {short} --project={target.project}")

    engine.apply(kinds(*SETUP), ctx)
    ctx.rec.summary("setup")
    if options.fast and not (settings.standby and settings.probe_failover_after):
        out(f"next: set SWITCH_STANDBY=true and SWITCH_PROBE_FAILOVER_AFTER={FAST_PROBE_ROUNDS} on the function "
            f"(export them and run python -m switch deploy again); reconcile then keeps a warm standby and fails "
            f"over after {FAST_PROBE_ROUNDS} failed rounds, without waiting for the alert")
    return ctx.rec.outcomes


def teardown(settings: Settings, options: SetupOptions = SetupOptions(), *, dry_run: bool = False,
             out: Callable[[str], None] = print) -> list[Outcome]:
    """Delete what setup created, and the replica: only items labelled as switch's for this service.

    Policy first (it references the channel and the check), then check,
    channel, the scheduler job and the replica (kept while visitors are on
    it). Anything else is never touched.
    """
    scope = _scope(settings, options)
    ctx = _context(settings, scope, out, dry_run)
    if not scope.scheduler_region:
        out("note: no SWITCH_REGION or --scheduler-region, so the scheduler job was not looked for")
    engine.destroy(kinds(*_looking(TEARDOWN, scope)), ctx)
    ctx.rec.summary("teardown")
    return ctx.rec.outcomes


def chain_status(settings: Settings, options: SetupOptions = SetupOptions(), *,
                 extra: Callable[[], list[Row]] | None = None) -> list[Row]:
    """One row per part of the chain; a part that cannot be read says why instead of failing the rest.

    ``extra`` returns more rows (replica, domain mapping, redirect), for
    example ``lambda: rows_from_switch_status(Switch.from_settings(s).status())``.
    """
    scope = _scope(settings, options)
    ctx = _context(settings, scope, lambda line: None, False)
    rows = engine.status([*kinds(*_looking(STATUS, scope)), *_functions(scope)], ctx)
    if extra is not None:
        try:
            rows.extend(extra())
        except SwitchError as exc:
            rows.append(Row("replica", "error", settings.service, exc.message))
    return rows
