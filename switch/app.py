"""The HTTP face: routing, auth, body limits, JSON answers, errors → status codes.

Order of checks, cheapest and safest first: settings, credentials (headers
and query only, before the body is read), route and method, body size,
content type, body shape. A request refused at any of these makes no API call.

Commands that change state (``/failover``, ``/failback``, ``/reconcile``)
take only ``Content-Type: application/json`` with a JSON object (``{}`` will
do): a browser that holds Basic credentials for the function can be made to
send a form or a bare POST from another site, but not JSON without asking
first (CORS). ``POST /`` stays lenient: Cloud Monitoring's content type is not
documented, and a notification is only acted on for switch's own policy.
"""

from __future__ import annotations

import json
import time
import traceback

from flask import Request, Response

from . import logs
from .auth import authenticate
from .controllers import controller
from .sites import load as load_sites
from .errors import (BadRequest, ConfigError, MethodNotAllowed, NotFound, PayloadTooLarge, SwitchError,
                     Unauthorized, UnsupportedMediaType)

MAX_BODY = 64 * 1024
# Set in the WSGI environ once the whole body (at most MAX_BODY) has been read.
BODY_READ = "switch.body_read"

# What a command route attempts, named in its log line when it fails.
ACTIONS = {"/failover": "failover", "/failback": "failback", "/reconcile": "reconcile"}

ROUTES = {
    "/": ("POST",),
    "/failover": ("POST",),
    "/failback": ("POST",),
    "/reconcile": ("POST",),
    "/status": ("GET",),
}

def json_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    return Response(body, status=status, headers=headers or {}, mimetype="application/json")


def error_response(exc: SwitchError) -> Response:
    headers = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="switch"'
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed)
    payload = {"error": {"code": exc.code, "message": logs.redact(exc.message)}}
    details = {k: v for k, v in exc.details.items() if v not in (None, "")}
    if details:
        payload["error"].update(details)
    return json_response(payload, exc.status, headers)


def read_body(request: Request) -> bytes:
    """The body, refusing more than MAX_BODY bytes without reading them all."""
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise PayloadTooLarge(f"the body is {length} bytes; the limit is {MAX_BODY}")
    data = request.stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise PayloadTooLarge(f"the body is over the limit of {MAX_BODY} bytes")
    request.environ[BODY_READ] = True
    return data


def unread_body_stays_unread(request: Request, response: Response) -> Response:
    """Keep functions-framework from reading a body switch refused or did not need.

    After every answer that is not streamed, functions-framework reads the whole
    request body (its ``read_request`` hook) so an early answer cannot reset the
    connection. For a refused upload that means taking in all a stranger sends,
    however large, before answering at all. A streamed answer is exempt; gunicorn
    then drains a little of what is left and closes the connection.
    """
    pending = request.content_length or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if pending and not request.environ.get(BODY_READ):
        response.response = iter([response.get_data()])
    return response


def require_json(request: Request) -> None:
    """State-changing commands come as JSON, never as a form or a bare POST (see the module docstring)."""
    if request.mimetype != "application/json":
        sent = request.mimetype or "no body"
        raise UnsupportedMediaType(f"send the command as JSON: Content-Type: application/json and a JSON object, "
                                   f"{{}} at least (got {sent[:60]})")


def json_object(body: bytes, allowed: set[str]) -> dict:
    """A command body: a JSON object with only ``allowed`` keys."""
    if not body.strip():
        raise BadRequest("the body is empty; send a JSON object, {} at least")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:64]!r}; allowed: {', '.join(sorted(allowed)) or 'none'}")
    return value


def flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name!r} must be true or false")
    return value


def route(request: Request) -> tuple[str, tuple[str, ...]]:
    path = request.path.rstrip("/") or "/"
    methods = ROUTES.get(path)
    if methods is None:
        # Redacted before it is cut: a secret at the end of a long path must not survive in part.
        raise NotFound(f"no such path {logs.redact(request.path)[:200]!r}; use POST /, POST /failover, "
                       f"POST /failback, POST /reconcile or GET /status")
    if request.method not in methods:
        raise MethodNotAllowed(f"{request.method} is not allowed on {path}; use {' or '.join(methods)}", methods)
    return path, methods


