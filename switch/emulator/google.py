"""What Google's front end answers with: JSON errors, the HTML 404, timestamps."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from html import escape

from werkzeug.wrappers import Request, Response

from .routing import Api, ApiError

# HTTP status -> canonical gRPC status name, as Google puts it in error.status.
CANONICAL = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

GENERIC_MESSAGE = {
    429: "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service.",
    500: "Internal error encountered.",
    502: "The service is currently unavailable.",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}


class GoogleError(ApiError):
    """Raised by a handler; becomes ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, message: str, status: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or CANONICAL.get(code, "UNKNOWN")

    def response(self) -> Response:
        return json_response({"error": {"code": self.code, "message": self.message, "status": self.status}}, self.code)


def invalid(message: str) -> GoogleError:
    return GoogleError(400, message, "INVALID_ARGUMENT")


def json_response(body, status: int = 200, headers=None) -> Response:
    return Response(
        json.dumps(body, indent=2) + "\n",
        status=status,
        headers=headers,
        content_type="application/json; charset=UTF-8",
    )


def fault_response(status: int, retry_after: float | None = None) -> Response:
    """An injected error as Google would send it (429 carries Retry-After)."""
    message = GENERIC_MESSAGE.get(status, "Injected fault.")
    response = GoogleError(status, message).response()
    if status == 429 and retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def html_not_found(path: str) -> Response:
    """Google's front end answers unknown paths with this page, not JSON.

    googleapiclient then raises HttpError whose ``reason`` is just "Not Found",
    which is how a wrong endpoint (global host, zone given as region) shows up.
    """
    page = (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n'
        "  <title>Error 404 (Not Found)!!1</title>\n"
        "  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n"
        "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n"
        f"  <p>The requested URL <code>{escape(path)}</code> was not found on this server."
        "  <ins>That\u2019s all we know.</ins>\n"
    )
    return Response(page, status=404, content_type="text/html; charset=UTF-8")


def read_json(request: Request) -> dict:
    """The request body as a JSON object, or 400 the way Google words it."""
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw or b"{}")
    except ValueError as e:
        raise invalid(f"Invalid JSON payload received. {e}.") from None
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object at the top level.")
    return body


def rfc3339(epoch: float) -> str:
    """Timestamps as Google writes them: UTC, microseconds, a 'Z'."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def opaque_token(value: str) -> str:
    """Page tokens are opaque to clients; base64 keeps them so."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def read_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        raise invalid("Invalid page token.") from None


class GoogleApi(Api):
    """Base of every emulated Google API: Google's HTML 404 for unknown paths, its JSON errors for faults."""

    def not_found(self, request):
        return html_not_found(request.path)

    def fault(self, status, retry_after=None):
        return fault_response(status, retry_after)
