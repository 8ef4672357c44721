"""A real local HTTP server that receives webhook deliveries, as a subscriber's would.

It records every POST (headers and body) and answers from a script: ``answers`` is a list of
status codes used in order, the last one for ever after. ``hold`` makes it wait before answering
the request whose ``X-Idempotency-Key`` is given, until ``release()``: a delivery in flight.
``retry_after`` is sent with every 429 and 503, ``headers`` with every answer. A receiver that
misbehaves: ``trickle`` sends the answer's head a byte at a time, that many seconds apart;
``announced_body`` announces a body of that many bytes and sends none of it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    peer: tuple[str, int]  # the sender's address and port: one per connection


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a sender killed mid-request is what a test provokes


class WebhookReceiver:
    def __init__(self, answers: list[int] | None = None):
        self.answers = list(answers or [200])
        self.received: list[Received] = []
        self.hold_key: str | None = None
        self.retry_after: str | None = None  # sent with every 429 and 503
        self.headers: dict[str, str] = {}
        self.trickle: float | None = None
        self.announced_body: int | None = None
        self.holding = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers)
                if receiver.hold_key is not None and headers.get("X-Idempotency-Key") == receiver.hold_key:
                    receiver.hold_key = None
                    receiver.holding.set()
                    receiver._released.wait(60)
                with receiver._lock:
                    status = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                    receiver.received.append(Received(headers, body, status, self.client_address))
                self.send_response(status)
                if status in (429, 503) and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(receiver.announced_body or 0))
                if receiver.trickle is None:
                    self.end_headers()
                else:
                    self._headers_buffer.append(b"\r\n")
                    for byte in b"".join(self._headers_buffer):
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(receiver.trickle)
                    self._headers_buffer = []
                if receiver.announced_body:
                    receiver._released.wait(30)  # the body never comes: the sender must not wait for it

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def hold(self, idempotency_key: str) -> None:
        self.hold_key = idempotency_key

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
