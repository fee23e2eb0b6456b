"""Field checks shared by the emulated Google APIs that speak proto3 JSON (Monitoring and the like).

Each raises ``invalid`` (400 INVALID_ARGUMENT) worded the way Google's JSON
parser words it, naming the field in its proto (snake_case) form.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .google import invalid


def text_field(value, field: str, limit: int | None = None, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise invalid(f"Field {field} is required.")
        return ""
    if not isinstance(value, str):
        raise invalid(f"Invalid value at '{field}': expected a string.")
    if limit is not None and len(value) > limit:
        raise invalid(f"Field {field} is {len(value)} characters; at most {limit} are allowed.")
    return value


def object_field(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid value at '{field}': expected an object.")
    return value


def list_field(value, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"Invalid value at '{field}': expected a list.")
    return value


def bool_field(value, field: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise invalid(f"Invalid value at '{field}' (TYPE_BOOL), \"{value}\"")


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
