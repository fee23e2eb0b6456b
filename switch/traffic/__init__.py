"""Where visitors go: a router sends the site's traffic to the replica and back.

A router is level-triggered like the rest of switch: ``send_to(url)`` and
``restore()`` look at what is in place and change only what differs, and
report whether they changed anything. ``current()`` reads without writing.

``NoopRouter`` stands in when no traffic provider is configured: the replica
is still created and made public, and its URL is reported, but nothing is
redirected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TrafficState:
    configured: bool
    enabled: bool = False  # visitors are being sent to the replica
    target: str | None = None  # where they are sent, when enabled
    detail: str = ""


class Router(Protocol):
    name: str

    def current(self) -> TrafficState: ...

    def send_to(self, url: str) -> bool: ...

    def restore(self) -> bool: ...


class NoopRouter:
    name = "none"

    def current(self) -> TrafficState:
        return TrafficState(configured=False, detail="no traffic router configured")

    def send_to(self, url: str) -> bool:
        return False

    def restore(self) -> bool:
        return False


def router_for(settings, session=None) -> Router:
    """The router the settings ask for (Cloudflare when its token is set)."""
    if settings.cloudflare_enabled:
        from .cloudflare import CloudflareRouter

        return CloudflareRouter.from_settings(settings, session=session)
    return NoopRouter()
