"""Fetching a source's JSON reply: one wall-clock deadline, bounded retries, a size cap.

httpx's timeouts bound each socket operation, not a request: a server that sends one header
byte per second never trips a 10 s read timeout. So every socket operation of a client from
``source_client`` (connect, TLS handshake, each read and write) is given at most the time left
before the deadline of the fetch in progress, and none starts once it has passed.

No Django here: the circuit breaker and the run record live in the poll
service, which calls ``fetch_json`` and learns from its result or error.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx
import orjson

USER_AGENT = "OMEN-signals/1.0 (+https://github.com/omen-signals; polls public APIs every few minutes)"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchPolicy:
    """How hard to try. OMEN's defaults: 10 s timeout, backoff base x 2^n + 0..0.5 s, cap 60 s."""

    attempts: int = 3
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    # One attempt, connect to last byte, ends within this however slowly its bytes trickle in
    # (and every attempt within the deadline the caller gives ``fetch_json``).
    total_timeout: float = 20.0
    max_bytes: int = 20 * 1024 * 1024
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    jitter: float = 0.5
    # Retry-After beyond this is not waited for: the poll gives up and the next one tries.
    max_retry_after: float = 60.0


@dataclass
class FetchResult:
    payload: Any
    status: int
    attempts: int
    bytes: int
    fetched_at: datetime


@dataclass
class FetchError(Exception):
    """The source could not give a usable reply; ``reason`` says why, for people."""

    reason: str
    status: int | None = None
    attempts: int = 1
    retryable: bool = True
    retry_after: float | None = None  # seconds, from a 429's Retry-After
    history: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.reason


def fetch_json(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    policy: FetchPolicy = FetchPolicy(),
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> FetchResult:
    """GET ``url`` and decode its JSON, retrying what is worth retrying, all before ``deadline``.

    ``deadline`` is a ``time.monotonic()`` instant; ``client`` must come from ``source_client``
    for the deadline to bound each socket operation (with another client it is checked only
    between attempts and body chunks). Retries timeouts, connection errors, 429 (honouring
    Retry-After) and 5xx, with exponential backoff and jitter, unless the wait would pass the
    deadline. Never retries a reply that arrived but is unusable (wrong content type, not JSON,
    too large): the source answered, asking again would get the same.
    """
    rng = rng or random.Random()
    history: list[str] = []
    for attempt in range(1, policy.attempts + 1):
        attempt_deadline = time.monotonic() + policy.total_timeout
        if deadline is not None:
            attempt_deadline = min(attempt_deadline, deadline)
        try:
            with _fetch_deadline(attempt_deadline):
                return _fetch_once(client, url, params, headers, policy, attempt, attempt_deadline)
        except FetchError as error:
            error.attempts = attempt
            history.append(error.reason)
            error.history = history
            if not error.retryable or attempt == policy.attempts:
                raise
            delay = _backoff(attempt, policy, rng)
            if error.retry_after is not None:
                if error.retry_after > policy.max_retry_after:
                    error.reason += f" (Retry-After {error.retry_after:.0f} s is beyond {policy.max_retry_after:.0f} s)"
                    error.retryable = False
                    raise
                delay = max(delay, error.retry_after)
            if deadline is not None and time.monotonic() + delay >= deadline:
                error.reason += " (no time left before the poll's deadline to try again)"
                history[-1] = error.reason
                raise
            sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _backoff(attempt: int, policy: FetchPolicy, rng: random.Random) -> float:
    return min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1) + rng.uniform(0, policy.jitter))


def _fetch_once(client, url, params, headers, policy: FetchPolicy, attempt: int, deadline: float) -> FetchResult:
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    request_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    budget = deadline - time.monotonic()
    try:
        with client.stream("GET", url, params=params, headers=request_headers, timeout=timeout) as response:
            if response.status_code in RETRYABLE_STATUSES:
                raise FetchError(
                    f"HTTP {response.status_code} from {response.url.host}",
                    status=response.status_code,
                    retry_after=_retry_after(response.headers.get("Retry-After")),
                )
            if response.status_code >= 400:
                raise FetchError(
                    f"HTTP {response.status_code} from {response.url.host}",
                    status=response.status_code,
                    retryable=False,
                )
            content_type = response.headers.get("Content-Type", "")
            if "json" not in content_type.lower():
                raise FetchError(
                    f"expected a JSON reply, got Content-Type {content_type or 'none'!r}",
                    status=response.status_code,
                    retryable=False,
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise FetchError(
                    f"reply of {int(declared)} bytes is over the {policy.max_bytes} byte cap",
                    status=response.status_code,
                    retryable=False,
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > policy.max_bytes:
                    raise FetchError(
                        f"reply is over the {policy.max_bytes} byte cap",
                        status=response.status_code,
                        retryable=False,
                    )
                if time.monotonic() > deadline:
                    raise FetchError(f"no complete reply within {budget:.3g} s", status=response.status_code)
            status = response.status_code
    except httpx.TimeoutException as exc:
        if time.monotonic() >= deadline:
            raise FetchError(f"no complete reply within {budget:.3g} s ({type(exc).__name__}) on {url}") from exc
        raise FetchError(f"timed out ({type(exc).__name__}) on {url}") from exc
    except httpx.TransportError as exc:
        # Connection refused or reset, a body cut short (RemoteProtocolError), DNS.
        raise FetchError(f"{type(exc).__name__} on {url}: {exc}") from exc
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FetchError(
            f"reply is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            status=status,
            retryable=False,
        ) from exc
    return FetchResult(payload=payload, status=status, attempts=attempt, bytes=len(body), fetched_at=datetime.now(UTC))


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# --------------------------------------------------------------------------- the deadline

# The deadline of the fetch in progress in this thread (a time.monotonic() instant), if any.
_deadline: ContextVar[float | None] = ContextVar("omen_fetch_deadline", default=None)


@contextmanager
def _fetch_deadline(deadline: float) -> Iterator[None]:
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def _time_left(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to what is left before the deadline; ``expired`` once nothing is left."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:  # a zero socket timeout would mean non-blocking, not "no time"
        raise expired("the fetch's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        # The handshake as a whole is bounded by one socket timeout (CPython keeps a deadline).
        stream = self._stream.start_tls(ssl_context, server_hostname, _time_left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(super().connect_tcp(host, port, timeout, local_address, socket_options))


class _DeadlineTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        # httpx 0.28 has no public way to give its transport a network backend: its connection
        # pool is rebuilt here with one (tests/signals/sources/test_http.py proves it in use).
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), network_backend=_DeadlineBackend())


def source_client() -> httpx.Client:
    """An httpx client whose every socket operation ends by the deadline of ``fetch_json``."""
    return httpx.Client(transport=_DeadlineTransport())
