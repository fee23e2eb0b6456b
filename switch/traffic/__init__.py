"""Where visitors go: a router sends the site's traffic to the replica and back.

A router is level-triggered like the rest of switch: ``send_to(url)`` and
``restore()`` look at what is in place and change only what differs, and
report whether they changed anything. ``current()`` reads without writing.

``NoopRouter`` stands in when no traffic provider is configured: the replica
is still created and made public, and its URL is reported, but nothing is
redirected.

A new router is a module here with a class that has ``name``, ``current``,
``send_to`` and ``restore`` (``base.Router``), chosen by ``router_for``.
"""

from __future__ import annotations

from .base import NoopRouter, Router, TrafficState

__all__ = ["NoopRouter", "Router", "TrafficState", "router_for"]


def router_for(settings, session=None) -> Router:
    """The router the settings ask for (Cloudflare when its token is set)."""
    if settings.cloudflare_enabled:
        from .cloudflare import CloudflareRouter

        return CloudflareRouter.from_settings(settings, session=session)
    return NoopRouter()
