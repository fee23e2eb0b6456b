"""What every traffic router is: the protocol, the state it reports, and the router that does nothing."""

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
