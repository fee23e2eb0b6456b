"""A stand-in for the self-hosted site: answers 200 "home" until it goes dark."""

from __future__ import annotations

import threading
import time

from werkzeug.wrappers import Request, Response

from .serving import Background


class HomeSite:
    """``go_down()`` stops listening (clients get connection refused);
    ``come_back()`` listens again on the same port; ``hits`` counts requests;
    ``delay`` seconds are waited before each answer (a slow home, a probe in flight)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.hits = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server: Background | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def up(self) -> bool:
        return self._server is not None

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.hits += 1
        if self.delay:
            time.sleep(self.delay)
        return Response(f"home {request.path}\n", content_type="text/plain; charset=utf-8")(environ, start_response)

    def start(self) -> HomeSite:
        if self._server is None:
            self._server = Background(self._app, self.host, self.port)
            self.port = self._server.port  # port 0 picks one; come_back() reuses it
        return self

    def go_down(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    come_back = start
    stop = go_down

    def __enter__(self) -> HomeSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
