"""The one family of errors switch raises on purpose.

Each class carries the HTTP status it maps to; ``app.py`` is the only place that
turns them into answers, and the CLI the only place that turns them into exit
codes. Anything else that escapes is a bug and answers 500.
"""

from __future__ import annotations


class SwitchError(Exception):
    """Base class: an error with a message meant for the operator."""

    status = 500
    code = "internal"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(SwitchError):
    """The environment is missing or has a bad value; ``variable`` names it.

    One error can carry every problem found (``problems``), so a person fixes
    them all before the next run; ``variable`` is the first.
    """

    status = 500
    code = "configuration"

    def __init__(self, variable: str, problem: str, *, more: tuple[tuple[str, str], ...] = ()):
        text = f"{variable}: {problem}"
        if more:
            text += f" ({len(more)} more below)" + "".join(f"\n  {v}: {p}" for v, p in more)
        super().__init__(text, variable=variable)
        self.variable = variable
        self.problem = problem
        self.problems = [(variable, problem), *more]

    @classmethod
    def of(cls, problems: list[tuple[str, str]]) -> "ConfigError":
        (variable, problem), *more = problems
        return cls(variable, problem, more=tuple(more))


class BadRequest(SwitchError):
    """The body is not a notification or command switch understands."""

    status = 400
    code = "bad_request"


class Unauthorized(SwitchError):
    status = 401
    code = "unauthorized"


class NotFound(SwitchError):
    status = 404
    code = "not_found"


class MethodNotAllowed(SwitchError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allowed: tuple[str, ...]):
        super().__init__(message, allowed=list(allowed))
        self.allowed = allowed


class UnsupportedMediaType(SwitchError):
    """A command that was not sent as JSON (a form or a bare POST a browser could make cross-site)."""

    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(SwitchError):
    status = 413
    code = "payload_too_large"


class NotManaged(SwitchError):
    """A resource of the name switch uses exists but was not created by switch.

    switch never modifies or deletes such a resource.
    """

    status = 409
    code = "not_managed"


class UpstreamError(SwitchError):
    """A Google or Cloudflare API call failed (after retries where retrying is safe).

    ``retryable`` tells a Pub/Sub entry point whether a redelivery may succeed.
    """

    status = 502
    code = "upstream"

    def __init__(self, message: str, *, api: str = "", status_code: int | None = None,
                 retryable: bool = False, **details):
        super().__init__(message, api=api, upstream_status=status_code, **details)
        self.api = api
        self.status_code = status_code
        self.retryable = retryable


class ReplicaFailed(UpstreamError):
    """Cloud Run reported the replica's revision as failed (``Ready`` is ``"False"``)."""

    code = "replica_failed"


class ReplicaTimeout(UpstreamError):
    """The replica did not become ready within ``SWITCH_READY_TIMEOUT_SECONDS``."""

    code = "replica_timeout"

    def __init__(self, message: str, **details):
        super().__init__(message, retryable=True, **details)
