"""Is the home site healthy? N consecutive 2xx answers from its health path.

One good answer after an outage proves little (a router coming up, a pod
half-started), so failback wants several in a row. A redirect is the site's
own answer and is not followed: following it could land on the replica and
make a dead home look healthy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import requests


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    url: str
    answers: list[str] = field(default_factory=list)  # "200", "503", "timeout", ...

    @property
    def summary(self) -> str:
        verdict = "healthy" if self.healthy else "not healthy"
        return f"{self.url} {verdict} ({', '.join(self.answers) or 'no answer'})"


def probe(url: str, *, count: int = 3, interval: float = 2.0, timeout: float = 5.0,
          session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep) -> ProbeResult:
    """Ask ``url`` up to ``count`` times; stop at the first answer that is not 2xx."""
    http = session or requests.Session()
    answers: list[str] = []
    try:
        for attempt in range(count):
            if attempt:
                sleep(interval)
            try:
                answer = http.get(url, timeout=timeout, allow_redirects=False,
                                  headers={"User-Agent": "switch-home-probe", "Cache-Control": "no-cache"})
                answer.close()
                answers.append(str(answer.status_code))
                ok = 200 <= answer.status_code < 300
            except requests.exceptions.Timeout:
                answers.append("timeout")
                ok = False
            except requests.exceptions.RequestException as exc:
                answers.append(type(exc).__name__)
                ok = False
            if not ok:
                return ProbeResult(False, url, answers)
        return ProbeResult(True, url, answers)
    finally:
        if session is None:
            http.close()


# Google's front end answers this page while allUsers is not yet allowed to
# invoke the service; IAM changes take about a minute or two to reach it.
IAM_DENIED = b"does not have permission"


def answers_publicly(url: str, *, timeout: float = 5.0, session: requests.Session | None = None) -> tuple[bool, str]:
    """Does the replica answer an anonymous visitor (anything but Google's IAM 403)?"""
    http = session or requests
    try:
        answer = http.get(url.rstrip("/") + "/", timeout=timeout, allow_redirects=False,
                          headers={"User-Agent": "switch-replica-check"})
    except requests.exceptions.RequestException as exc:
        return False, type(exc).__name__
    denied = answer.status_code == 403 and IAM_DENIED in answer.content[:4096]
    return not denied, f"{answer.status_code}{' (IAM not yet propagated)' if denied else ''}"
