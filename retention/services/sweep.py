"""Sweeps: each policy's expired records, archived where the policy says so, deleted in short batches.

A batch is at most ``RETENTION_BATCH_SIZE`` rows, chosen by primary key after the last one
(keyset: no OFFSET, no table lock), deleted in its own transaction together with the update of
its ``RetentionRun`` counters, so a sweep killed anywhere leaves counts that match what is gone,
and the next sweep finishes the rest. Records under an active legal hold are counted and left.
Expired signals go to their day's archive file first (``archive.py``) and are deleted only once
the file holding them is verified; each batch of deleted signals is announced to the ledger as
one bulk delete (a delete frame each).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from ledger.models import WebhookAttempt
from ledger.public import partitions_purge
from retention.models import LegalHold, RetentionRun, SignalArchive
from retention.policies import DEFAULTS, EffectivePolicy, effective_policies
from retention.services import archive
from retention.services.archive_read import EventKeys, ExpiredSignal, expired_signals
from retention.services.backup import (
    backup_directory_remove,
    backup_remove,
    backup_running,
    backups_expired,
    backups_unlisted_expired,
)
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent, SourceRun
from signals.public import signals_delete_identified

log = logging.getLogger("omen.retention")

Progress = Callable[[str, int], None]  # (policy, rows handled since the last call)


@dataclass(frozen=True)
class Holds:
    """The active legal holds, as sets: read again for each policy, and for each batch of signal deletes."""

    signal_ids: frozenset[str] = frozenset()
    event_ids: frozenset[int] = frozenset()
    sources: frozenset[str] = frozenset()
    event_keys: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def active(cls) -> Holds:
        holds = list(LegalHold.objects.active().values_list("signal_id", "source_event_id", "source"))
        event_ids = frozenset(event for _, event, _ in holds if event is not None)
        return cls(
            signal_ids=frozenset(signal for signal, _, _ in holds if signal),
            event_ids=event_ids,
            sources=frozenset(source for _, _, source in holds if source),
            event_keys=frozenset(SourceEvent.objects.filter(pk__in=event_ids).values_list("source", "external_id")),
        )

    def names_frame(self, signal_id: str, source: str, external_id: str) -> bool:
        """Whether a hold names a ledger frame's signal: by its id, its source, or its source event
        (the SourceEvent's source and external id, which the ledger reads from the frame)."""
        return signal_id in self.signal_ids or source in self.sources or (source, external_id) in self.event_keys

    def by_event_key(self) -> Q:
        """Rows naming their event by (source, external_id), as rejections do."""
        held = Q(pk__in=[])
        for source, external_id in self.event_keys:
            held |= Q(source=source, external_id=external_id)
        return held


@dataclass
class Sweep:
    now: datetime
    dry_run: bool
    batch_size: int
    holds: Holds
    progress: Progress | None = None
    runs: list[RetentionRun] = field(default_factory=list)
    event_keys: EventKeys = field(default_factory=EventKeys)

    def step(self, policy: str, rows: int) -> None:
        if self.progress is not None and rows:
            self.progress(policy, rows)


# --------------------------------------------------------------------------- the sweep


def sweep(
    names: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> list[RetentionRun]:
    """Sweep every enabled policy (or those named), in the table's order; one RetentionRun each.

    Raises ``archive.SweepRunning`` when another sweep holds the lock, and ValueError for an
    unknown policy name or a batch size outside 1 to RETENTION_BATCH_SIZE_MAX. A policy that fails
    is recorded as failed and the others still run.
    """
    unknown = sorted(set(names or ()) - DEFAULTS.keys())
    if unknown:
        raise ValueError(f"no policy {', '.join(unknown)}; the policies are {', '.join(DEFAULTS)}")
    # Checked here too, not only by the command's argument: call_command("retention", "sweep",
    # batch_size=-1) passes no argparse type, and every policy then failed on a negative slice.
    if batch_size is not None and not 1 <= batch_size <= settings.RETENTION_BATCH_SIZE_MAX:
        most = settings.RETENTION_BATCH_SIZE_MAX
        raise ValueError(f"batch size {batch_size}: rows per transaction, from 1 to {most:,}")
    policies = effective_policies()
    # The table's order, each policy once however often it is named (a repeated --policy ran twice).
    chosen = [policies[name] for name in DEFAULTS if (name in names if names else policies[name].enabled)]
    # The quick policies first: a first sweep over a large backlog of signals can take its whole
    # time limit, and must not keep backups or idempotency keys from being swept meanwhile.
    chosen.sort(key=lambda policy: policy.name in LONG_POLICIES)
    context = Sweep(
        now=now or timezone.now(),
        dry_run=dry_run,
        batch_size=batch_size or settings.RETENTION_BATCH_SIZE,
        holds=Holds(),
        progress=progress,
    )
    with archive.sweep_lock():
        # Under the lock no other sweep runs: a run still marked running was killed.
        RetentionRun.objects.filter(status=RetentionRun.Status.RUNNING).update(
            status=RetentionRun.Status.INTERRUPTED, finished_at=context.now
        )
        for policy in chosen:
            context.holds = Holds.active()  # a hold set while an earlier policy ran counts too
            context.runs.append(_run(policy, context))
    return context.runs


def _run(policy: EffectivePolicy, context: Sweep) -> RetentionRun:
    run = RetentionRun.objects.create(policy=policy.name, dry_run=context.dry_run, started_at=timezone.now())
    try:
        # Inside the try: a cutoff that cannot be computed fails this policy's run, not the sweep.
        run.cutoff = context.now - policy.keep_for
        RetentionRun.objects.filter(pk=run.pk).update(cutoff=run.cutoff)
        SWEEPERS[policy.name](policy, run, context)
    except SoftTimeLimitExceeded:
        # The task is out of time: stop here (the run stays "running" and the next sweep marks it
        # interrupted and finishes its work), rather than start the next policy and be killed.
        raise
    except KeyboardInterrupt:
        # Ctrl-C: the process lives on long enough to say so, rather than leave the run "running"
        # (what `retention status` shows) until the next sweep marks it. Its batches are committed
        # with their counts, so the next sweep finishes the work as after a kill.
        try:
            RetentionRun.objects.filter(pk=run.pk).update(
                status=RetentionRun.Status.INTERRUPTED,
                error="stopped by Ctrl-C: the next sweep finishes its work",
                finished_at=timezone.now(),
            )
        except Exception:  # the interrupt broke the connection mid-query: the next sweep marks it
            log.warning("retention: run %s of %s left running; the next sweep marks it", run.pk, policy.name)
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, archive.ArchiveDamaged | archive.ArchiveUnwritable):
            # Expected (a damaged day file, a full disk): the line names the file and what to do,
            # and a traceback would bury it on the operator's terminal.
            log.error("retention: policy %s failed: %s", policy.name, error)
        else:
            log.exception("retention: policy %s failed", policy.name)
        RetentionRun.objects.filter(pk=run.pk).update(
            status=RetentionRun.Status.FAILED, error=error, finished_at=timezone.now()
        )
    else:
        RetentionRun.objects.filter(pk=run.pk).update(status=RetentionRun.Status.OK, finished_at=timezone.now())
    run.refresh_from_db()
    return run


def _count(run: RetentionRun, **increments: int) -> None:
    """Add to the run's counters (inside the batch's transaction, so they match what committed)."""
    RetentionRun.objects.filter(pk=run.pk).update(**{name: F(name) + value for name, value in increments.items()})


# --------------------------------------------------------------------------- delete by age


def _delete_expired(policy: str, run: RetentionRun, context: Sweep, expired: QuerySet, held: Q | None = None) -> None:
    """Delete ``expired`` but ``held``, by primary key in batches; count both."""
    kept = expired.filter(held) if held is not None else expired.none()
    on_hold = kept.count()
    deletable = expired.exclude(held) if held is not None else expired
    if context.dry_run:
        _count(run, counted=deletable.count() + on_hold, skipped_on_hold=on_hold)
        return
    _count(run, counted=on_hold, skipped_on_hold=on_hold)
    for ids in _batches(deletable, context.batch_size):
        with transaction.atomic():
            deletable.model.objects.filter(pk__in=ids).delete()
            _count(run, counted=len(ids), deleted=len(ids))
        context.step(policy, len(ids))


def _batches(rows: QuerySet, size: int) -> Iterator[list[int]]:
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        ids = list(page.order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _sweep_rejections(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    holds = context.holds
    _delete_expired(
        policy.name,
        run,
        context,
        Rejection.objects.filter(created_at__lt=run.cutoff),
        Q(source__in=holds.sources) | holds.by_event_key(),
    )


def _sweep_source_runs(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    _delete_expired(
        policy.name,
        run,
        context,
        SourceRun.objects.filter(started_at__lt=run.cutoff),
        Q(source__in=context.holds.sources),
    )


def _sweep_webhook_attempts(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    _delete_expired(
        policy.name,
        run,
        context,
        WebhookAttempt.objects.filter(attempted_at__lt=run.cutoff),
        # A held source or event, through its signals still in the database (an archived
        # signal's attempts are judged by its id alone).
        Q(signal_id__in=context.holds.signal_ids)
        | Q(signal_id__in=Signal.objects.filter(_held_signals(context.holds)).values("signal_id")),
    )


def _sweep_site_model(model_name: str) -> Callable[[EffectivePolicy, RetentionRun, Sweep], None]:
    """A sweeper of one of the site's models by its created_at; the model is named rather than
    imported, since the site stands above retention."""

    def sweep_model(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
        stored = apps.get_model("omen_site", model_name)
        _delete_expired(policy.name, run, context, stored.objects.filter(created_at__lt=run.cutoff))

    return sweep_model


def _sweep_audit_trail(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    log_entry = apps.get_model("admin", "LogEntry")
    _delete_expired(policy.name, run, context, log_entry.objects.filter(action_time__lt=run.cutoff))
    _delete_expired(
        policy.name,
        run,
        context,
        RetentionRun.objects.filter(started_at__lt=run.cutoff).exclude(status=RetentionRun.Status.RUNNING),
    )


def _event_held(holds: Holds, event_field: str = "source_event") -> Q:
    return Q(**{f"{event_field}_id__in": holds.event_ids}) | Q(**{f"{event_field}__source__in": holds.sources})


def crowded_markets(points: QuerySet, max_per_key: int) -> QuerySet:
    """Of ``points``, the markets (``source_event``) with more than ``max_per_key``, and how many
    (``points``): past the newest max_per_key, a market's points expire whatever their age."""
    return points.values("source_event").annotate(points=Count("pk")).filter(points__gt=max_per_key)


def orphaned_events(events: QuerySet) -> QuerySet:
    """Of ``events``, those no signal names: an event goes only once its last signal has (a
    signal's row needs its event)."""
    return events.filter(~Exists(Signal.objects.filter(event=OuterRef("pk"))))


def _sweep_probability_history(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    held = _event_held(context.holds)
    _delete_expired(policy.name, run, context, ProbabilityPoint.objects.filter(observed_at__lt=run.cutoff), held)
    if policy.max_per_key is None:
        return
    # Then each market's oldest points past the newest max_per_key (a market polled often),
    # among the points the age step left.
    recent = ProbabilityPoint.objects.filter(observed_at__gte=run.cutoff).exclude(held)
    crowded = crowded_markets(recent, policy.max_per_key).values_list("source_event", flat=True)
    # A held market keeps every point: those past its newest max_per_key are kept on hold, and
    # counted so, as the age step counts the old points it keeps.
    held_crowded = crowded_markets(
        ProbabilityPoint.objects.filter(observed_at__gte=run.cutoff).filter(held), policy.max_per_key
    ).values_list("points", flat=True)
    if beyond := sum(points - policy.max_per_key for points in held_crowded):
        _count(run, counted=beyond, skipped_on_hold=beyond)
    for event_id in list(crowded):
        oldest_kept = (
            recent.filter(source_event_id=event_id)
            .order_by("-observed_at")
            .values_list("observed_at", flat=True)[policy.max_per_key - 1]
        )
        _delete_expired(policy.name, run, context, recent.filter(source_event_id=event_id, observed_at__lt=oldest_kept))


def _sweep_source_events(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    holds = context.holds
    # Its archive line names a signal's event by source_event_id: a restored signal brings it back.
    orphaned = orphaned_events(SourceEvent.objects.filter(last_seen_at__lt=run.cutoff))
    _delete_expired(
        policy.name,
        run,
        context,
        orphaned,
        # A hold keeps its event, released or not: the hold row, kept as evidence, points at it.
        Q(pk__in=holds.event_ids)
        | Q(source__in=holds.sources)
        | Q(Exists(LegalHold.objects.filter(source_event=OuterRef("pk")))),
    )


# --------------------------------------------------------------------------- signals: archive, then delete


def _held_signals(holds: Holds) -> Q:
    return Q(signal_id__in=holds.signal_ids) | Q(event_id__in=holds.event_ids) | Q(source__in=holds.sources)


def _utc_day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _sweep_signals(policy: EffectivePolicy, run: RetentionRun, context: Sweep, *, pushed_only: bool = False) -> None:
    """Day by day, oldest first: the day's expired signals into its archive file, then out of the database.

    A day whose archive is damaged keeps its signals; the other days go on, and the run is failed
    at the end naming each damaged day.
    """
    # Each signal has one policy: a partner's follows partner_signals alone, whichever is longer.
    # The filter on pushed is checked row by row along the generated_at range the queries scan
    # (signal_generated_idx); partner signals are few, so it reads little beyond what it keeps.
    swept = Signal.objects.filter(pushed=pushed_only)
    expired = swept.filter(generated_at__lt=run.cutoff)
    damaged = []
    day = _next_day(expired, None)
    while day is not None:
        start = _utc_day_start(day)
        held = _held_signals(context.holds)
        # One upper bound, the nearer: given both the day's end and the cutoff, SQLite bounds its
        # index scan by the cutoff and walks every row from there back to the day, for each of a
        # day's queries (5-8 ms a query, days before the cutoff; PostgreSQL takes the nearer).
        of_day = swept.filter(generated_at__gte=start, generated_at__lt=min(start + timedelta(days=1), run.cutoff))
        on_hold = of_day.filter(held).count()
        deletable = of_day.exclude(held)
        if context.dry_run:
            _count(run, counted=deletable.count() + on_hold, skipped_on_hold=on_hold)
        else:
            _count(run, counted=on_hold, skipped_on_hold=on_hold)
            if deletable.exists():  # a day whose expired signals are all held keeps its file as it is
                day_file = archive.DayFile(day)
                try:
                    for part, later in _day_parts(deletable):
                        _archive_and_delete(policy.name, run, context, day_file, part, later, pushed=pushed_only)
                except archive.ArchiveDamaged as exc:
                    log.error("retention: %s", exc)
                    damaged.append(str(exc))
        day = _next_day(expired, start + timedelta(days=1))
    if damaged:
        raise archive.ArchiveDamaged("; ".join(damaged))


# Signals of one day archived, then deleted, in one pass: a pass keeps about 0.75 KB of each in
# memory until its batches delete it (measured on bench/retention.py's signals), so a day of a
# million takes several passes, each adding its lines to the day's file (archive.DayFile).
DAY_PART = 100_000


def _day_parts(deletable: QuerySet) -> Iterator[tuple[QuerySet, QuerySet | None]]:
    """``deletable`` (which has rows) in parts of at most DAY_PART signals, by pk: each part, and
    the rows after it (None after the last)."""
    last = None
    while True:
        rest = deletable if last is None else deletable.filter(pk__gt=last)
        bound = list(rest.order_by("pk").values_list("pk", flat=True)[DAY_PART - 1 : DAY_PART])
        if not bound:
            # Not an empty last part, which would rewrite the day's file for nothing (the first
            # has rows: the caller asked).
            if last is None or rest.exists():
                yield rest, None
            return
        yield rest.filter(pk__lte=bound[0]), deletable.filter(pk__gt=bound[0])
        last = bound[0]


def _next_day(expired: QuerySet, after: datetime | None) -> date | None:
    rest = expired if after is None else expired.filter(generated_at__gte=after)
    first = rest.order_by("generated_at").values_list("generated_at", flat=True).first()
    return None if first is None else first.astimezone(UTC).date()


def _archive_and_delete(
    policy: str,
    run: RetentionRun,
    context: Sweep,
    day_file: archive.DayFile,
    deletable: QuerySet,
    later: QuerySet | None = None,
    *,
    pushed: bool = False,
) -> None:
    """The day's deletable signals (a partner's, if ``pushed``) into its file; then, batch by batch,
    those the verified file holds out of the database, each batch with its delete frames and counts
    in one transaction.

    What a batch needs of each signal (its key, what a hold names it by, its identities for the
    delete frame) stays in memory from the archive's read, the contract aside: a batch reads
    nothing again. Holds are read again for every batch: a hold set while the sweep runs keeps
    what it names.
    """
    kept: dict[str, ExpiredSignal] = {}

    def lines() -> Iterator[tuple[str, bytes]]:
        with closing(expired_signals(deletable, context.event_keys, pushed=pushed)) as signals:
            for signal, line in signals:
                signal_id = signal.identity.signal_id
                kept[signal_id] = signal
                yield signal_id, line

    # Closed whatever happens: on PostgreSQL the read is a COPY, which holds the connection
    # until it ends, and the failure's handler writes to the database.
    with closing(lines()) as stream:
        in_file = day_file.add(stream, later=later)
    archived = [signal for signal_id, signal in kept.items() if signal_id in in_file]
    kept.clear()
    for start in range(0, len(archived), context.batch_size):
        holds = Holds.active()
        chosen = archived[start : start + context.batch_size]
        batch = [signal.identity for signal in chosen if not signal.held(holds)]
        newly_held = len(chosen) - len(batch)
        with transaction.atomic():
            deleted = signals_delete_identified(batch)
            _count(
                run,
                counted=deleted + newly_held,
                archived=deleted,
                deleted=deleted,
                skipped_on_hold=newly_held,
            )
        context.step(policy, deleted)


def _sweep_partner_signals(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    # The same day files as the signals policy: a day's file holds both kinds.
    _sweep_signals(policy, run, context, pushed_only=True)


def _sweep_signal_archives(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    """Archive files of days before the cutoff's day go, but a file holding a held signal stays."""
    holds = context.holds
    damaged = []
    for day, rows in SignalArchive.objects.filter(day__lt=run.cutoff.date()).values_list("day", "rows"):
        if not archive.day_path(day).exists():
            # A removal killed between the file and its manifest entry: finish it.
            _count(run, counted=rows)
            if not context.dry_run:
                archive.remove_day(day)
                _count(run, deleted=rows)
            continue
        try:
            held = sum(1 for signal in archive.read_day(day) if signal.held(holds)) if _any(holds) else 0
        except archive.ArchiveDamaged as exc:
            damaged.append(str(exc))
            continue
        if held:
            _count(run, counted=rows, skipped_on_hold=rows)
            continue
        _count(run, counted=rows)
        if not context.dry_run:
            archive.remove_day(day)
            _count(run, deleted=rows)
            context.step(policy.name, rows)
    if damaged:
        raise archive.ArchiveDamaged("; ".join(damaged))


def _any(holds: Holds) -> bool:
    return bool(holds.signal_ids or holds.event_ids or holds.sources)


def _sweep_ledger(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    """Partitions whose day ended before the cutoff are purged, each leaving a tombstone.

    The ledger keeps a partition that holds a frame of a signal still in the database (kept by its
    own policy, or held), or of a signal a legal hold names, archived or gone from the database;
    such a partition is counted as held. One the ledger refused (its
    files do not verify, or the writer held the lock) fails the run, named.
    """
    # With no hold, the purge need not read each frame's event (two scans of every payload).
    held = context.holds.names_frame if _any(context.holds) else None
    result = partitions_purge(run.cutoff, dry_run=context.dry_run, now=context.now, held=held)
    _count(
        run,
        counted=result.counted,
        deleted=0 if context.dry_run else result.purged,
        skipped_on_hold=result.held,
    )
    context.step(policy.name, result.purged)
    if result.refused:
        raise LedgerPartitionsRefused("; ".join(result.refused))


class LedgerPartitionsRefused(Exception):
    """Partitions the ledger would not purge for a reason an operator must read."""


def _sweep_backups(policy: EffectivePolicy, run: RetentionRun, context: Sweep) -> None:
    """Backups started before the cutoff go, directory then row, oldest first; the newest proven one
    stays however old, so a backup job that keeps failing never leaves nothing to restore.

    Then the directories of BACKUP_DIR that are backups OMEN made but no row names (taken after the
    backup this database was restored from, or a killed backup's partial one) go by the same
    cutoff, counted as backups; a partial one stays while a backup runs, as it may be that one's.
    """
    for backup in backups_expired(run.cutoff).order_by("started_at", "id"):
        _count(run, counted=1)
        if not context.dry_run:
            backup_remove(backup)
            _count(run, deleted=1)
            context.step(policy.name, 1)
    unlisted = backups_unlisted_expired(run.cutoff)
    if any(backup.partial for backup in unlisted) and backup_running():
        unlisted = [backup for backup in unlisted if not backup.partial]
    for backup in unlisted:
        _count(run, counted=1)
        if not context.dry_run:
            backup_directory_remove(backup)
            _count(run, deleted=1)
            context.step(policy.name, 1)


# Run last: over a large backlog these take the longest.
LONG_POLICIES = frozenset({"signals", "partner_signals"})

SWEEPERS: dict[str, Callable[[EffectivePolicy, RetentionRun, Sweep], None]] = {
    "signals": _sweep_signals,
    "partner_signals": _sweep_partner_signals,
    "signal_archives": _sweep_signal_archives,
    "probability_history": _sweep_probability_history,
    "source_events": _sweep_source_events,
    "rejections": _sweep_rejections,
    "source_runs": _sweep_source_runs,
    "webhook_attempts": _sweep_webhook_attempts,
    "api_access_log": _sweep_site_model("ApiAccessLogEntry"),
    "idempotency_keys": _sweep_site_model("IdempotentRequest"),
    "backups": _sweep_backups,
    "ledger": _sweep_ledger,
    "audit_trail": _sweep_audit_trail,
}
