"""Serve a WSGI app on a real socket from a background thread, and stop cleanly.

Stopping closes the listening socket *and* every open keep-alive connection,
so a client that pooled a connection sees the server gone (as it would see a
machine that went dark) instead of being answered by a lingering thread.
"""

from __future__ import annotations

import logging
import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger("switch.emulator.http")


class _Handler(WSGIRequestHandler):
    # Plain request lines at INFO (the CLI shows them; werkzeug's own are colored), the rest at WARNING.
    def log_request(self, code="-", size="-") -> None:
        log.info('"%s" %s', self.requestline, code)

    def log(self, type: str, message: str, *args) -> None:
        log.log(logging.INFO if type == "info" else logging.WARNING, message.rstrip(), *args)


class _Server(ThreadedWSGIServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, *args, **kwargs):
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Background:
    """One listening server in a daemon thread; ``port`` is the bound port."""

    def __init__(self, app, host: str, port: int):
        self.server = _Server(host, port, app, handler=_Handler)
        self.port = self.server.server_address[1]
        # stop() waits up to one poll interval; the default 0.5 s adds up over a test run.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, name=f"serve:{self.port}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()  # stop accepting
        self.server.server_close()
        self.server.close_connections()
        self.thread.join(timeout=5)
