"""IAM policies: add one member to one role, keeping everything else.

Google's IAM is read-modify-write: read the policy (with its etag), add the
binding, write it back with the etag. A concurrent writer makes the write
answer 409 ABORTED; then the whole cycle starts again from a fresh read.
"""

from __future__ import annotations

import random
import time
from typing import Callable

from .errors import UpstreamError


def grants(policy: dict, role: str, member: str) -> bool:
    """True when ``member`` has ``role`` unconditionally (a conditional binding may not apply)."""
    return any(b.get("role") == role and member in (b.get("members") or []) and not b.get("condition")
               for b in policy.get("bindings") or [])


def with_member(policy: dict, role: str, member: str) -> dict:
    """A copy of ``policy`` (etag and version kept) that also grants ``role`` to ``member``."""
    bindings = [dict(b) for b in policy.get("bindings") or []]
    for binding in bindings:
        if binding.get("role") == role and not binding.get("condition"):
            binding["members"] = list(binding.get("members") or []) + [member]
            break
    else:
        bindings.append({"role": role, "members": [member]})
    return {**policy, "bindings": bindings}


def add_member(read: Callable[[], dict], write: Callable[[dict], object], role: str, member: str, *,
               attempts: int = 5, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Grant ``role`` to ``member`` through ``read``/``write``; True when the policy changed."""
    for attempt in range(attempts):
        policy = read() or {}
        if grants(policy, role, member):
            return False
        try:
            write(with_member(policy, role, member))
            return True
        except UpstreamError as exc:
            if exc.status_code == 409 and attempt + 1 < attempts:
                sleep(random.uniform(0.1, 0.5) * (attempt + 1))
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover
