"""Route tables: each emulated API lists its own (method, path template, handler).

The server knows nothing about individual methods; it asks each API whether a
path is under its prefix, then walks that API's table. Adding a method to an
API is one line in that API's module, never a change to ``server.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

# A path segment: '/' separates segments and ':' starts a custom verb
# (Google's `services/NAME:getIamPolicy`), so neither belongs to a variable.
_SEGMENT = r"[^/:]+"


class ApiError(Exception):
    """Raised by a handler; ``response()`` is the answer in the API's own error format."""

    def response(self):
        raise NotImplementedError


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    handler: Callable


def route(method: str, template: str, handler: Callable, **segments: str) -> Route:
    """``route("GET", "v1/projects/{project}/things/{name}", fn)``.

    ``segments`` overrides the regex of a named variable, e.g. ``path=r".*"``.
    """

    parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ...
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{segments.get(part, _SEGMENT)})"
        for i, part in enumerate(parts)
    )
    return Route(method, re.compile(regex + r"\Z"), handler)


class Api:
    """Base of an emulated API: a path prefix, a route table and its own 404.

    Subclasses fill ``routes`` and implement ``not_found`` and ``fault`` (the
    answer an injected error gets, in the API's own error format).
    """

    prefix = ""
    routes: list[Route] = []

    def owns(self, path: str) -> bool:
        return path.startswith(self.prefix)

    def match(self, method: str, path: str):
        """(handler, params) for the first route matching, or None."""
        for r in self.routes:
            m = r.pattern.match(path)
            if m and r.method == method:
                return r.handler, m.groupdict()
        return None

    def not_found(self, request):
        raise NotImplementedError

    def fault(self, status: int, retry_after: float | None = None):
        raise NotImplementedError
