"""Ingest's write step: one prepared batch into the database, in the caller's transaction.

A fixed number of bulk statements whatever the batch's size: the SourceEvent upsert first (the
other rows need its primary keys), then signals, probability points and rejections, each
skipping what exists. New signals are announced in the same transaction, so the ledger's outbox
commits or rolls back with them.
"""

from __future__ import annotations

from signals.announcements import SavedSignal, signals_bulk_created
from signals.models import Signal
from signals.services.ingest.prepare import PreparedBatch
from signals.services.rows import points_insert, rejections_insert, signals_insert, source_events_upsert


def batch_write(prepared: PreparedBatch) -> list[tuple[int, str]]:
    """Write every row of ``prepared``; return (pk, signal_id) of the signals that are new, by pk."""
    event_pks = source_events_upsert(prepared.source_events)
    created = signals_insert((event_pks[key], row) for key, row in prepared.signals)
    points_insert((event_pks[key], point) for key, point in prepared.points)
    rejections_insert(prepared.rejections)
    if created:
        signals_bulk_created.send(sender=Signal, signals=_saved_signals(prepared, created))
    return created


def _saved_signals(prepared: PreparedBatch, created: list[tuple[int, str]]) -> list[SavedSignal]:
    rows = {row.signal_id: row for _, row in prepared.signals}
    return [
        SavedSignal.of(pk, rows[signal_id], observed_at=prepared.observed_at[signal_id], created_at=prepared.created_at)
        for pk, signal_id in created
    ]
