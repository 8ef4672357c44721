"""A real local HTTP server that answers like the sources do, good days and bad.

Tests point a source's base URL at it; nothing patches the HTTP client.
Routes are set per test: ``server.route(path, Reply(...))``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    declared_length: int | None = None  # a Content-Length larger than the body: a truncated reply
    trickle: float | None = None  # send one byte every this many seconds, forever
    header_trickle: float | None = None  # send the status line and headers one byte every this many seconds
    chunked: int | None = None  # send the body in chunks of this many bytes: no Content-Length, as streamed replies are


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (timeouts, size caps) is what the tests provoke.
        pass


class RecordedServer:
    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet test output
                pass

            def do_GET(self):
                path = urlsplit(self.path).path
                server.requests.append((self.path, dict(self.headers)))
                replies = server.routes.get(path)
                if not replies:
                    self.send_error(404)
                    return
                # Each reply is used once, the last one for ever after.
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.header_trickle is not None:
                    self._trickle_head(reply)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.trickle is not None:
                    # No length: the body ends when the connection closes, which it never does.
                    self.send_header("Connection", "close")
                    self.close_connection = True
                    self.end_headers()
                    self.wfile.write(b'{"data": "')
                    while not server._stop.is_set():
                        try:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(reply.trickle)
                    return
                if reply.chunked is not None:
                    self._send_chunked(reply)
                    return
                self.send_header("Content-Length", str(reply.declared_length or len(reply.body)))
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                except OSError:  # the client gave up first (timeouts, size caps)
                    return
                if reply.declared_length:
                    self.close_connection = True

            def _send_chunked(self, reply: Reply) -> None:
                """Transfer-Encoding: chunked; only the end of the chunks says how long the body was."""
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for start in range(0, len(reply.body), reply.chunked):
                        chunk = reply.body[start : start + reply.chunked]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client gave up first (a size cap)
                    self.close_connection = True

            def _trickle_head(self, reply: Reply) -> None:
                """Every byte in time for any per-read timeout, the whole head far too late."""
                head = (
                    f"HTTP/1.1 {reply.status} OK\r\nContent-Type: {reply.content_type}\r\n"
                    f"Content-Length: {len(reply.body)}\r\nConnection: close\r\n\r\n"
                ).encode()
                self.close_connection = True
                try:
                    for byte in head:
                        if server._stop.is_set():
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(reply.header_trickle)
                    self.wfile.write(reply.body)
                except OSError:  # the client gave up, as it should
                    return

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def start(self) -> RecordedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
