"""source_poll: one poll of one source, recorded as a SourceRun.

Shared by every worker through the database: a poll lock (a second poll of
the same source while one runs is skipped, not doubled) and a circuit
breaker (after FAILURES_TO_OPEN consecutive failures the source is left alone
for PROBE_AFTER, then one probe poll decides).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from signals.models import SourceEvent, SourceRun, SourceState
from signals.models.choices import SignalStatus
from signals.services.ingest import signals_ingest
from signals.sources.http import FetchError, FetchPolicy, fetch_json, source_client
from signals.sources.registry import SOURCES
from utilities.database import on_a_live_connection

logger = logging.getLogger(__name__)

FAILURES_TO_OPEN = 5
PROBE_AFTER = timedelta(seconds=45)
SUCCESSES_TO_CLOSE = 2
# Markets with a live signal that left the source's list are looked up by id (see _left_the_list).
FOLLOW_UP_WINDOW = timedelta(days=30)
FOLLOW_UP_LIMIT = 100
DEFAULT_POLICY = FetchPolicy()

Breaker = SourceState.Breaker
Outcome = SourceRun.Outcome


def source_poll(*, source: str, token: str = "", policy: FetchPolicy = DEFAULT_POLICY) -> SourceRun:
    """Poll ``source`` once and return the SourceRun that records what happened.

    Every fetch ends by one deadline, SOURCE_POLL_DEADLINE_SECONDS from now. A poll that fails
    -- its source, that deadline, or an interruption such as Celery's soft time limit -- ends
    its run as failed with the reason and counts toward the source's breaker.

    ``token`` identifies this poll across redeliveries (the Celery task id): a
    poll whose worker was killed left the lock behind, and its redelivery takes
    it over instead of waiting for the lock to go stale.
    """
    token = token or uuid.uuid4().hex
    definition = SOURCES[source]
    deadline = time.monotonic() + settings.SOURCE_POLL_DEADLINE_SECONDS
    now = timezone.now()
    run = SourceRun(source=source, started_at=now)

    if reason := definition.disabled_reason(settings):
        return _finish(run, Outcome.DISABLED, error=reason)
    if not _take_poll_lock(source, now, token):
        return _finish(run, Outcome.SKIPPED_BUSY, error="another poll of this source is running")
    # Holding the lock, this is the only live poll of the source: a run still "running" belongs
    # to a poll whose process died (killed at the hard time limit, say), a failure of the source.
    died = SourceRun.objects.filter(source=source, outcome=Outcome.RUNNING).update(
        outcome=Outcome.FAILED, finished_at=now, error="the poll's process died before it finished"
    )
    for _ in range(died):
        _record_result(source, success=False)
    try:
        if not _breaker_allows(source, now):
            return _finish(run, Outcome.CIRCUIT_OPEN, error="circuit open: too many consecutive failures")
        run.save()
        try:
            records, follow_up_error = _fetch_and_parse(definition, run, policy, deadline)
        except FetchError as error:
            run.http_status = error.status
            run.attempts = max(run.attempts, error.attempts)
            _record_result(source, success=False)
            return _finish(run, Outcome.FAILED, error="; ".join(error.history) or error.reason)
        summary = signals_ingest(records=records)
        run.fetched, run.accepted = summary.fetched, summary.created
        run.rejected, run.unchanged = summary.rejected, summary.unchanged
        _record_result(source, success=True)
        return _finish(run, Outcome.OK, error=follow_up_error)
    except BaseException as exc:  # a soft time limit, the database going away: the run says so
        if run.pk and run.outcome == Outcome.RUNNING:
            error = f"poll interrupted: {type(exc).__name__}: {exc}"
            on_a_live_connection(lambda: _finish(run, Outcome.FAILED, error=error))
            # A worker shutting down (KeyboardInterrupt, SystemExit) says nothing about the source.
            if isinstance(exc, Exception):
                _record_result(source, success=False)
        raise
    finally:
        on_a_live_connection(lambda: _release_poll_lock(source))


def _fetch_and_parse(definition, run: SourceRun, policy: FetchPolicy, deadline: float) -> tuple[list, str]:
    """The records of the source's requests, then of its follow-ups; and why a follow-up failed.

    A follow-up that fails fails nothing else: the poll's records are ingested, the run says what
    went wrong, and the source's breaker counts the poll a success.
    """
    records: list = []
    with source_client() as client:
        for request in definition.requests(settings):
            records.extend(_fetch_one(client, definition, request, run, policy, deadline))
        if definition.follow_up is None:
            return records, ""
        seen = {record.external_id for record in records}
        try:
            for request in definition.follow_up(settings, _left_the_list(definition.name, seen)):
                records.extend(_fetch_one(client, definition, request, run, policy, deadline))
        except FetchError as error:
            reason = "; ".join(error.history) or error.reason
            return records, f"follow-up of the markets that left the list failed: {reason}"
    return records, ""


def _fetch_one(client, definition, request, run: SourceRun, policy: FetchPolicy, deadline: float) -> list:
    result = fetch_json(
        client, request.url, params=request.params, headers=request.headers, policy=policy, deadline=deadline
    )
    run.requests += 1
    run.bytes += result.bytes
    run.http_status = result.status
    run.attempts = max(run.attempts, result.attempts)
    try:
        return definition.parser(result.payload, fetched_at=result.fetched_at, **request.parse_options)
    except ValueError as exc:
        # The reply as a whole is not what this source sends (an API error envelope).
        raise FetchError(f"{definition.name} reply refused: {exc}", status=result.status, retryable=False) from exc


def _left_the_list(source: str, seen: set[str]) -> list[str]:
    """Markets OMEN issued a live signal for, seen lately, that this poll's list no longer holds.

    A closed market drops out of the active list, so without a look by id its end would never be
    observed. A market that merely fell below the list's limit is one of them too, and stays one:
    at most FOLLOW_UP_LIMIT are picked per poll, at random, so none is starved by the others.
    """
    since = timezone.now() - FOLLOW_UP_WINDOW
    candidates = (
        SourceEvent.objects.filter(source=source, last_seen_at__gte=since, latest_signal__isnull=False)
        .exclude(latest_signal__status=SignalStatus.RESOLVED)
        .values_list("external_id", flat=True)
    )
    missing = sorted(external_id for external_id in candidates.iterator() if external_id not in seen)
    if len(missing) > FOLLOW_UP_LIMIT:
        missing = sorted(random.sample(missing, FOLLOW_UP_LIMIT))
    return missing


def _finish(run: SourceRun, outcome: str, *, error: str = "") -> SourceRun:
    run.outcome = outcome
    run.error = error[:4000]
    run.finished_at = timezone.now()
    run.save()
    log = logger.warning if outcome == Outcome.FAILED else logger.info
    log(
        "poll %s: %s fetched=%d accepted=%d rejected=%d unchanged=%d %s",
        run.source,
        outcome,
        run.fetched,
        run.accepted,
        run.rejected,
        run.unchanged,
        error,
    )
    return run


def _state(source: str) -> SourceState:
    state, _ = SourceState.objects.get_or_create(source=source)
    return state


def _take_poll_lock(source: str, now: datetime, token: str) -> bool:
    """Atomically claim the source; a claim older than the lock timeout is taken to be dead."""
    _state(source)
    stale = now - timedelta(seconds=settings.SOURCE_POLL_LOCK_SECONDS)
    claimed = SourceState.objects.filter(
        Q(polling_since__isnull=True) | Q(polling_since__lt=stale) | Q(polling_token=token), source=source
    ).update(polling_since=now, polling_token=token)
    return claimed == 1


def _release_poll_lock(source: str) -> None:
    SourceState.objects.filter(source=source).update(polling_since=None, polling_token="")


def _breaker_allows(source: str, now: datetime) -> bool:
    with transaction.atomic():
        state = SourceState.objects.select_for_update().get(source=source)
        if state.breaker != Breaker.OPEN:
            return True
        if now - state.opened_at < PROBE_AFTER:
            return False
        state.breaker, state.probe_successes = Breaker.HALF_OPEN, 0
        state.save(update_fields=["breaker", "probe_successes"])
        return True


def _record_result(source: str, *, success: bool) -> None:
    with transaction.atomic():
        state = SourceState.objects.select_for_update().get(source=source)
        if success:
            state.consecutive_failures = 0
            if state.breaker == Breaker.HALF_OPEN:
                state.probe_successes += 1
                if state.probe_successes >= SUCCESSES_TO_CLOSE:
                    state.breaker, state.opened_at = Breaker.CLOSED, None
        else:
            state.consecutive_failures += 1
            if state.breaker == Breaker.HALF_OPEN or state.consecutive_failures >= FAILURES_TO_OPEN:
                state.breaker, state.opened_at = Breaker.OPEN, timezone.now()
        state.save(update_fields=["consecutive_failures", "probe_successes", "breaker", "opened_at"])
