"""What other apps may use of the signals app, besides its models.

Everything else in ``signals`` is private to it; the import contracts in ``pyproject.toml``
hold that line (``make test`` runs them). Other apps write signals' rows only through what is
here, so a change to a column, to how a SourceEvent moves forward, or to how bulk saves are
announced is made once and reaches ingest and the ledger's replay and import alike (and
retention, once it writes).
"""

from signals.announcements import DeletedSignal, SavedSignal, signals_bulk_created, signals_bulk_deleted
from signals.models.contract import canonical_json
from signals.selectors import (
    PollTotals,
    poll_totals_by_source_and_outcome,
    rejection_counts_by_source_stage_and_rule,
    signal_counts_by_source_and_status,
    signal_counts_by_source_type_and_status,
    signal_time_range,
    source_breaker_states,
    storage_totals,
)
from signals.services.rows import (
    EventKey,
    PointRow,
    RejectionRow,
    SignalRow,
    SourceEventObservations,
    SourceEventRow,
    signals_delete,
    signals_delete_announced,
    signals_insert,
    signals_replace,
    source_events_upsert,
)
from signals.sources.registry import SOURCES

SOURCE_NAMES: tuple[str, ...] = tuple(SOURCES)

__all__ = [
    # Writing rows in bulk (signals.services.rows)
    "EventKey",
    "PointRow",
    "RejectionRow",
    "SignalRow",
    "SourceEventObservations",
    "SourceEventRow",
    "signals_delete",
    "signals_delete_announced",
    "signals_insert",
    "signals_replace",
    "source_events_upsert",
    # Announcing bulk saves and deletes, and the stored form of a contract
    "DeletedSignal",
    "SavedSignal",
    "canonical_json",
    "signals_bulk_created",
    "signals_bulk_deleted",
    # Reading, for reports (signals.selectors)
    "signal_counts_by_source_and_status",
    "signal_time_range",
    "storage_totals",
    # Aggregates /metrics reads at every scrape (signals.selectors)
    "PollTotals",
    "poll_totals_by_source_and_outcome",
    "rejection_counts_by_source_stage_and_rule",
    "signal_counts_by_source_type_and_status",
    "source_breaker_states",
    # The sources' names, for the schedule (signals.sources.registry)
    "SOURCE_NAMES",
]
