"""How switch marks what it creates in a project, and how it tells a secret changed.

Every object of the monitoring chain carries ``managed-by: switch`` and
``switch-service: <SWITCH_SERVICE>`` as user labels, so two deployments in
one project never step on each other. An object without both is never
modified or deleted. Kinds whose API has no labels use an exact name and a
marker in the description instead (see each kind).

Secrets cannot be compared, because Google reads them back redacted; the
object carries a short, slow, salted fingerprint of them instead, and a
different fingerprint means "send the secret again".
"""

from __future__ import annotations

import hashlib
import json

MANAGED_BY = ("managed-by", "switch")
SERVICE_LABEL = "switch-service"
SECRET_LABEL = "switch-secret"
MARKER = "managed-by: switch"

# PBKDF2 rounds of the secret fingerprint: slow enough that a weak password is
# costly to guess from a label anyone with monitoring.viewer can read.
FINGERPRINT_ROUNDS = 100_000


SITE_LABEL = "switch-site"  # with a sites file: the site a check, policy or replica is for


def labels(service: str, site: str = "", **more: str) -> dict[str, str]:
    return {MANAGED_BY[0]: MANAGED_BY[1], SERVICE_LABEL: service, **({SITE_LABEL: site} if site else {}), **more}


def ours(item: dict, service: str, key: str = "userLabels") -> bool:
    found = item.get(key) or {}
    return found.get(MANAGED_BY[0]) == MANAGED_BY[1] and found.get(SERVICE_LABEL) == service


STAGE_LABEL = "switch-stage"


def our_labels(found: dict | None, extra: tuple[str, ...] = ()) -> dict:
    """Only the labels switch owns: others' labels are neither compared nor removed."""
    owned = (MANAGED_BY[0], SERVICE_LABEL, SECRET_LABEL, STAGE_LABEL, SITE_LABEL, *extra)
    return {k: v for k, v in (found or {}).items() if k in owned}


def fingerprint(project: str, service: str, material: dict | str) -> str:
    """A short, slow, salted hash: enough to see that a secret changed, costly to guess from."""
    data = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    salt = f"switch/{project}/{service}".encode()
    return hashlib.pbkdf2_hmac("sha256", data, salt, FINGERPRINT_ROUNDS).hex()[:16]
