"""Several sites, one switch: the sites file, and which site a notification belongs to.

``SWITCH_SITES_FILE`` names a TOML file (read with the standard library's
``tomllib``, deployed with the function's source)::

    [defaults]                      # optional: any per-site key, for every site
    memory = "256Mi"

    [sites.blog]
    image = "europe-west1-docker.pkg.dev/P/site/blog:3"
    home_url = "https://blog.example.org"
    cloudflare_zone_id = "0123456789abcdef0123456789abcdef"
    cloudflare_host = "blog.example.org"

    [sites.wiki]
    ...

Per-site keys are the per-site ``SWITCH_*`` settings, lower-cased without the
prefix (``PER_SITE``); ``service`` defaults to ``NAME-replica``. Project,
region, credentials, the Cloudflare token and the API endpoints stay global,
in the environment. Each site is validated as its own ``Settings`` by the same
rules as the variables (``config.from_env``), and every problem of every
site is reported at once, naming the file, the site and the key.

Without a sites file, the ``SWITCH_*`` variables describe exactly one site,
named by ``SWITCH_SERVICE``, and everything behaves as it always has.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from . import logs
from .alert import default_policy
from .cloudrun import SITE_LABEL
from .config import NEEDS, PREFIX, Settings, from_env
from .errors import BadRequest, ConfigError

SITES_FILE = PREFIX + "SITES_FILE"
# A site's name is part of its replica's name (NAME-replica) and a label value.
SITE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")
MAX_SITES = 50
# What a site may set in the file; everything else is global and stays in the environment.
PER_SITE = (
    "image", "service", "port", "memory", "cpu", "max_instances", "container_env",
    "home_url", "health_path", "probe_count", "probe_interval_seconds", "probe_timeout_seconds",
    "cloudflare_zone_id", "cloudflare_host", "failover_domain", "alert_policy",
    "min_active_seconds", "ready_timeout_seconds", "poll_interval_seconds", "public_timeout_seconds",
    "trust_alerts", "max_event_age_seconds", "standby", "probe_failover_after",
)
GLOBAL = ("project", "region", "token", "basic_user", "basic_password", "cloudflare_token", "http_timeout_seconds",
          "api_retries", "retry_base_seconds")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sites:
    """Every site, in the file's order; ``file`` is None when the SWITCH_* variables describe the one site."""

    by_name: dict[str, Settings]
    file: str | None = None

    @property
    def multi(self) -> bool:
        """Described by a sites file (answers then name their site, and list every site)."""
        return self.file is not None

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    @property
    def any(self) -> Settings:
        """Settings whose global part (project, region, credentials, endpoints) is every site's."""
        return next(iter(self.by_name.values()))

    def pick(self, name: str | None, *, required: bool = True) -> Settings:
        """The site ``name``; without a name, the only site (BadRequest when there are several)."""
        if name is None:
            if len(self.by_name) == 1 or not required:
                return self.any
            raise BadRequest(f"there are {len(self.by_name)} sites ({', '.join(self.names)}); name one: "
                             f"{{\"site\": \"NAME\"}} (curl) or --site NAME (the CLI)")
        if not isinstance(name, str) or name not in self.by_name:
            shown = name[:64] if isinstance(name, str) else name
            raise BadRequest(f"no site {shown!r}; the sites are {', '.join(self.names)}")
        return self.by_name[name]

    def chosen(self, name: str | None) -> list[Settings]:
        """Every site, or the one named."""
        return list(self.by_name.values()) if name is None else [self.pick(name)]


def _where(path: str, site: str | None, key: str) -> str:
    return f"{path} [{'defaults' if site is None else 'sites.' + site}] {key}"