def site_of(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("'site' must be a site's name")
    return value


def dispatch(request: Request, sites, path: str) -> tuple[dict, int]:
    """The answer and its status. With a sites file, a command names its site (``{"site": NAME}``,
    ``GET /status?site=NAME``); reconcile and status without one cover every site."""
    from . import fleet

    if path == "/status":
        name = request.args.get("site")
        if sites.multi and name is None:
            answer, ok = fleet.status(sites.chosen(None))
            return answer, 200 if ok else 502
        return controller(sites.pick(name)).status(), 200
    body = read_body(request)  # the size first: a body over the limit is refused as that, unread
    if path in ACTIONS:
        require_json(request)
    if path == "/":
        from .events import handle_notification

        return handle_notification(sites, body, trigger="webhook"), 200
    if path == "/failover":
        command = json_object(body, {"site"})
        return controller(sites.pick(site_of(command.get("site")))).failover(pinned=True,
                                                                            trigger="manual").to_dict(), 200
    if path == "/failback":
        command = json_object(body, {"force", "site"})
        switch = controller(sites.pick(site_of(command.get("site"))))
        return switch.failback(force=flag(command, "force"), automatic=False, trigger="manual").to_dict(), 200
    if path == "/reconcile":
        name = site_of(json_object(body, {"site"}).get("site"))
        if sites.multi and name is None:
            answer, ok = fleet.reconcile(sites.chosen(None))
            return answer, 200 if ok else 502
        return controller(sites.pick(name)).reconcile().to_dict(), 200
    raise NotFound(path)  # pragma: no cover - route() checked it


def handle(request: Request) -> Response:
    return unread_body_stays_unread(request, _handle(request))


def _handle(request: Request) -> Response:
    started = time.monotonic()
    # Redacted before it is cut: a secret at the end of a long path must not survive in part.
    path = logs.redact(request.path)[:200]
    action = None
    try:
        try:
            sites = load_sites()
            authenticate(request.headers.getlist("Authorization"), request.args.getlist("auth_token"), sites.any)
        except ConfigError as exc:
            # Nobody is authenticated yet: the caller learns nothing about the configuration;
            # the log line names the variable.
            logs.error(f"{request.method} {path}: configuration: {exc.message}", outcome=exc.code, status=500,
                       duration_ms=int((time.monotonic() - started) * 1000))
            return json_response({"error": {"code": "configuration", "message": "the function is misconfigured; "
                                            "its logs name the variable to fix"}}, 500)
        path, _ = route(request)
        action = ACTIONS.get(path)
        answer, status = dispatch(request, sites, path)
        if path == "/status":  # the actions log their own line (failover.Switch._report, events._ignored)
            state = answer["state"] if "state" in answer else f"active: {', '.join(answer['active']) or 'none'}"
            logs.info(f"GET /status: {state}", outcome="ok" if status == 200 else "partial", status=status,
                      duration_ms=int((time.monotonic() - started) * 1000))
        return json_response(answer, status)
    except SwitchError as exc:
        severity = "ERROR" if exc.status >= 500 else "WARNING"
        logs.event(severity, f"{request.method} {path}: {exc.message}", outcome=exc.code, status=exc.status,
                   incident=exc.details.get("incident"), action=exc.details.get("action", action),
                   duration_ms=int((time.monotonic() - started) * 1000))
        return error_response(exc)
    except Exception:  # a bug: answer without leaking internals, log the traceback
        logs.error(f"{request.method} {path}: unexpected error", outcome="internal", status=500, action=action,
                   duration_ms=int((time.monotonic() - started) * 1000), traceback=traceback.format_exc(limit=20))
        return json_response({"error": {"code": "internal",
                                         "message": "unexpected error; the function's logs have the details"}}, 500)
