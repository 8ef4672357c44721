"""The API access log: one row per request under ``/api/``, kept 90 days by retention.

Who called what, when, how it was answered and how long it took. The docs pages
(``/api/schema/``, ``/api/docs/``, ``/api/redoc/``) are not logged: a browser fetches them with
their scripts, without a key, and they serve no data. Nothing outside ``/api/`` is logged either:
the admin keeps its own change log, and probes and scrapes (``/health/``, ``/metrics``) would
drown the rest.

Out of the request's way (an API request costs about 1-2 ms; an INSERT per request would
add about as much again): the middleware only appends a tuple to a buffer in process memory.
The buffer is written in one bulk write (COPY on PostgreSQL) once it holds ``API_ACCESS_LOG_FLUSH_ROWS``
entries or its oldest is ``API_ACCESS_LOG_FLUSH_SECONDS`` old, checked as each API response is
closed, and at the process's exit. A process killed without its exit running (SIGKILL, the
OOM killer) loses what it buffered: at most that many entries, or that many seconds of them
(docs/operations.md). A failed write is logged and its entries dropped; it never reaches a
response.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import threading
import time
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty
from django.utils.ipv6 import clean_ipv6_address

from omen_site.api.keys import ApiKey
from omen_site.client_address import client_address
from omen_site.middleware import API_PATH_PREFIX, request_id_of
from utilities.bulk_sql import append_rows, datetime_adapter

log = logging.getLogger("omen.api.access_log")

NOT_LOGGED_PREFIXES = ("/api/schema/", "/api/docs/", "/api/redoc/")
METHOD_MAX_CHARS = 16
PATH_MAX_CHARS = 512
QUERY_STRING_MAX_CHARS = 1024
ROUTE_MAX_CHARS = 255
# The age test's clock: monotonic, so a wall-clock step never flushes early or holds entries back.
# Tests set it.
clock = time.monotonic


class ApiAccessLogEntry(models.Model):
    """One request under /api/ and its answer. Written in bulk (see the module), never edited."""

    created_at = models.DateTimeField(default=timezone.now, help_text="When the request came in.")
    method = models.CharField(max_length=METHOD_MAX_CHARS)
    path = models.CharField(max_length=PATH_MAX_CHARS, help_text="Without the query string; cut at 512 characters.")
    query_string = models.CharField(max_length=QUERY_STRING_MAX_CHARS, blank=True, help_text="As sent; cut at 1024.")
    route = models.CharField(
        max_length=ROUTE_MAX_CHARS, blank=True, help_text="The URL pattern that matched; blank when none did."
    )
    status_code = models.PositiveSmallIntegerField()
    duration_ms = models.FloatField(help_text="From the request reaching the site's middleware to its response.")
    response_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The body's length; blank for a streamed response."
    )
    # No database constraint on either reference: a key or user deleted while its requests wait in
    # a buffer would otherwise fail the whole batch's INSERT. Deleting one through Django still
    # sets its entries' column to NULL (the index below each foreign key serves that, and the
    # admin's key filter).
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    api_key_prefix = models.CharField(
        max_length=16, blank=True, help_text="The key's visible part: names the caller after the key is deleted."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        help_text="The staff user whose admin session made the request.",
    )
    client_address = models.GenericIPAddressField(
        null=True,
        blank=True,
        help_text="The caller's address: REMOTE_ADDR, or what the outermost of TRUSTED_PROXIES saw.",
    )
    request_id = models.CharField(max_length=64, blank=True, help_text="The X-Request-ID the response carried.")

    class Meta:
        verbose_name = "API access log entry"
        verbose_name_plural = "API access log"
        indexes = [
            # Retention's sweep finds expired rows by created_at.
            models.Index(fields=["created_at"], name="api_access_log_created_idx"),
            # The admin's status and method filters, newest first: a rare status among 40 million
            # rows (90 days at 300 requests a minute) is found without walking the time index.
            models.Index(fields=["status_code", "-created_at"], name="api_access_log_status_idx"),
            models.Index(fields=["method", "-created_at"], name="api_access_log_method_idx"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.method} {self.path} {self.status_code}"


class _Pending(NamedTuple):
    """An entry as the request leaves it: plain values, cleaned and cut when written."""

    created_at: datetime
    method: str
    path: str
    query_string: str
    route: str
    status_code: int
    duration_ms: float
    content_length: str | None
    api_key_id: int | None
    api_key_prefix: str
    user_id: int | None
    address: str
    request_id: str


_lock = threading.Lock()
_pending: list[_Pending] = []
_oldest_at: float | None = None  # clock() when the oldest pending entry was buffered
# The database the pending entries' requests used (see access_log_flush).
_pending_database: str | None = None


def _database_name() -> str:
    # The default database: the one utilities.bulk_sql writes through (the site routes nothing).
    return connection.settings_dict["NAME"]


def _buffer(entry: _Pending) -> None:
    global _oldest_at, _pending_database
    with _lock:
        if not _pending:
            _oldest_at = clock()
            _pending_database = _database_name()
        _pending.append(entry)


def access_log_flush() -> int:
    """Write every buffered entry now, in one COPY (PostgreSQL) or one prepared INSERT (SQLite);
    how many were written.

    Runs in its own transaction (a savepoint inside a caller's), so a failure rolls back only
    itself; it is logged and its entries are dropped rather than kept for another try, which
    would make every request wait on a database that is down and let the buffer grow.
    """
    global _pending, _oldest_at, _pending_database
    with _lock:
        entries, _pending = _pending, []
        database, _pending_database = _pending_database, None
        _oldest_at = None
    if not entries:
        return 0
    try:
        if _database_name() != database:
            # Only a test runner does this: it swaps its test database in and out of the same
            # settings, and at exit a test's entries would otherwise land in the real database.
            # Debug, as at that point the test runner has closed the streams a warning would use.
            log.debug(
                "API access log: %d entries were buffered for database %r, which this process no longer "
                "uses; not written",
                len(entries),
                database,
            )
            return 0
        # Plain tuples, not model instances through bulk_create, which prepares each value through
        # its field: 200 entries took 11.8 ms that way on PostgreSQL, 3.5 ms this way (a scratch
        # timing), about 40 us of every API request's CPU.
        to_db = datetime_adapter()
        rows = [_row(entry, to_db) for entry in entries]
        with transaction.atomic():
            append_rows(ApiAccessLogEntry._meta.db_table, _COLUMNS, rows)
    except Exception:
        log.exception("API access log: %d entries not written", len(entries))
        return 0
    return len(entries)


def access_log_discard() -> int:
    """Drop the buffered entries unwritten; how many. For tests: an entry never outlives its test."""
    global _pending, _oldest_at, _pending_database
    with _lock:
        entries, _pending = _pending, []
        _oldest_at = _pending_database = None
    return len(entries)


def _flush_if_due() -> None:
    oldest = _oldest_at  # read without the lock: a stale value only moves a flush by one request
    if oldest is None:
        return
    if len(_pending) >= settings.API_ACCESS_LOG_FLUSH_ROWS or clock() - oldest >= settings.API_ACCESS_LOG_FLUSH_SECONDS:
        access_log_flush()


# A worker that ends normally (gunicorn's graceful stop, max_requests, a reload; runserver's
# Ctrl-C) writes what it holds. Registered at import, so also in a gunicorn master that preloads
# the app, whose workers inherit it.
atexit.register(access_log_flush)


def _text(value: str, max_chars: int) -> str:
    # PostgreSQL refuses NUL in text (a path holding one is answered 400, and still logged); %00
    # is how it came over the wire.
    return value.replace("\x00", "%00")[:max_chars]


def _address(text: str) -> str | None:
    """The client address as an inet value, or None: one the column refuses would fail the whole batch."""
    try:
        # A zone (fe80::1%eth0) is Python's, not PostgreSQL's.
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None  # empty (a Unix socket) or not an address
    # Written as Django's GenericIPAddressField writes it (SQLite keeps the text as given):
    # "::ffff:1.2.3.4", where Python's str() gives "::ffff:102:304".
    return clean_ipv6_address(str(address)) if address.version == 6 else str(address)


# The columns _row fills, in its order.
_COLUMNS = (
    "created_at",
    "method",
    "path",
    "query_string",
    "route",
    "status_code",
    "duration_ms",
    "response_bytes",
    "api_key_id",
    "api_key_prefix",
    "user_id",
    "client_address",
    "request_id",
)


def _row(entry: _Pending, to_db) -> tuple:
    """An entry as the table's _COLUMNS take it; ``to_db`` is the batch's ``datetime_adapter()``."""
    try:
        response_bytes = int(entry.content_length) if entry.content_length is not None else None
    except ValueError:
        response_bytes = None
    return (
        to_db(entry.created_at),
        _text(entry.method, METHOD_MAX_CHARS),
        _text(entry.path, PATH_MAX_CHARS),
        _text(entry.query_string, QUERY_STRING_MAX_CHARS),
        _text(entry.route, ROUTE_MAX_CHARS),
        entry.status_code,
        round(entry.duration_ms, 3),
        response_bytes,
        entry.api_key_id,
        entry.api_key_prefix,
        entry.user_id,
        _address(entry.address),
        entry.request_id[:64],
    )


def is_logged(request) -> bool:
    path = request.path_info
    return path.startswith(API_PATH_PREFIX) and not path.startswith(NOT_LOGGED_PREFIXES)


def _caller(request) -> tuple[int | None, str, int | None]:
    """(key id, key prefix, user id) of whoever DRF authenticated; nothing for anyone else."""
    key = getattr(request, "auth", None)  # DRF sets it on the Django request as it authenticates
    if isinstance(key, ApiKey):
        return key.pk, key.prefix, None
    user = getattr(request, "user", None)
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None, "", None  # no view asked who it was (a 404); asking here would read the session
    return None, "", user.pk if user.is_authenticated else None


class ApiAccessLogMiddleware:
    """Buffers an entry for every logged request; the response's close writes the buffer when due.

    Outermost but for the request id's, the latency timer and SecurityMiddleware (whose HTTPS
    redirects are not API answers): the duration includes the other middleware, and the status is
    the one sent.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.API_ACCESS_LOG or not is_logged(request):
            return self.get_response(request)
        created_at = timezone.now()
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        try:
            match = request.resolver_match
            api_key_id, api_key_prefix, user_id = _caller(request)
            _buffer(
                _Pending(
                    created_at=created_at,
                    method=request.method,
                    path=request.path,
                    query_string=request.META.get("QUERY_STRING", ""),
                    route=match.route if match is not None else "",
                    status_code=response.status_code,
                    duration_ms=duration_ms,
                    # CommonMiddleware sets it on every response that is not streamed.
                    content_length=None if response.streaming else response.get("Content-Length"),
                    api_key_id=api_key_id,
                    api_key_prefix=api_key_prefix,
                    user_id=user_id,
                    address=client_address(request),
                    request_id=request_id_of(request),
                )
            )
            # A response's closers run once the server has sent it (HttpResponseBase.close) and
            # before request_finished hands the database connection back: the flush costs the
            # client no time, runs outside any transaction of the view's (ATOMIC_REQUESTS
            # included), and uses the connection the request already holds.
            response._resource_closers.append(_flush_if_due)
        except Exception:
            log.exception("API access log: request %s not recorded", request_id_of(request))
        return response
