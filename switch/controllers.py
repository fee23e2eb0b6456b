"""One Switch per site, shared by every way in.

The HTTP face (``app``) and the Pub/Sub entry point (``events``) both come
here, so a warm function instance builds its API clients and sessions once per
site, and every way in reaches the same converge code. It sits below both
callers: nothing here imports ``app`` or ``events``.
"""

from __future__ import annotations

import threading

_switches: dict[str, tuple[object, object]] = {}  # site -> (settings, Switch)
_lock = threading.Lock()


def controller(settings):
    """The Switch for ``settings`` (one site); a new one when that site's settings changed."""
    with _lock:
        found = _switches.get(settings.site)
        if found is None or found[0] is not settings:
            from .failover import Switch

            found = _switches[settings.site] = (settings, Switch.from_settings(settings))
        return found[1]


def reset() -> None:
    """Forget every cached Switch, as a cold instance starts (tests, the benchmark)."""
    with _lock:
        _switches.clear()
