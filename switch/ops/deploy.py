"""``python -m switch deploy``: both entry points as Cloud Run functions (2nd gen), from nothing to callable.

Never Deployment Manager (shut down since 2026-03-31), never 1st gen: the
Cloud Functions v2 API, through the same transport, retries and endpoint
overrides as everything else (deploy.md §8). In order:

    Pub/Sub topic ▸ service account ▸ its project roles ▸ secrets
      ▸ function switch (HTTP) ▸ allUsers may invoke it
      ▸ function switch_pubsub (Pub/Sub trigger, retried) ▸ the account may invoke it

Each is a kind handed to the engine (``switch.ops.engine``): found by its
exact name, created when missing, updated in place when it differs, left
alone when it is the same; someone else's object at one of these names is
refused. Everything is checked before the first call, and every problem is
named in one message. A dry run reads and prints the plan, secrets never shown.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from .. import config, sites
from ..config import PREFIX, is_loopback_url
from ..errors import ConfigError
from ..sites import SITES_FILE
from . import engine, marks, naming, source
from .engine import Context, Outcome, Recorder
from .google import Google
from .kinds.account import ServiceAccount
from .kinds.function import Function
from .kinds.invoker import Invoker
from .kinds.project_role import ROLES, ProjectRole
from .kinds.secret import SECRETS, Secret, secret_id
from .kinds.topic import PubSubTopic

DEFAULT_TOPIC = "switch-alerts"
TOPIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
RUNTIMES = ("python312", "python313", "python314")
# 1 vCPU and 512 MiB: the function's own start (imports, the first Google call)
# takes ~0.3 s on a full CPU and several times that on the 0.167 vCPU that a
# 256 MB function gets (see README, Performance).
MEMORY, CPU = "512Mi", "1"
# The HTTP call waits for the replica to become ready; 540 s is the most an
# event-driven function may have, and the HTTP one gets the same.
TIMEOUT_SECONDS = 540
MAX_INSTANCES = 10
CONCURRENCY = 4
# Variables that are the deployer's business, never the function's.
NOT_FOR_THE_FUNCTION = {"SWITCH_STAGE", "SWITCH_PUBSUB_TOPIC", "SWITCH_PYTHON"}
# Where a sites file travels in the function's source (switch.sites finds it relative to main.py).
SITES_DIR = "sites"


@dataclass(frozen=True)
class DeployOptions:
    stage: str | None = None  # default: SWITCH_STAGE, else prod
    topic: str | None = None  # default: SWITCH_PUBSUB_TOPIC, else switch-alerts
    runtime: str = RUNTIMES[0]
    site: str | None = None  # with a sites file: a site that must be among those served


@dataclass(frozen=True)
class DeployTarget:
    """Everything a deploy creates, named and checked before the first call."""

    project: str
    region: str
    stage: str
    topic: str
    runtime: str
    environment: Mapping[str, str]
    secrets: Mapping[str, str]  # function variable -> secret ID
    source: bytes = field(repr=False)
    source_hash: str = ""
    memory: str = MEMORY
    cpu: str = CPU
    timeout_seconds: int = TIMEOUT_SECONDS
    max_instances: int = MAX_INSTANCES
    concurrency: int = CONCURRENCY

    @property
    def location(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def account_id(self) -> str:
        return naming.account_id(self.stage)

    @property
    def account_email(self) -> str:
        return f"{self.account_id}@{self.project}.iam.gserviceaccount.com"

    def function_name(self, entry: str) -> str:
        return f"{self.location}/functions/{naming.function_id(self.stage, entry)}"

    def labels(self, **more: str) -> dict[str, str]:
        return {marks.MANAGED_BY[0]: marks.MANAGED_BY[1], marks.STAGE_LABEL: self.stage, **more}


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    return value or None


def function_environment(env: Mapping[str, str], settings) -> dict[str, str]:
    """The SWITCH_* settings that are set, for the function: never a secret, never an endpoint override.

    Endpoint overrides exist for the local emulator and must never leak from a
    deployer's shell into production; secrets go through Secret Manager.
    """
    chosen = {name: value.strip() for name, value in env.items()
              if name.startswith(PREFIX) and value.strip() and name not in SECRETS
              and not name.endswith("_ENDPOINT") and name not in NOT_FOR_THE_FUNCTION}
    chosen.update({"SWITCH_PROJECT": settings.project, "SWITCH_REGION": settings.region})
    return dict(sorted(chosen.items()))


def _problems(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """What would make the deployed function useless or unsafe, beyond what the function itself checks."""
    problems = []
    if not _raw(env, "SWITCH_TOKEN") and not (_raw(env, "SWITCH_BASIC_USER") and _raw(env, "SWITCH_BASIC_PASSWORD")):
        problems.append(("SWITCH_TOKEN", "is not set, nor SWITCH_BASIC_USER and SWITCH_BASIC_PASSWORD: the function "
                         "would refuse every request. Make a token with python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))' and keep it: setup and curl use it next"))
    for name, value in sorted(env.items()):
        if name.startswith(PREFIX) and "auth_token" in parse_qs(urlsplit(value.strip()).query):
            # Never echo it: the value is a secret.
            problems.append((name, "carries an auth_token in its URL; give the token as SWITCH_TOKEN, never "
                             "inside a URL"))
    return problems


def _google_credentials(settings) -> list[tuple[str, str]]:
    """No credentials at all is the first thing a newcomer meets; say so before any call."""
    from ..transport import credentials_for

    endpoints = (settings.functions_endpoint, settings.iam_endpoint, settings.secretmanager_endpoint,
                 settings.run_endpoint, settings.pubsub_endpoint, settings.resourcemanager_endpoint)
    try:
        for endpoint in {e for e in endpoints if not is_loopback_url(e)}:
            credentials_for(endpoint)  # the local emulator takes anonymous calls
            break
    except ConfigError as exc:
        return [(exc.variable, exc.problem)]
    return []


def resolve(options: DeployOptions = DeployOptions(), env: Mapping[str, str] | None = None):
    """(Settings, DeployTarget), or one ConfigError naming every problem; no API call."""
    env = os.environ if env is None else env
    problems: list[tuple[str, str]] = []
    settings = None
    sites_file = _raw(env, SITES_FILE)
    try:
        if sites_file:
            # Every site is checked here; the function serves them all from the file the zip carries.
            served = sites.from_file(sites_file, env)
            if options.site is not None and options.site not in served.by_name:
                problems.append(("--site", f"no site {options.site!r} in {sites_file}; the sites are "
                                           f"{', '.join(served.names)}"))
            settings = served.any
        else:
            settings = config.from_env(env)
            if options.site is not None and options.site != settings.service:
                problems.append(("--site", f"without {SITES_FILE} the one site is {settings.service!r}"))
    except ConfigError as exc:
        problems.extend(exc.problems)
    problems.extend(p for p in _problems(env) if p[0] not in {v for v, _ in problems})
    stage = None
    try:
        stage = naming.stage(options.stage or env.get("SWITCH_STAGE"))
    except ConfigError as exc:
        problems.append((exc.variable, exc.problem))
    topic = options.topic or _raw(env, "SWITCH_PUBSUB_TOPIC") or DEFAULT_TOPIC
    short = topic.rsplit("/", 1)[-1]
    if not TOPIC_NAME.match(short) or short.lower().startswith("goog"):
        problems.append(("SWITCH_PUBSUB_TOPIC", f"{topic!r} is not a Pub/Sub topic name such as switch-alerts"))
    if options.runtime not in RUNTIMES:
        problems.append(("--runtime", f"{options.runtime!r} is not a runtime switch deploys; use one of "
                         f"{', '.join(RUNTIMES)}"))
    if settings is not None:
        problems.extend(_google_credentials(settings))
    if problems:
        raise ConfigError.of(problems)
    extra = {}
    environment = function_environment(env, settings)
    if sites_file:
        # The function reads the file from its own source: it travels in the zip, under its own name.
        name = f"{SITES_DIR}/{Path(sites_file).name}"
        extra[name] = sites.locate(sites_file).read_bytes()
        environment[SITES_FILE] = name
    data, digest = source.build(runtime=options.runtime, extra=extra)
    target = DeployTarget(
        project=settings.project, region=settings.region, stage=stage,
        topic=topic if topic.startswith("projects/") else f"projects/{settings.project}/topics/{topic}",
        runtime=options.runtime, environment=environment,
        secrets={v: secret_id(stage, v) for v in SECRETS if getattr(settings, v[len(PREFIX):].lower())},
        source=data, source_hash=digest)
    return settings, target


def plan(target: DeployTarget):
    """The kinds of a deploy, in the order they are made."""
    return [
        PubSubTopic(),
        ServiceAccount(),
        *(ProjectRole(role) for role in ROLES),
        *(Secret(variable) for variable in SECRETS),
        Function("switch"), Invoker("switch"),
        Function("switch_pubsub"), Invoker("switch_pubsub"),
    ]


def deploy(options: DeployOptions = DeployOptions(), *, dry_run: bool = False, env: Mapping[str, str] | None = None,
           out: Callable[[str], None] = print) -> list[Outcome]:
    settings, target = resolve(options, env)
    ctx = Context(settings=settings, target=target, api=Google(settings), rec=Recorder(out, dry_run))
    out(f"deploy: stage {target.stage} to {target.location} ({target.runtime}, source {len(target.source)} bytes, "
        f"{target.source_hash})")
    if not source.compiles_for(target.runtime):
        major, minor = source.runtime_version(target.runtime) or (3, 0)
        ctx.note(f"the function's own modules are compiled at its first start: deploy with Python {major}.{minor} "
                 f"(the {target.runtime} runtime's) to ship their bytecode and start faster")
    if not settings.home_url:
        ctx.note("SWITCH_HOME_URL is not set: the function cannot probe the home site, so an automatic failback "
                 "waits for your alert policy's closing notification alone")
    engine.apply(plan(target), ctx)
    ctx.rec.summary("deploy")
    function = ctx.memo.get("function:switch") or {}
    url = function.get("url") or (function.get("serviceConfig") or {}).get("uri")
    if dry_run:
        out("next: run it again without --dry-run to deploy")
    elif url:
        stage = "" if target.stage == naming.DEFAULT_STAGE else f" --stage {target.stage}"
        out(f"url: {url}")
        out(f"next: python -m switch setup --function-url {url}{stage}")
        if "SWITCH_TOKEN" in target.secrets or "SWITCH_BASIC_PASSWORD" in target.secrets:
            out("      (setup reads the credentials from Secret Manager, where this deploy stored them; "
                "no need to type them again)")
    return ctx.rec.outcomes
