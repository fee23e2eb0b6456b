"""Cloudflare API v4: Single Redirects (the zone entry point ruleset of phase
``http_request_dynamic_redirect``) and the rule methods switch uses.

Rules are stored exactly as the client sent them plus the server's fields
(id, version, last_updated, ref and the defaults Cloudflare fills in), so a
rule nobody touched comes back byte for byte the same.

Not thread-safe by itself; the server calls it under one lock.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import secrets
import time

from werkzeug.wrappers import Response

from .google import rfc3339
from .routing import Api, ApiError, route

PHASE = "http_request_dynamic_redirect"
ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
STATUS_CODES = {301, 302, 307, 308}
ENTRYPOINT = "client/v4/zones/{zone}/rulesets/phases/{phase}/entrypoint"
RULESETS = "client/v4/zones/{zone}/rulesets"
# Creating a second zone ruleset for a phase that has one is refused; the code and
# wording are not confirmed (Cloudflare documents only that one entry point exists per phase).
ENTRYPOINT_EXISTS = 20217
RULES = "client/v4/zones/{zone}/rulesets/{ruleset}/rules"
# Cloudflare's ruleset validation errors carry a 2xxxx code; the exact number
# per problem is not documented, so one is used for all of them.
INVALID_RULE = 20021
# Set by Cloudflare (or, for position, an instruction rather than a field): never stored as sent.
SERVER_FIELDS = ("id", "version", "last_updated", "position")


class CloudflareError(ApiError):
    def __init__(self, status: int, *errors: tuple[int, str], headers=None):
        super().__init__(errors[0][1])
        self.status = status
        self.errors = [{"code": code, "message": message} for code, message in errors]
        self.headers = headers

    def response(self) -> Response:
        return envelope(None, self.status, errors=self.errors, headers=self.headers)


def envelope(result, status: int = 200, errors=None, headers=None) -> Response:
    """Every Cloudflare answer, success or not, is wrapped the same way."""
    body = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    return Response(json.dumps(body, indent=2) + "\n", status=status, headers=headers, content_type="application/json")


def bad_rule(message: str) -> CloudflareError:
    return CloudflareError(400, (INVALID_RULE, message))


def no_route(path: str, status: int = 404) -> CloudflareError:
    # What Cloudflare answers for an identifier it cannot place.
    return CloudflareError(
        status, (7003, f"Could not route to {path}, perhaps your object identifier is invalid?"), (7000, "No route for that URI")
    )


def authenticated(handler):
    """Token first, then the zone id: Cloudflare checks both before routing further."""

    @functools.wraps(handler)
    def checked(self, request, zone, **params):
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if not token or (self.token is not None and token != self.token):
            raise CloudflareError(401, (10000, "Authentication error"))
        if not ZONE_ID.match(zone):
            raise no_route(request.path, status=400)
        return handler(self, request, zone, **params)

    return checked


def new_id() -> str:
    return secrets.token_hex(16)


def read_body(request) -> dict:
    try:
        body = json.loads(request.get_data(cache=True) or b"{}")
    except ValueError:
        raise CloudflareError(400, (10026, "Request body is not valid JSON")) from None
    if not isinstance(body, dict):
        raise CloudflareError(400, (10026, "Request body must be a JSON object"))
    return body


class CloudflareApi(Api):
    prefix = "client/v4/"

    def __init__(self, token: str | None):
        self.token = token  # None: any non-empty bearer token is accepted
        self.rulesets: dict[str, dict] = {}  # zone id -> redirect entry point ruleset
        self.routes = [
            route("GET", ENTRYPOINT, self.get_entrypoint),
            route("PUT", ENTRYPOINT, self.put_entrypoint),
            route("POST", RULESETS, self.create_ruleset),
            route("POST", RULES, self.add_rule),
            route("PATCH", RULES + "/{rule}", self.update_rule),
            route("DELETE", RULES + "/{rule}", self.delete_rule),
        ]

    def not_found(self, request):
        return no_route(request.path).response()

    def fault(self, status, retry_after=None):
        if status == 429:
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
            error = CloudflareError(429, (971, "Please wait and consider throttling your request speed"), headers=headers)
            return error.response()
        # Cloudflare documents no codes for its 5xx answers; the HTTP status is what a client acts on.
        return CloudflareError(status, (status, "Injected fault")).response()

    def snapshot(self, zone: str) -> list[dict]:
        return copy.deepcopy(self.rulesets.get(zone, {}).get("rules", []))

    # -- entry point ------------------------------------------------------

    def _entrypoint(self, zone: str, phase: str) -> dict:
        if phase != PHASE:
            raise CloudflareError(404, (10003, f"could not find entrypoint ruleset in the {phase} phase"))
        ruleset = self.rulesets.get(zone)
        if ruleset is None:
            # Never created is not "empty": Cloudflare answers 404 until the first write.
            raise CloudflareError(404, (10003, f"could not find entrypoint ruleset in the {PHASE} phase"))
        return ruleset

    def _ruleset(self, zone: str, ruleset_id: str, request) -> dict:
        ruleset = self.rulesets.get(zone)
        if ruleset is None or ruleset["id"] != ruleset_id:
            raise no_route(request.path)
        return ruleset

    @authenticated
    def get_entrypoint(self, request, zone, phase):
        return envelope(self._entrypoint(zone, phase))

    @authenticated
    def put_entrypoint(self, request, zone, phase):
        body = read_body(request)
        if phase != PHASE:
            raise no_route(request.path)  # other phases are not emulated
        rules = body.get("rules", [])
        if not isinstance(rules, list):
            raise bad_rule("rules: must be a list")
        existing = self.rulesets.get(zone)
        old = {r["id"]: r for r in (existing or {}).get("rules", [])}
        ruleset = existing or {
            "id": new_id(), "name": body.get("name", "default"), "description": body.get("description", ""),
            "kind": "zone", "version": "0", "rules": [], "last_updated": None, "phase": PHASE,
        }
        version = str(int(ruleset["version"]) + 1)
        # PUT replaces the whole list: rules not in it are gone.
        new_rules: list[dict] = []
        for i, given in enumerate(rules):
            if isinstance(given, dict) and given.get("id") is not None and given["id"] not in old:
                raise bad_rule(f"rules[{i}].id: no rule with id '{given['id']}' in this ruleset")
            previous = old.get(given.get("id")) if isinstance(given, dict) else None
            new_rules.append(self._rule(given, version, new_rules, previous))
        self.rulesets[zone] = ruleset
        return self._written(ruleset, version, new_rules)

    @authenticated
    def create_ruleset(self, request, zone):
        """``POST /zones/{zone}/rulesets``: the phase's entry point, only when there is none yet."""
        body = read_body(request)
        if body.get("phase") != PHASE or body.get("kind") != "zone":
            raise bad_rule(f"only a zone ruleset of phase {PHASE} is emulated (kind 'zone', phase '{PHASE}')")
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise bad_rule("name: required")
        if zone in self.rulesets:
            raise CloudflareError(400, (ENTRYPOINT_EXISTS, f"a ruleset of phase {PHASE} already exists in this "
                                                           f"zone; add rules to it instead"))
        rules = body.get("rules", [])
        if not isinstance(rules, list):
            raise bad_rule("rules: must be a list")
        ruleset = {"id": new_id(), "name": body["name"], "description": body.get("description", ""),
                   "kind": "zone", "version": "0", "rules": [], "last_updated": None, "phase": PHASE}
        new_rules: list[dict] = []
        for given in rules:
            new_rules.append(self._rule(given, "1", new_rules, None))
        self.rulesets[zone] = ruleset
        return self._written(ruleset, "1", new_rules)

    # -- single rules ------------------------------------------------------

    @authenticated
    def add_rule(self, request, zone, ruleset):
        body = read_body(request)
        target = self._ruleset(zone, ruleset, request)
        version = str(int(target["version"]) + 1)
        rule = self._rule(body, version, target["rules"], None)
        rules = self._placed(target["rules"], rule, body.get("position"), default=len(target["rules"]))
        return self._written(target, version, rules)

    @authenticated
    def update_rule(self, request, zone, ruleset, rule):
        body = read_body(request)
        target = self._ruleset(zone, ruleset, request)
        index = next((i for i, r in enumerate(target["rules"]) if r["id"] == rule), None)
        if index is None:
            raise no_route(request.path)
        version = str(int(target["version"]) + 1)
        others = target["rules"][:index] + target["rules"][index + 1 :]
        if set(body) == {"position"}:
            # Position alone only moves the rule; its definition is untouched.
            updated = target["rules"][index]
        else:
            # PATCH is not a merge: the body is the rule's whole new definition.
            updated = self._rule(body, version, others, target["rules"][index])
        return self._written(target, version, self._placed(others, updated, body.get("position"), default=index))

    @authenticated
    def delete_rule(self, request, zone, ruleset, rule):
        target = self._ruleset(zone, ruleset, request)
        if not any(r["id"] == rule for r in target["rules"]):
            raise no_route(request.path)
        version = str(int(target["version"]) + 1)
        return self._written(target, version, [r for r in target["rules"] if r["id"] != rule])

    @staticmethod
    def _written(ruleset: dict, version: str, rules: list[dict]):
        ruleset.update(rules=rules, version=version, last_updated=rfc3339(time.time()))
        return envelope(ruleset)

    @staticmethod
    def _placed(rules: list[dict], rule: dict, position, default: int) -> list[dict]:
        """A new list with ``rule`` inserted at ``position``, or at ``default`` without one.

        Positions: ``{"before": id}``, ``{"after": id}`` (an empty id means the
        start or the end) or ``{"index": n}``, 1-based.
        """
        ids = [r["id"] for r in rules]
        at = default if position is None else None
        if isinstance(position, dict) and len(position) == 1:
            (where, value), = position.items()
            if where == "before" and (value == "" or value in ids):
                at = ids.index(value) if value else 0
            elif where == "after" and (value == "" or value in ids):
                at = ids.index(value) + 1 if value else len(ids)
            elif where == "index" and isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                at = min(value - 1, len(ids))
        if at is None:
            raise bad_rule('position: use one of {"before": id}, {"after": id} or {"index": n >= 1} (ids of this ruleset)')
        return rules[:at] + [rule] + rules[at:]

    def _rule(self, given, version: str, others: list[dict], previous: dict | None) -> dict:
        """A validated rule with its server fields; keeps id and ref of ``previous``."""
        if not isinstance(given, dict):
            raise bad_rule("rule: must be an object")
        if not isinstance(given.get("expression"), str) or not given["expression"].strip():
            raise bad_rule("expression: a filter expression is required")
        if given.get("action") != "redirect":
            raise bad_rule(f"action: '{given.get('action')}' is not allowed in the {PHASE} phase; use 'redirect'")
        params = given.get("action_parameters")
        from_value = params.get("from_value") if isinstance(params, dict) else None
        if not isinstance(from_value, dict):
            raise bad_rule("action_parameters.from_value: required for a redirect rule")
        target = from_value.get("target_url")
        kinds = [k for k in ("value", "expression") if k in target] if isinstance(target, dict) else []
        if len(kinds) != 1 or not isinstance(target[kinds[0]], str) or not target[kinds[0]]:
            raise bad_rule("action_parameters.from_value.target_url: exactly one of 'value' or 'expression' is required")
        if from_value.get("status_code", 301) not in STATUS_CODES:
            raise bad_rule(f"action_parameters.from_value.status_code: must be one of {sorted(STATUS_CODES)}")
        if not isinstance(from_value.get("preserve_query_string", False), bool):
            raise bad_rule("action_parameters.from_value.preserve_query_string: must be a boolean")
        if "enabled" in given and not isinstance(given["enabled"], bool):
            raise bad_rule("enabled: must be a boolean")
        rule_id = previous["id"] if previous else new_id()
        ref = given.get("ref", previous["ref"] if previous else rule_id)
        if not isinstance(ref, str) or not ref:
            raise bad_rule("ref: must be a non-empty string")
        if any(r.get("ref") == ref for r in others):
            raise bad_rule(f"ref: '{ref}' is already used by another rule in this ruleset")

        rule = {"id": rule_id, "version": version}
        rule.update(copy.deepcopy({k: v for k, v in given.items() if k not in SERVER_FIELDS}))
        # Cloudflare fills these in; storing them shows what a client that left them out really got.
        rule["action_parameters"]["from_value"].setdefault("status_code", 301)
        rule.setdefault("enabled", True)
        rule["ref"] = ref
        rule["last_updated"] = rfc3339(time.time())
        return rule
