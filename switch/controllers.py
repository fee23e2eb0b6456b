"""One Switch per settings object, shared by every way in.

The HTTP face (``app``) and the Pub/Sub entry point (``events``) both come
here, so a warm function instance builds its API clients and sessions once,
and every way in reaches the same converge code. It sits below both callers:
nothing here imports ``app`` or ``events``.
"""

from __future__ import annotations

import threading

_switch = None
_settings = None
_lock = threading.Lock()


def controller(settings):
    """The Switch for ``settings``; a new one when the settings changed."""
    global _switch, _settings
    with _lock:
        if _switch is None or _settings is not settings:
            from .failover import Switch

            _switch = Switch.from_settings(settings)
            _settings = settings
        return _switch


def reset() -> None:
    """Forget the cached Switch, as a cold instance starts (tests, the benchmark)."""
    global _switch, _settings
    with _lock:
        _switch = None
        _settings = None
