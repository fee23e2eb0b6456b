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
# The configured credentials (config.load registers them). A caller can still put
# one where switch logs it, a token pasted into the URL path for example, so every
# line is searched for them. Shorter values would match ordinary words.
MIN_SECRET_LENGTH = 8
_secrets: tuple[str, ...] = ()


def conceal(*values: str | None) -> None:
    """Never write these values: each becomes ``<redacted>`` in log lines and error answers."""
    global _secrets
    _secrets = tuple(sorted({v for v in values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True))


def redact(text: str) -> str:
    for secret in _secrets:
        # As written, and as json.dumps escapes it inside a line.
        for form in (secret, json.dumps(secret)[1:-1]):
            if form in text:
                text = text.replace(form, "<redacted>")
    return text


def silence() -> None:
    """Stop writing log lines (the CLI prints its own, human-readable output)."""
    global _enabled
    _enabled = False


def event(severity: str, message: str, **fields) -> None:
    if not _enabled:
        return
    record = {"severity": severity, "message": message, "component": "switch"}
    record.update({key: value for key, value in fields.items() if value is not None})
    line = redact(json.dumps(record, default=str, separators=(",", ":")))
    with _lock:
        print(line, file=sys.stdout, flush=True)


def info(message: str, **fields) -> None:
    event("INFO", message, **fields)


def warning(message: str, **fields) -> None:
    event("WARNING", message, **fields)


def error(message: str, **fields) -> None:
    event("ERROR", message, **fields)
