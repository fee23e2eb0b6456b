"""Structured logs: one JSON line per event, the shape Cloud Logging reads from stdout.

``severity`` and ``message`` are Cloud Logging's own keys; everything else
lands in ``jsonPayload``. Only values switch chose to log are written: never
a request header, a body, a token or a password.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from urllib.parse import quote

_lock = threading.Lock()
_enabled = True
# The configured credentials (config.load registers them). A caller can still put
# one where switch logs it, a token pasted into the URL path for example, so every
# line is searched for them. Shorter values would match ordinary words.
MIN_SECRET_LENGTH = 8
_secrets: tuple[str, ...] = ()
URL_SAFE = str.maketrans("+/", "-_")


def conceal(*values: str | None, basic: tuple[str | None, str | None] = (None, None)) -> None:
    """Never write these values: each becomes ``<redacted>`` in log lines and error answers.

    Every encoding the function accepts a secret in counts too: as typed,
    percent-encoded (the ``auth_token`` query parameter), and for Basic the
    base64 of ``user:password``, with or without padding, in either alphabet.
    """
    global _secrets
    forms = set()
    for value in values:
        if value:
            forms.update({value, quote(value, safe=""), quote(value)})
    user, password = basic
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        forms.update({pair, pair.rstrip("="), pair.translate(URL_SAFE), pair.translate(URL_SAFE).rstrip("=")})
    _secrets = tuple(sorted({f for f in forms if len(f) >= MIN_SECRET_LENGTH}, key=len, reverse=True))


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
