"""Long-running operations (``google.longrunning.Operation``), written once for any emulated API.

A method that takes a while (Cloud Functions' create, update and delete)
answers an Operation at once and does its work "later": here, ``delay``
seconds after it started. Nothing runs in the background: ``settle()``
applies every operation whose time has come, oldest first, and the server
calls it before each API call and snapshot, so the effect (a function turned
ACTIVE, a Cloud Run service created) is visible to whoever looks first,
whichever API they ask.

An operation is started with a ``finish(done_at)`` callback that applies its
effect and returns ``(response, error)``: the body ``response`` shows (with
its ``@type``), or a ``google.rpc.Status`` (``{"code", "message"}``). Until
it is done, ``progress(fraction)`` may add metadata (Cloud Functions' stages);
``progress(1.0)`` is asked once more after ``finish``, for the final metadata.

Names are ``{parent}/operations/operation-<ms>-<hex>-<hex>-<hex>``, the shape
Cloud Functions v2 uses. Not thread-safe by itself; the server calls it under
one lock.
"""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable

from .google import GoogleError, invalid, json_response, rfc3339
from .protojson import page
from .routing import route

Finish = Callable[[float], "tuple[dict | None, dict | None]"]
Progress = Callable[[float], dict]


@dataclass
class Operation:
    name: str
    metadata: dict
    started: float
    done_at: float
    finish: Finish
    progress: Progress | None = None
    settled: bool = False
    response: dict | None = None
    error: dict | None = None
    # Metadata as it stood when the operation settled (its stages all final).
    final: dict = field(default_factory=dict)


def status(code: int, message: str, details: list | None = None) -> dict:
    """A ``google.rpc.Status`` as an operation's ``error`` carries it: a numeric gRPC code, not an HTTP one."""
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


class Operations:
    def __init__(self, delay: float):
        self.delay = delay
        self.stored: dict[str, Operation] = {}

    def start(self, parent: str, metadata: dict, finish: Finish, progress: Progress | None = None,
              delay: float | None = None, now: float | None = None) -> Operation:
        now = time.time() if now is None else now
        suffix = f"{int(now * 1000)}-{secrets.token_hex(7)[:13]}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        name = f"{parent}/operations/operation-{suffix}"
        wait = self.delay if delay is None else delay
        op = Operation(name, copy.deepcopy(metadata), now, now + wait, finish, progress)
        self.stored[name] = op
        return op

    def settle(self, now: float | None = None) -> None:
        """Apply every operation that is due, in the order they finish."""
        now = time.time() if now is None else now
        due = sorted((op for op in self.stored.values() if not op.settled and op.done_at <= now),
                     key=lambda op: op.done_at)
        for op in due:
            try:
                op.response, op.error = op.finish(op.done_at)
            except Exception as e:  # an emulator bug: show it on the operation rather than on every later call
                op.response, op.error = None, status(13, f"Internal error in the emulator: {e!r}")
            # Asked after finish, so progress can show where a failed operation stopped.
            op.final = op.progress(1.0) if op.progress else {}
            op.settled = True

    def done(self, name: str | None) -> bool:
        op = self.stored.get(name or "")
        return op is None or op.settled

    def render(self, op: Operation, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        metadata = copy.deepcopy(op.metadata)
        if op.settled:
            metadata.update(copy.deepcopy(op.final))
            metadata["endTime"] = rfc3339(op.done_at)
        elif op.progress:
            span = op.done_at - op.started
            metadata.update(op.progress(min(0.999, (now - op.started) / span) if span > 0 else 0.999))
        body = {"name": op.name, "metadata": metadata, "done": op.settled}
        if op.settled and op.error:
            body["error"] = copy.deepcopy(op.error)
        elif op.settled and op.response is not None:
            body["response"] = copy.deepcopy(op.response)
        return body

    # -- the methods every API with operations answers ---------------------------

    def routes(self, collection: str, **segments: str) -> list:
        """``operations.get`` and ``operations.list`` under ``collection`` (a template ending in /operations)."""
        return [
            route("GET", collection + "/{operation}", self._get, **segments),
            route("GET", collection, self._list, **segments),
        ]

    def _get(self, request, operation, **parent):
        name = request.path.lstrip("/").split("/", 1)[1]  # drop the version segment
        op = self.stored.get(name)
        if op is None:
            raise GoogleError(404, f"Operation '{name}' not found.", "NOT_FOUND")
        return json_response(self.render(op))

    def _list(self, request, **parent):
        prefix = request.path.lstrip("/").split("/", 1)[1] + "/"
        if request.args.get("filter"):
            raise invalid("The emulator does not filter operations; list them all.")
        now = time.time()
        found = [self.render(op, now) for name, op in sorted(self.stored.items(), key=lambda kv: -kv[1].started)
                 if name.startswith(prefix)]
        return json_response(page(found, request.args, "operations", total=False))
