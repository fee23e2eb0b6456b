"""Send visitors to the replica with a Cloudflare Single Redirect rule.

A deployment of switch owns exactly one rule in the zone's entry point ruleset
of phase ``http_request_dynamic_redirect``, found by its ``ref``, which names
the deployment: ``switch_<service>_<hash of the host>``. Two deployments in
one zone (two sites) therefore never touch each other's rule. Failover enables
it pointing at the replica; failback disables it and keeps it, so the last
target stays visible. Every other redirect rule in the zone belongs to someone
else: it is never sent back to Cloudflare, so neither it nor its place in the
order can be changed by switch. Rules are only ever added, changed or read one
at a time; the whole ruleset is never written, so a rule someone adds between
switch's read and its write cannot be lost.

Plain ``requests`` rather than the Cloudflare SDK: five endpoints do not justify
seconds of import time on a cold start. See reference/cloudflare.md.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import time
from urllib.parse import quote, urlsplit

import requests

from .. import logs
from ..config import is_loopback_url
from ..errors import UpstreamError
from .base import TrafficState

PHASE = "http_request_dynamic_redirect"
# Cloudflare's answer to GET on an entry point ruleset that was never created.
NO_ENTRYPOINT = 10003
# Longest Retry-After we honour: Cloudflare's rate limit lasts five minutes, far
# longer than a function invocation should wait; past this we give up retryable.
RETRY_AFTER_CAP = 10.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
PERMISSION = 'Zone → Single Redirect → Edit ("Dynamic URL Redirects Write") on this zone'
# The rule fields a write sends; read-only ones (id, version, last_updated) never.
WRITABLE = ("ref", "description", "expression", "action", "action_parameters", "enabled")

# concat("<base>", http.request.uri.path): the only target shape switch writes.
_CONCAT = re.compile(r'^\s*concat\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*http\.request\.uri\.path\s*\)\s*$', re.S)
_UNESCAPE = re.compile(r"\\(.)", re.S)


class _Secret:
    """Holds the token so no repr, vars() dump or traceback local shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "<redacted>"


def _literal(text: str) -> str:
    """A Rules language quoted string: backslash escapes `\\` and `"`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def base_url(url: str) -> str:
    """The replica's root as the redirect target, without a trailing slash.

    Raises ValueError for anything that should never become a redirect target.
    """
    if not isinstance(url, str) or not url:
        raise ValueError("redirect target must be a non-empty URL string")
    bad = next((c for c in url if c in '"\\<>' or c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"redirect target {url!r} contains {bad!r}, which a URL should not")
    parts = urlsplit(url)
    if parts.scheme == "https":
        pass
    elif parts.scheme == "http" and is_loopback_url(url):
        pass  # a local emulator
    else:
        raise ValueError(f"redirect target {url!r} must be an https:// URL "
                         "(http:// only for a loopback emulator)")
    if not parts.hostname:
        raise ValueError(f"redirect target {url!r} has no host")
    if "@" in parts.netloc:
        raise ValueError(f"redirect target {url!r} must not carry user credentials")
    if "?" in url or "#" in url:
        # The visitor's own path and query are appended; a query or fragment
        # here would land in the middle of them.
        raise ValueError(f"redirect target {url!r} must not have a query or fragment")
    return url.rstrip("/")


def _target_of(rule: dict) -> str | None:
    """The base URL a rule redirects to: parsed from concat(...) or a static value."""
    target = ((rule.get("action_parameters") or {}).get("from_value") or {}).get("target_url") or {}
    if isinstance(target.get("expression"), str):
        match = _CONCAT.match(target["expression"])
        return _UNESCAPE.sub(r"\1", match.group(1)) if match else None
    if isinstance(target.get("value"), str):
        return target["value"]
    return None


def _essence(rule: dict) -> tuple:
    """What decides whether an existing rule already is the one we want.

    Only fields we write, with Cloudflare's defaults filled in, so extra
    read-only fields in the answer never cause a needless write.
    """
    from_value = (rule.get("action_parameters") or {}).get("from_value") or {}
    return (
        rule.get("description"),
        rule.get("expression"),
        rule.get("action"),
        from_value.get("target_url"),
        from_value.get("status_code", 301),
        bool(from_value.get("preserve_query_string", False)),
        bool(rule.get("enabled", True)),
    )


def rule_ref(service: str, host: str) -> str:
    """The ref of a deployment's rule: its service, and its host (hashed: a ref takes no dots)."""
    return f"switch_{service.replace('-', '_')}_{hashlib.sha256(host.encode()).hexdigest()[:8]}"


