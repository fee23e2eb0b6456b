"""What a converge did: a timed list of steps and the answer built from them."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable

ACTIVE = "active"  # visitors go to the replica
STANDBY = "standby"  # visitors go home


@dataclass
class Step:
    step: str
    ms: int
    changed: bool = False
    detail: str = ""


@dataclass
class Report:
    action: str  # "failover", "failback", "standby" (the warm standby kept in step) or "none"
    state: str  # "active" or "standby"
    service: str
    changed: bool = False
    url: str | None = None
    reason: str | None = None
    incident: str | None = None
    trigger: str = ""
    steps: list[Step] = field(default_factory=list)
    ms: int = 0
    # The desired state was not reached because a guard said no (home not healthy,
    # pinned, the flap guard ...): the CLI exits 3 on it.
    refused: bool = False
    site: str | None = None  # with a sites file: whose report this is

    def to_dict(self) -> dict:
        answer = asdict(self)
        if not answer["refused"]:
            del answer["refused"]
        return {key: value for key, value in answer.items() if value is not None}


class Steps:
    """Times each step and keeps the list the answer reports."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.started = clock()
        self.steps: list[Step] = []

    @contextmanager
    def step(self, name: str):
        record = Step(name, 0)
        start = self.clock()
        try:
            yield record
        finally:
            record.ms = int((self.clock() - start) * 1000)
            self.steps.append(record)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.steps)

    @property
    def elapsed_ms(self) -> int:
        return int((self.clock() - self.started) * 1000)
