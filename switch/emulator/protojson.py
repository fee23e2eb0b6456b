"""What Google's JSON APIs share: durations, field masks, user labels, pages.

These are the parts of proto3 JSON and of the AIP conventions (update masks,
page tokens) that Monitoring, Cloud Scheduler and Pub/Sub answer the same way,
so each emulated API validates them with one set of rules and one wording.
Everything is pure: a value goes in, a 400 (``GoogleError``) or a result comes out.
"""

from __future__ import annotations

import copy
import re

from .google import invalid, opaque_token, read_token

# google.protobuf.Duration in JSON: seconds with up to nine decimals and an "s".
_DURATION = re.compile(r"^(-?\d+)(?:\.(\d{1,9}))?s$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MAX_LABELS = 64
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def duration(value, field: str) -> float:
    """Seconds from a JSON Duration (``"60s"``, ``"1.5s"``); 400 worded as Google's JSON parser words it."""
    if not isinstance(value, str) or not _DURATION.match(value):
        raise invalid(
            f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.Duration), "
            f"Field '{field.rsplit('.', 1)[-1]}', Illegal duration format; duration must end with 's'"
        )
    whole, fraction = _DURATION.match(value).groups()
    return int(whole) + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)


def format_duration(seconds: float) -> str:
    """How Google writes a Duration back: whole seconds without decimals."""
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds:.9f}".rstrip("0") + "s"


def camel(name: str) -> str:
    """``display_name`` -> ``displayName``; camelCase passes through."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def user_labels(labels, field: str) -> dict:
    """``userLabels`` as Monitoring and IAM-style APIs accept them (≤ 64, lowercase keys and values)."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid(f"Invalid value at '{field}': must be a map of strings.")
    if len(labels) > MAX_LABELS:
        raise invalid(f"Field {field} has {len(labels)} entries; at most {MAX_LABELS} are allowed.")
    for key, value in labels.items():
        if not LABEL_KEY.match(key):
            raise invalid(
                f"Field {field} had an invalid key '{key}': keys start with a lowercase letter and contain only "
                "lowercase letters, numerals, underscores and dashes (at most 63 characters)."
            )
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            raise invalid(
                f"Field {field}[{key}] had an invalid value '{value}': values contain only lowercase letters, "
                "numerals, underscores and dashes (at most 63 characters)."
            )
    return dict(labels)


def parse_mask(text: str | None) -> list[list[str]]:
    """``"documentation,conditions"`` or ``"display_name,user_labels.team"`` -> camelCase paths.

    A FieldMask travels as one comma-separated query parameter; its JSON form
    is camelCase, the proto form snake_case, and Google accepts either. Keys
    below a map (``userLabels.team``) are kept as they are by ``apply_mask``.
    """
    paths = []
    for raw in (text or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$", raw):
            raise invalid(f"Invalid field mask path '{raw}'.")
        head, *rest = raw.split(".")
        paths.append([camel(head)] + rest)
    return paths


def apply_mask(target: dict, source: dict, paths: list[list[str]], maps: frozenset = frozenset()) -> dict:
    """A copy of ``target`` with each masked path set from ``source``, or cleared when ``source`` lacks it.

    Segments after a map field named in ``maps`` are map keys and stay as
    written; other segments are camelCased, as Google's JSON names them.
    """
    result = copy.deepcopy(target)
    for path in paths:
        keys, inside_map = [], False
        for segment in path:
            keys.append(segment if inside_map else camel(segment))
            inside_map = inside_map or keys[-1] in maps
        value, present = source, True
        for key in keys:
            if isinstance(value, dict) and key in value:
                value = value[key]
            else:
                present = False
                break
        node = result
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise invalid(f"Invalid field mask path '{'.'.join(path)}': '{key}' is not a message.")
        if present:
            node[keys[-1]] = copy.deepcopy(value)
        else:
            node.pop(keys[-1], None)
    return result


def page(items: list, args, key: str, total: bool = True, default_size: int = DEFAULT_PAGE_SIZE) -> dict:
    """One page of a List answer: ``pageSize``/``pageToken`` in, ``nextPageToken`` out.

    Empty lists and zero counts are left out, as proto3 JSON does: an empty
    collection answers ``{}``.
    """
    try:
        size = int(args.get("pageSize") or 0)
        start = int(read_token(args["pageToken"])) if args.get("pageToken") else 0
    except ValueError:
        raise invalid("Invalid pageSize or pageToken.") from None
    if start < 0 or start > len(items):
        raise invalid("Invalid page token.")
    size = min(size, MAX_PAGE_SIZE) if size > 0 else default_size
    chunk = items[start:start + size]
    answer: dict = {}
    if chunk:
        answer[key] = chunk
    if total and items:
        answer["totalSize"] = len(items)
    if start + size < len(items):
        answer["nextPageToken"] = opaque_token(str(start + size))
    return answer


def one_of(body: dict, fields: tuple, where: str, required: bool = True) -> str | None:
    """The single field of a oneof that is set; 400 when none (if required) or several are."""
    present = [f for f in fields if body.get(f) not in (None, {})]
    if len(present) > 1:
        raise invalid(f"{where}: only one of {', '.join(fields)} may be set; got {', '.join(present)}.")
    if not present:
        if required:
            raise invalid(f"{where}: one of {', '.join(fields)} is required.")
        return None
    return present[0]
