"""Structured logs: one JSON line per event, the shape Cloud Logging reads from stdout.

``severity`` and ``message`` are Cloud Logging's own keys; everything else
lands in ``jsonPayload``. Only values switch chose to log are written: never
a request header, a body, a token or a password.
"""

from __future__ import annotations

import json
import sys
import threading

_lock = threading.Lock()
_enabled = True


def silence() -> None:
    """Stop writing log lines (the CLI prints its own, human-readable output)."""
    global _enabled
    _enabled = False


def event(severity: str, message: str, **fields) -> None:
    if not _enabled:
        return
    record = {"severity": severity, "message": message, "component": "switch"}
    record.update({key: value for key, value in fields.items() if value is not None})
    line = json.dumps(record, default=str, separators=(",", ":"))
    with _lock:
        print(line, file=sys.stdout, flush=True)


def info(message: str, **fields) -> None:
    event("INFO", message, **fields)


def warning(message: str, **fields) -> None:
    event("WARNING", message, **fields)


def error(message: str, **fields) -> None:
    event("ERROR", message, **fields)
