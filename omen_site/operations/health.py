"""``/health/live`` and ``/health/ready``, for load balancers and orchestrators.

Live says the process answers; it touches nothing else, so a slow database never gets a web
process restarted. Ready says this process can do its work: the database answers, the Celery
broker is reachable (Redis; in development, the filesystem broker's folders are writable), the
cache stores and returns a value, ``LEDGER_DIR`` is writable, and no save has waited in the
ledger outbox longer than ``HEALTH_OUTBOX_LAG_SECONDS``.

Both are public (no key), JSON, and never cached. The checks run side by side, each in a thread
of its own, and a probe waits ``HEALTH_CHECK_TIMEOUT_SECONDS`` for them: a check that does not
answer by then fails as "no answer", so ready answers within about that time whatever hangs (the
database pool, for one, may wait ``DATABASE_POOL_TIMEOUT_SECONDS`` for a connection). A check's
exception is its reason; nothing it raises becomes a 500.

A check runs at most once at a time in a process. A probe that arrives while a check is still
running (a hung database outlives the deadline of the probe that started it) waits for that run
instead of starting another, and if it does not end in time, reports "still checking since ...".
So a flood of probes against a hung part keeps one thread per check, never more, and no check
waits behind another's: a check fails only for its own lack of answer.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from kombu import Connection

from ledger.public import writer_health

log = logging.getLogger("omen.health")

FILESYSTEM_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


class CheckFailed(Exception):
    """A check's reason to fail, in words an operator acts on."""


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"{connection.vendor} answered"


def check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    if url.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders = sorted({Path(options[key]) for key in FILESYSTEM_BROKER_FOLDERS if options.get(key)})
        for folder in folders:
            # Celery makes them when it is configured (omen_site/celery.py); a web process that has
            # sent no task yet may not have: what counts is that they can be made and written.
            folder.mkdir(parents=True, exist_ok=True)
            _write_probe(folder)
        return f"filesystem broker: {len(folders)} folder(s) writable"
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return "redis answered PING"
    with Connection(url, connect_timeout=timeout) as broker:
        broker.ensure_connection(max_retries=1)
    return f"{broker.transport_cls} broker connected"


def check_cache() -> str:
    key, token = f"omen:health:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, token, timeout=30)
    try:
        if cache.get(key) != token:
            raise CheckFailed("the cache did not return the value just stored in it")
    finally:
        cache.delete(key)
    return f"{type(cache).__name__} stored and returned a value"


def check_ledger_dir() -> str:
    # Not created here: at start-up ledger.E001 made it, so a missing one is a lost mount.
    directory = Path(settings.LEDGER_DIR)
    if not directory.is_dir():
        raise CheckFailed(f"LEDGER_DIR {directory} does not exist (is its volume mounted?)")
    _write_probe(directory)
    return "LEDGER_DIR writable"


def check_outbox() -> str:
    health = writer_health()
    limit = settings.HEALTH_OUTBOX_LAG_SECONDS
    age = health.oldest_pending_age
    lag = 0.0 if age is None else age.total_seconds()
    waiting = f"{health.pending} save(s) wait in the ledger outbox, the oldest for {lag:.0f} s"
    if limit and lag > limit:
        raise CheckFailed(f"{waiting}, more than HEALTH_OUTBOX_LAG_SECONDS={limit}: is a ledger drain running?")
    return waiting


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "ledger_dir": check_ledger_dir,
    "outbox": check_outbox,
}


def _write_probe(directory: Path) -> None:
    """Create, write and remove a hidden file: what a read-only mount or a wrong owner refuses.

    The name matches nothing the ledger (dated partitions) or kombu (``*.<queue>.msg``) reads.
    """
    handle, name = tempfile.mkstemp(prefix=".omen-health-", suffix=".probe", dir=directory)
    try:
        os.write(handle, b"ok")
    finally:
        os.close(handle)
        os.unlink(name)


def _timed(check: Callable[[], str]) -> tuple[bool, str, float]:
    started = time.perf_counter()
    try:
        ok, detail = True, check()
    except Exception as exc:  # any failure is the check's answer, never the view's 500
        ok, detail = False, str(exc) or type(exc).__name__
        if not isinstance(exc, CheckFailed):
            detail = f"{type(exc).__name__}: {detail}"
    finally:
        # This worker thread's connections: a pooled one goes back to the pool, none stays open.
        connections.close_all()
    return ok, detail, round(time.perf_counter() - started, 4)


class _Run:
    """One run of a check, which every probe arriving before it ends waits for."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self.done = threading.Event()
        self.result: tuple[bool, str, float] | None = None


# The check (the function) -> its run in progress. A stuck check keeps its one thread until its
# own timeout ends it; probes meanwhile wait on that run, so threads stay one per check however
# many probes arrive, and no check ever queues behind a stuck one.
_running: dict[Callable[[], str], _Run] = {}
_running_lock = threading.Lock()


def _run_check(check: Callable[[], str], run: _Run) -> None:
    try:
        run.result = _timed(check)
    finally:
        if run.result is None:  # only a BaseException (the thread's interpreter exiting) gets here
            run.result = (False, "the check ended without an answer", round(time.monotonic() - run.started, 4))
        with _running_lock:
            if _running.get(check) is run:
                del _running[check]
        run.done.set()


def _join_or_start(name: str, check: Callable[[], str]) -> tuple[_Run, bool]:
    """The run of ``check`` in progress, or a new one; and whether this call started it."""
    with _running_lock:
        run = _running.get(check)
        if run is not None:
            return run, False
        run = _running[check] = _Run()
    try:
        threading.Thread(target=_run_check, args=(check, run), name=f"omen-health-{name}", daemon=True).start()
    except RuntimeError as exc:  # no thread to be had: this check's answer, not the view's 500
        run.result = (False, f"could not start a thread for the check: {exc}", 0.0)
        with _running_lock:
            del _running[check]
        run.done.set()
    return run, True


def run_checks(checks: dict[str, Callable[[], str]]) -> dict[str, dict]:
    """Run ``checks`` side by side; each answers ``{ok, detail, seconds}`` by the shared deadline.

    A check already running (for an earlier probe) is waited for, not started again.
    """
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    runs = {name: _join_or_start(name, check) for name, check in checks.items()}
    results = {}
    for name, (run, started_here) in runs.items():
        if run.done.wait(max(0.0, deadline - time.monotonic())):
            ok, detail, seconds = run.result
        else:
            ok, detail, seconds = False, f"no answer within HEALTH_CHECK_TIMEOUT_SECONDS={timeout:g}", timeout
            if not started_here:
                seconds = round(time.monotonic() - run.started, 4)
                detail += f"; still checking since {run.started_at:%Y-%m-%dT%H:%M:%S}Z ({seconds:.1f} s ago)"
        results[name] = {"ok": ok, "detail": detail, "seconds": seconds}
    return results


@never_cache
@require_safe
def live(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request):
    results = run_checks(CHECKS)
    failing = [name for name, result in results.items() if not result["ok"]]
    if failing:
        log.warning("not ready: %s", "; ".join(f"{name}: {results[name]['detail']}" for name in failing))
        return JsonResponse({"status": "unavailable", "failing": failing, "checks": results}, status=503)
    return JsonResponse({"status": "ok", "failing": [], "checks": results})