def _as_env(value) -> str | None:
    """A TOML value as the SWITCH_* variable would hold it (None: not a value a setting can take)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def _table(path: str, site: str | None, table, problems: list) -> dict[str, str]:
    """A [defaults] or [sites.NAME] table as SWITCH_* variables; what is wrong goes to ``problems``."""
    if not isinstance(table, dict):
        problems.append((_where(path, site, "").rstrip(), "must be a table of settings"))
        return {}
    found = {}
    for key, value in table.items():
        where = _where(path, site, key)
        if key in GLOBAL:
            problems.append((where, f"is global, not per site: set {PREFIX}{key.upper()} in the environment"))
        elif key not in PER_SITE:
            problems.append((where, f"is not a setting; the per-site keys are {', '.join(PER_SITE)}"))
        elif key == "container_env":
            if not isinstance(value, dict):
                problems.append((where, "must be a table of names to string values, such as "
                                        "container_env = { LOG_LEVEL = \"info\" }"))
            else:
                found[PREFIX + "CONTAINER_ENV"] = json.dumps(value)
        elif (text := _as_env(value)) is None:
            problems.append((where, "must be a string, a number or true/false"))
        else:
            found[PREFIX + key.upper()] = text
    return found


def _candidates(path: str) -> list[Path]:
    # Relative: to where the command runs, else to the function's source (where a deploy puts it).
    return [Path(path)] if Path(path).is_absolute() else [Path.cwd() / path, ROOT / path]


def locate(path: str) -> Path | None:
    return next((c for c in _candidates(path) if c.is_file()), None)


def read(path: str) -> dict:
    """The parsed file; ConfigError naming SWITCH_SITES_FILE when it cannot be found, read or parsed."""
    import tomllib

    found = locate(path)
    if found is None:
        places = ", ".join(str(c.parent) for c in _candidates(path))
        raise ConfigError(SITES_FILE, f"{path!r}: no such file (looked in {places})")
    try:
        return tomllib.loads(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(SITES_FILE, f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(SITES_FILE, f"{path}: not valid TOML: {exc}") from None


def from_file(path: str, environ: Mapping[str, str], *, need: tuple[str, ...] = NEEDS) -> Sites:
    """Every site of the file, each validated as its own Settings; one ConfigError naming every problem."""
    data = read(path)
    shown = path  # named as the person wrote it
    problems: list[tuple[str, str]] = []
    for key in data:
        if key not in ("defaults", "sites"):
            problems.append((f"{shown} {key}", "is not a table of the sites file; use [defaults] and [sites.NAME]"))
    defaults = _table(shown, None, data.get("defaults", {}), problems)
    sites = data.get("sites")
    if not isinstance(sites, dict) or not sites:
        problems.append((f"{shown} [sites]", "has no site; add a [sites.NAME] table with at least image = \"...\""))
        sites = {}
    if len(sites) > MAX_SITES:
        problems.append((f"{shown} [sites]", f"has {len(sites)} sites; one switch serves at most {MAX_SITES}"))
    # Per-site variables in the environment would be ambiguous next to the file: say where they belong.
    for key in PER_SITE:
        if (environ.get(PREFIX + key.upper()) or "").strip():
            problems.append((PREFIX + key.upper(), f"is set, but {SITES_FILE} describes the sites: move it into "
                                                   f"the file ([defaults], or a [sites.NAME] table) as {key}"))
    base = {k: v for k, v in environ.items() if not k.startswith(PREFIX) or k[len(PREFIX):].lower() not in PER_SITE}
    built: dict[str, Settings] = {}
    for name, table in sites.items():
        if not SITE_NAME.match(name):
            problems.append((f"{shown} [sites.{name}]", "is not a site name: lowercase letters, digits and '-', a "
                                                        "letter first, at most 40 characters"))
            continue
        own = _table(shown, name, table, problems)
        overlay = {**base, PREFIX + "SERVICE": f"{name}-replica", **defaults, **own}
        if not (overlay.get(PREFIX + "CLOUDFLARE_ZONE_ID") or overlay.get(PREFIX + "CLOUDFLARE_HOST")):
            overlay.pop(PREFIX + "CLOUDFLARE_TOKEN", None)  # a site without a redirect of its own
        try:
            settings = from_env(overlay, need=need)
        except ConfigError as exc:
            for variable, problem in exc.problems:
                key = variable[len(PREFIX):].lower() if variable.startswith(PREFIX) else ""
                if key not in PER_SITE:
                    problems.append((variable, problem))
                else:  # named where the value came from: the site's table, else [defaults]
                    problems.append((_where(shown, name if variable in own or variable not in defaults else None,
                                            key), problem))
            continue
        built[name] = replace(settings, site=name)
    problems.extend(_clashes(shown, built))
    if problems:
        unique = list(dict.fromkeys(problems))  # a global variable's problem is every site's: say it once
        raise ConfigError.of(unique)
    return Sites(built, path)


def _clashes(path: str, sites: dict[str, Settings]) -> list[tuple[str, str]]:
    """Two sites that would fight over one replica, one redirect or one alert policy."""
    problems, seen = [], {}
    for name, s in sites.items():
        for key, value in (("service", s.service),
                           ("cloudflare_host", (s.cloudflare_zone_id, s.cloudflare_host) if s.cloudflare_host else None),
                           ("alert_policy", default_policy(s))):
            if value is None:
                continue
            other = seen.setdefault((key, value), name)
            if other != name:
                shown = value[1] if isinstance(value, tuple) else value
                problems.append((_where(path, name, key), f"{shown!r} is also site {other!r}'s; each site needs its "
                                                          f"own"))
    return problems


def single(settings: Settings) -> Sites:
    return Sites({settings.service: settings}, None)


_cache: tuple[tuple, Sites] | None = None
_lock = threading.Lock()


def load(need: tuple[str, ...] = NEEDS) -> Sites:
    """The sites, from SWITCH_SITES_FILE or the SWITCH_* variables; validated once per environment and file."""
    global _cache
    from . import config

    path = (os.environ.get(SITES_FILE) or "").strip()
    if not path:
        return single(config.load(need=need))
    found = locate(path)
    try:
        stat = found.stat() if found else None
        stamp = (str(found), stat.st_mtime_ns, stat.st_size) if stat else None
    except OSError:
        stamp = None
    key = (config._fingerprint(os.environ), need, stamp)
    with _lock:
        cached = _cache
        if cached is not None and cached[0] == key:
            return cached[1]
    sites = from_file(path, os.environ, need=need)
    any_site = sites.any
    logs.conceal(any_site.token, any_site.basic_password, any_site.cloudflare_token,
                 basic=(any_site.basic_user, any_site.basic_password))
    with _lock:
        _cache = (key, sites)
    return sites


# -- which site a notification is about ----------------------------------------------


def route(incident, sites: Sites) -> tuple[Settings | None, str]:
    """The site a notification belongs to, and how that was decided (or why it belongs to none).

    In order: the policy's user label ``switch-site: NAME`` (setup puts it on the
    policies it creates); the label ``switch-service`` of a policy an earlier
    single-site setup made; the site whose alert policy (``alert_policy``, or
    ``switch: HOST down`` from its home_url) is the notification's, by resource
    name or display name.
    """
    if not sites.multi:
        return sites.any, "the one site"
    labels = dict(incident.policy_labels)
    named = labels.get(SITE_LABEL)
    if named:
        if named in sites.by_name:
            return sites.by_name[named], f"the policy's label {SITE_LABEL}={named}"
        return None, (f"the policy's label {SITE_LABEL}={named[:64]!r} names no site in {sites.file} "
                      f"(the sites are {', '.join(sites.names)})")
    if labels.get("managed-by") == "switch" and labels.get("switch-service"):
        for s in sites.by_name.values():
            if s.service == labels["switch-service"]:
                return s, f"the policy's label switch-service={s.service}"
    for s in sites.by_name.values():
        policy = default_policy(s)
        if policy is None:
            continue
        if policy.startswith("projects/") and "/alertPolicies/" in policy:
            if incident.condition.startswith(policy + "/conditions/") or incident.policy == policy:
                return s, f"its alert policy {policy}"
        elif incident.policy == policy:
            return s, f"its alert policy {policy!r}"
    return None, (f"the alert policy {incident.policy[:120]!r} is no site's (by the label {SITE_LABEL}, or a "
                  f"site's alert_policy in {sites.file})")
