"""IAM policies as every Google API keeps them: read-modify-write with an etag.

Cloud Run services, Pub/Sub topics, Cloud Functions' services and the project
itself all answer ``getIamPolicy`` and ``setIamPolicy`` the same way: a policy
nobody wrote has only the empty etag; a write with an etag that is not the
current one answers 409 ABORTED (someone wrote since the caller read), a
write without one is blind; bindings are validated, members de-duplicated and
same-role bindings merged; conditional bindings need policy version 3.
"""

from __future__ import annotations

import base64
import copy
import random
import re
from typing import Callable

from .google import GoogleError, invalid

# IAM's etag for a policy nobody has written yet.
EMPTY_POLICY_ETAG = "ACAB"
MEMBER = re.compile(
    r"^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group):[^@\s]+@[^@\s]+\.[^@\s]+"
    r"|domain:[a-z0-9.-]+\.[a-z]{2,}|principal(Set)?://\S+)$"
)
ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+)$")


def new_etag() -> str:
    # IAM etags are base64 of 8 bytes, 0x07 then a value below 2**52, hence the familiar "Bw".
    return base64.b64encode(b"\x07" + random.getrandbits(52).to_bytes(7, "big")).decode()


def standard(etag) -> str:
    """An etag in standard base64. It is bytes in proto JSON, so Google reads the URL-safe
    alphabet too, and apitools clients (gcloud) send it back that way: ``BwX-a_c=`` for ``BwX+a/c=``."""
    return str(etag).replace("-", "+").replace("_", "/")


def render(stored: dict | None, *, versioned: bool = True) -> dict:
    """The policy as getIamPolicy answers it. ``versioned``: an unwritten policy says version 1 (Run does)."""
    if stored:
        return copy.deepcopy(stored)
    return {"version": 1, "etag": EMPTY_POLICY_ETAG} if versioned else {"etag": EMPTY_POLICY_ETAG}


def check_requested_version(args, stored: dict | None) -> None:
    """``options.requestedPolicyVersion``: 0, 1 or 3; a conditional policy needs 3 to be read."""
    requested = args.get("options.requestedPolicyVersion", "0")
    if requested not in ("0", "1", "3"):
        raise invalid(f"Invalid requested policy version {requested}; use 1 or 3.")
    if (stored or {}).get("version") == 3 and requested != "3":
        raise invalid("The policy has conditional role bindings: request policy version 3 to read it.")


def replace(stored: dict | None, body: dict, *, example_role: str = "roles/viewer",
            role_allowed: Callable[[str], bool] | None = None,
            member_allowed: Callable[[str], str | None] | None = None, versioned: bool = True) -> dict:
    """The new stored policy for a ``setIamPolicy`` body, or the error Google answers.

    ``role_allowed`` limits the roles a resource takes; ``member_allowed``
    returns why a member is refused (a service account that does not exist), or None.
    """
    policy = body.get("policy")
    if not isinstance(policy, dict):
        raise invalid("policy: Required field. The body must be {\"policy\": {...}}.")
    bindings = _bindings(policy.get("bindings"), policy.get("version", 1), example_role, role_allowed, member_allowed)
    # No etag is a blind write; a different one means someone wrote since
    # the caller read, and the whole read-modify-write must be redone.
    if policy.get("etag") and standard(policy["etag"]) != render(stored, versioned=versioned)["etag"]:
        raise GoogleError(
            409,
            "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
            "ABORTED",
        )
    conditional = any("condition" in b for b in bindings)
    new = {"version": 3 if conditional else 1, "etag": new_etag()}
    if bindings:
        new["bindings"] = bindings
    return new


def _bindings(bindings, version, example_role: str, role_allowed, member_allowed) -> list[dict]:
    """Validated bindings, members de-duplicated, same-role (and same-condition) bindings merged."""
    if bindings is None:
        return []
    if not isinstance(bindings, list):
        raise invalid("policy.bindings: must be a list.")
    merged: dict[tuple, dict] = {}
    for i, binding in enumerate(bindings):
        role = binding.get("role") if isinstance(binding, dict) else None
        if not isinstance(role, str) or not ROLE.match(role):
            raise invalid(f"policy.bindings[{i}].role: a role such as '{example_role}' is required.")
        if role_allowed is not None and not role_allowed(role):
            raise invalid(f"Role {role} is not supported for this resource.")
        members = binding.get("members")
        if not isinstance(members, list):
            raise invalid(f"policy.bindings[{i}].members: must be a list.")
        condition = binding.get("condition")
        if condition is not None and version != 3:
            raise invalid("Conditional role bindings need policy version 3.")
        key = (role, repr(condition))
        entry = merged.setdefault(key, {"role": role, "members": [], **({"condition": condition} if condition else {})})
        for member in members:
            if not isinstance(member, str) or not MEMBER.match(member):
                raise invalid(
                    f"Invalid principal '{member}': use allUsers, allAuthenticatedUsers, or user:, serviceAccount:, "
                    "group: with an email, or domain: with a domain."
                )
            refusal = member_allowed(member) if member_allowed else None
            if refusal:
                raise invalid(refusal)
            if member not in entry["members"]:
                entry["members"].append(member)
    return [b for b in merged.values() if b["members"]]
