"""The resource kinds switch creates in a project, one small module each.

A kind is registered by listing it here; a command (setup, teardown, status,
deploy) is a list of kind labels handed to the engine (``switch.ops.engine``).
Adding a kind means writing its module and adding it to ``KINDS``; the
engine does not change.
"""

from __future__ import annotations

from ..engine import Kind
from .channel import NotificationChannel
from .check import UptimeCheck
from .job import SchedulerJob
from .policy import AlertPolicy
from .publisher import PublisherGrant
from .redirect import RedirectRule
from .replica import ReplicaService

KINDS: dict[str, type[Kind]] = {kind.label: kind for kind in (
    NotificationChannel,
    PublisherGrant,
    UptimeCheck,
    AlertPolicy,
    SchedulerJob,
    ReplicaService,
    RedirectRule,
)}


def kinds(*labels: str) -> list[Kind]:
    """Fresh instances of the kinds named, in that order."""
    return [KINDS[label]() for label in labels]
