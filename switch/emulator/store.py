"""What the emulated Google collections share: name-keyed stores, list filters, ordering and pages."""

from __future__ import annotations

import random
import re

from .google import invalid
from .protojson import camel, page


def numeric_id() -> str:
    """Monitoring's ids for channels, policies and conditions: about 19 digits."""
    return str(random.randrange(10**18, 10**19))

_LIST_CLAUSE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:AND\s+(?=\S)|$)')


def list_filter(text: str):
    """``display_name = "x" AND user_labels.team = "web"``: equality clauses joined by AND.

    Google's list filters are richer; anything outside this subset is refused
    rather than half-applied.
    """
    clauses, text, pos = [], (text or "").strip(), 0
    while pos < len(text):
        m = _LIST_CLAUSE.match(text, pos)
        if not m:
            raise invalid(f"Invalid filter '{text}': the emulator understands field = \"value\" clauses joined by AND.")
        head, *rest = m.group(1).split(".")
        head = {"user_label": "userLabels", "user_labels": "userLabels"}.get(head, head)
        keys = [camel(head)] + rest
        clauses.append((keys, re.sub(r"\\(.)", r"\1", m.group(2))))
        pos = m.end()

    def matches(item: dict) -> bool:
        for keys, wanted in clauses:
            value = item
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if str(value) != wanted and not (isinstance(value, bool) and str(value).lower() == wanted):
                return False
        return True

    return matches


def list_items(args, project: str, stored: dict, collection: str, render, default_size: int) -> dict:
    """A List answer over ``stored`` (full name -> item): the project's items, filtered, ordered, one page."""
    matches = list_filter(args.get("filter", ""))
    items = [render(i) for n, i in stored.items() if n.split("/")[1] == project]
    items = [i for i in items if matches(i)]
    order = args.get("orderBy", "").strip()
    if order:
        field, _, direction = order.partition(" ")
        if direction.strip() not in ("", "asc", "desc"):
            raise invalid(f"Invalid orderBy '{order}'.")
        items.sort(key=lambda i: str(i.get(camel(field.lstrip("-")), "")), reverse=direction.strip() == "desc")
    return page(items, args, collection, default_size=default_size)
