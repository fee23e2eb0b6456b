"""Serve the emulator's API app with HTTP/1.1 keep-alive, counting connections.

The emulator's own server (werkzeug's) closes every connection after one
answer, so against it a client that reuses connections and one that does not
look the same. Google's front end keeps connections open, and each new one
costs a TCP and TLS handshake from the function; to make that difference
countable the benchmark serves the same WSGI app (``Emulator`` is one) from
this small keep-alive server and counts the connections each event opens. It
also adds up the time spent inside the emulator, so the function's own share
of an event's latency can be told apart from the emulator's.

Benchmark-only: request bodies must carry Content-Length (every client here
does), and nothing of the emulator's fault injection that drops sockets is
supported.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_to_bytes

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without TCP_NODELAY, Nagle and
    # the client's delayed ACK add 40 ms to every answer on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _wsgi(self) -> None:
        server: KeepAliveServer = self.server  # type: ignore[assignment]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(length) if length else "",
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = value
        answer: dict = {}

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return lambda data: None

        began = time.perf_counter()
        chunks = server.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        server.add_app_time(time.perf_counter() - began)

        code, _, reason = answer["status"].partition(" ")
        self.send_response_only(int(code), reason)
        for key, value in answer["headers"]:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _wsgi


class KeepAliveServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.connections = 0
        self.app_seconds = 0.0
        self._count_lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="bench-keepalive", daemon=True)

    def process_request(self, request, client_address):
        with self._count_lock:
            self.connections += 1
        super().process_request(request, client_address)

    def add_app_time(self, seconds: float) -> None:
        with self._count_lock:
            self.app_seconds += seconds

    def counters(self) -> tuple[int, float]:
        with self._count_lock:
            return self.connections, self.app_seconds

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def serve_emulator(emulator) -> KeepAliveServer:
    """Serve ``emulator`` (not started) on a keep-alive server; its ``url`` follows the port."""
    server = KeepAliveServer(emulator, emulator.host if emulator.host not in ("", "0.0.0.0") else "127.0.0.1")
    emulator.port = server.server_address[1]
    server.thread.start()
    return server