class CloudflareRouter:
    name = "cloudflare"
    # What this router's rule was called before it was named per deployment; such a
    # rule is taken as this deployment's only when it redirects this deployment's host.
    LEGACY_REF = "switch_failover"

    @classmethod
    def from_settings(cls, settings, session: requests.Session | None = None) -> "CloudflareRouter":
        return cls(
            token=settings.cloudflare_token,
            zone_id=settings.cloudflare_zone_id,
            host=settings.cloudflare_host,
            service=settings.service,
            endpoint=settings.cloudflare_endpoint,
            health_path=settings.health_path,
            timeout=settings.http_timeout_seconds,
            retries=settings.api_retries,
            retry_base=settings.retry_base_seconds,
            session=session,
        )

    def __init__(self, *, token: str, zone_id: str, host: str, endpoint: str, service: str = "site-replica",
                 health_path: str | None = "/healthz", timeout: float = 30.0, retries: int = 4,
                 retry_base: float = BACKOFF_BASE, session: requests.Session | None = None, sleep=time.sleep):
        for label, value in (("token", token), ("zone_id", zone_id), ("host", host), ("endpoint", endpoint)):
            if not value:
                raise ValueError(f"CloudflareRouter needs a {label}")
        if retries < 0:
            raise ValueError("retries must be zero or more")
        self._token = _Secret(token)
        self.zone_id = zone_id
        self.host = host
        self.service = service
        self.ref = rule_ref(service, host)
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.health_path = health_path or None
        self.timeout = timeout
        self.retries = retries
        self.retry_base = retry_base
        self.session = session or requests.Session()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"CloudflareRouter(zone_id={self.zone_id!r}, host={self.host!r}, endpoint={self.endpoint!r})"

    # -- the rule -------------------------------------------------------------

    def expression(self) -> str:
        parts = [f"http.host eq {_literal(self.host)}"]
        if self.health_path:
            # The health path stays on the home origin while the redirect is on:
            # the uptime checkers and switch's own home probe must see the home
            # site's answer, not Cloudflare's 302, or the incident never closes
            # and failback never fires (cloudflare.md §2, uptime-check caveat).
            parts.append(f"http.request.uri.path ne {_literal(self.health_path)}")
        return "(" + " and ".join(parts) + ")"

    def rule(self, target: str, enabled: bool) -> dict:
        """The full definition switch owns; PATCH replaces a rule with exactly this."""
        return {
            "ref": self.ref,
            "description": f"switch ({self.service}): {self.host} is down, send visitors to its Cloud Run replica",
            "expression": self.expression(),
            "action": "redirect",
            "action_parameters": {"from_value": {
                "target_url": {"expression": f"concat({_literal(base_url(target))}, http.request.uri.path)"},
                # Always 302: Cloudflare defaults to 301 when omitted, and browsers
                # cache a 301 indefinitely, so visitors would keep going to a
                # replica switch has already deleted (cloudflare.md §7).
                "status_code": 302,
                "preserve_query_string": True,
            }},
            "enabled": bool(enabled),
        }

    # -- the Router protocol --------------------------------------------------

    def current(self) -> TrafficState:
        ruleset = self._entrypoint()
        ours = self._ours(ruleset)
        if ruleset is None:
            return TrafficState(configured=True, detail=f"no redirect rules on {self.host} yet "
                                "(the zone has no redirect entry point ruleset)")
        if ours is None:
            return TrafficState(configured=True, detail=f"no {self.ref} rule in the zone's redirect rules")
        target = _target_of(ours)
        enabled = bool(ours.get("enabled", True))
        shown = target or "an unrecognised target"
        if enabled:
            detail = f"{self.ref} redirects {self.host} to {shown}"
        else:
            detail = f"{self.ref} is disabled (last target {shown})"
        if ours.get("expression") != self.expression():
            detail += f"; its expression differs from what switch writes: {ours.get('expression')!r}"
        return TrafficState(configured=True, enabled=enabled, target=target, detail=detail)

    def send_to(self, url: str) -> bool:
        desired = self.rule(url, enabled=True)  # a bad URL fails here, before any call
        ruleset = self._entrypoint()
        if ruleset is None:
            ruleset = self._create_entrypoint(desired)
            if ruleset is None:
                return True
        ours = self._ours(ruleset)
        if ours is None:
            try:
                self._call("POST", self._rules_path(ruleset), desired, "adding the redirect rule")
                return True
            except UpstreamError as exc:
                # A retried POST whose first try landed, or a concurrent switch,
                # leaves the rule in place and the POST refused (ref is unique):
                # read again and carry on from what is there.
                if exc.status_code in (401, 403):
                    raise
                ruleset, ours = self._recheck(exc)
        if _essence(ours) == _essence(desired):
            return False
        self._call("PATCH", self._rule_path(ruleset, ours), desired, "updating the redirect rule")
        return True

    def _create_entrypoint(self, rule: dict) -> dict | None:
        """Create the zone's redirect ruleset holding our rule; None when done.

        POST creates it only if the zone has none, so a ruleset someone else
        made a moment ago is never replaced (a PUT would drop their rules):
        then that ruleset is returned, to add our rule to it.
        """
        body = {"name": "default", "kind": "zone", "phase": PHASE, "rules": [rule],
                "description": "Single Redirects"}
        try:
            self._call("POST", self._rulesets_path(), body, "creating the redirect rules")
            return None
        except UpstreamError as exc:
            if exc.status_code in (401, 403):
                raise
            try:
                ruleset = self._entrypoint()
            except UpstreamError:
                raise exc from None
            if ruleset is None:
                raise
            return ruleset

    def restore(self) -> bool:
        ruleset = self._entrypoint()
        ours = self._ours(ruleset)
        if ours is None or not ours.get("enabled", True):
            return False
        # PATCH replaces the rule, so send all of it: the rule's own definition
        # with only `enabled` flipped, which keeps the last target readable.
        body = {key: ours[key] for key in WRITABLE if key in ours}
        body["ref"] = self.ref
        body["enabled"] = False
        self._call("PATCH", self._rule_path(ruleset, ours), body, "disabling the redirect rule")
        return True

    def existing_rule(self) -> dict | None:
        """This deployment's rule as Cloudflare has it, or None (teardown)."""
        return self._ours(self._entrypoint())

    def remove(self) -> bool:
        """Delete this deployment's rule, only while it is off (teardown); True when it was deleted.

        A rule that is on sends visitors to a replica: it is left, and the
        caller says why (``UpstreamError`` is not the place for a refusal).
        """
        ruleset = self._entrypoint()
        ours = self._ours(ruleset)
        if ours is None or ours.get("enabled", True):
            return False
        self._call("DELETE", self._rule_path(ruleset, ours), None, "deleting the redirect rule")
        return True

    # -- reading --------------------------------------------------------------

    def _entrypoint(self) -> dict | None:
        """The redirect entry point ruleset, or None when it was never created."""
        envelope = self._call("GET", self._entrypoint_path(), None, "reading the redirect rules",
                              missing_ok=True)
        if envelope is None:
            return None
        ruleset = envelope.get("result")
        if not isinstance(ruleset, dict) or not ruleset.get("id"):
            raise UpstreamError("Cloudflare: the redirect entry point answer has no ruleset id",
                                api="cloudflare", status_code=200)
        return ruleset

    def _ours(self, ruleset: dict | None) -> dict | None:
        if ruleset is None:
            return None
        # Cloudflare leaves `rules` out of an empty ruleset.
        rules = ruleset.get("rules") or []
        mine = next((r for r in rules if r.get("ref") == self.ref), None)
        if mine is None:
            # A rule from before refs named the deployment: ours only if it redirects our host
            # (then the next write gives it our ref). Another deployment's is never taken.
            mine = next((r for r in rules if r.get("ref") == self.LEGACY_REF
                         and f"http.host eq {_literal(self.host)}" in str(r.get("expression"))), None)
        return mine

    def _recheck(self, original: UpstreamError) -> tuple[dict, dict]:
        """After a refused write: the ruleset and our rule if it is there now, else the original error."""
        try:
            ruleset = self._entrypoint()
        except UpstreamError:
            raise original from None
        ours = self._ours(ruleset)
        if ours is None:
            raise original
        return ruleset, ours

    # -- paths ----------------------------------------------------------------

    def _zone(self) -> str:
        return f"zones/{quote(self.zone_id, safe='')}"

    def _rulesets_path(self) -> str:
        return f"{self._zone()}/rulesets"

    def _entrypoint_path(self) -> str:
        return f"{self._zone()}/rulesets/phases/{PHASE}/entrypoint"

    def _rules_path(self, ruleset: dict) -> str:
        return f"{self._zone()}/rulesets/{quote(str(ruleset['id']), safe='')}/rules"

    def _rule_path(self, ruleset: dict, rule: dict) -> str:
        if not rule.get("id"):
            raise UpstreamError(f"Cloudflare: the {self.ref} rule has no id", api="cloudflare")
        return f"{self._rules_path(ruleset)}/{quote(str(rule['id']), safe='')}"

    # -- transport ------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None, doing: str, *,
              missing_ok: bool = False) -> dict | None:
        """One API call with retries; the envelope on success.

        With ``missing_ok``, a 404 carrying code 10003 (no entry point) is None.
        """
        url = self.endpoint + path
        # Headers per request, never on the session: the session may be shared
        # with the Google clients and must not carry this token to them.
        headers = {"Authorization": f"Bearer {self._token.value}", "Content-Type": "application/json"}
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = self.session.request(method, url, json=body, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise UpstreamError(self._scrub(
                        f"Cloudflare: could not reach the API while {doing}: {type(exc).__name__}: {exc}; "
                        f"gave up after {attempts} attempts"), api="cloudflare", retryable=True) from None
                delay = self._backoff(attempt)
                logs.warning(f"Cloudflare: {method} {path} failed ({type(exc).__name__}); "
                             f"retry {attempt} of {self.retries} in {delay:.2f} s", api="cloudflare")
                self._sleep(delay)
                continue
            envelope = _envelope(response)
            status = response.status_code
            if 200 <= status < 300 and envelope is not None and envelope.get("success") is True:
                return envelope
            codes = _codes(envelope)
            if missing_ok and status == 404 and NO_ENTRYPOINT in codes:
                return None
            retryable = status == 429 or status >= 500
            if retryable and not last:
                delay = _retry_after(response)
                delay = self._backoff(attempt) if delay is None else delay
                logs.warning(f"Cloudflare: {method} {path} answered HTTP {status}; "
                             f"retry {attempt} of {self.retries} in {delay:.2f} s", api="cloudflare")
                self._sleep(delay)
                continue
            raise self._error(response, envelope, doing, retryable, attempts if retryable else None)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: 0.5, 1, 2, 4 … s (capped), each scaled by 0.5–1."""
        from ..transport import backoff

        return backoff(attempt - 1, self.retry_base, BACKOFF_CAP)

    def _error(self, response, envelope, doing: str, retryable: bool, attempts: int | None) -> UpstreamError:
        status = response.status_code
        errors = envelope.get("errors") if isinstance(envelope, dict) else None
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        message = first.get("message")
        code = first.get("code")
        if not message:
            if envelope is None:
                message = f"HTTP {status} without a JSON answer"
            elif 200 <= status < 300:
                message = "the answer did not report success"
            else:
                message = f"HTTP {status}"
        text = f"Cloudflare: {message}" + (f" (code {code})" if code is not None else "") + f" while {doing}"
        if status == 401:
            text += f"; the API token is invalid or expired (it needs {PERMISSION})"
        elif status == 403:
            text += f"; the API token lacks a permission: it needs {PERMISSION}"
        if attempts:
            text += f"; gave up after {attempts} attempts"
        return UpstreamError(self._scrub(text), api="cloudflare", status_code=status, retryable=retryable,
                             cloudflare_code=code)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token.value, "<redacted>")


def _envelope(response) -> dict | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _codes(envelope: dict | None) -> set:
    errors = envelope.get("errors") if isinstance(envelope, dict) else None
    return {e.get("code") for e in errors or [] if isinstance(e, dict)}


def _retry_after(response) -> float | None:
    """Retry-After as seconds (delta or HTTP date), capped; None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(RETRY_AFTER_CAP, seconds))
