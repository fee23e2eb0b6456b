"""Injected faults: which API calls fail next, and how.

Kinds:
- ``status``: answer ``status`` instead of performing the call;
- ``after``: perform the call, then answer ``status`` (the create that worked
  although the client saw a 503, which is why Run creates must be verified);
- ``reset``: drop the connection without any answer.

A fault fires on the next ``count`` matching calls, or on a fraction ``rate``
of them (reproducible with ``seed``), or both (at most ``count`` times).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KINDS = ("status", "after", "reset")


@dataclass
class Fault:
    kind: str = "status"
    status: int = 503
    count: int | None = None  # remaining firings; None = no limit (rate only)
    rate: float | None = None
    method: str | None = None
    contains: str | None = None
    retry_after: float = 1.0  # seconds, sent with 429 answers
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind != "reset" and not (isinstance(self.status, int) and 400 <= self.status <= 599):
            raise ValueError(f"status must be an HTTP error status (400-599), not {self.status!r}")
        if self.rate is not None and not 0 < self.rate <= 1:
            raise ValueError(f"rate must be in (0, 1], not {self.rate!r}")
        if self.count is None and self.rate is None:
            self.count = 1
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise ValueError(f"count must be a positive integer, not {self.count!r}")
        self.method = self.method.upper() if self.method else None
        self._rng = random.Random(self.seed)

    def fires(self, method: str, path: str) -> bool:
        """Whether this call is hit; counts the firing."""
        if self.method and method != self.method:
            return False
        if self.contains and self.contains not in path:
            return False
        if self.rate is not None and self._rng.random() >= self.rate:
            return False
        if self.count is not None:
            self.count -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.count == 0

    def describe(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class Faults:
    """The faults in force, first added first considered. Not thread-safe by itself."""

    def __init__(self):
        self.active: list[Fault] = []

    def add(self, **spec) -> Fault:
        fault = Fault(**spec)
        self.active.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.active:
            if fault.fires(method, path):
                if fault.spent:
                    self.active.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.active.clear()
