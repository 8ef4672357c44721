"""signals_ingest: turn parsed source records into persisted signals and rejections.

One transaction per batch and a fixed number of bulk statements per batch, whatever its size.
Idempotent: signals are keyed by their deterministic ``signal_id``, history points by (market,
observed_at) and rejections by (source, external id, input hash, stage), so the same input twice
writes nothing new.

Three parts:

* ``prepare.py`` -- pure: a batch of records into typed rows (pipeline, ids, rejections);
* ``write.py`` -- one transaction: the rows into the database, and the announcement of new signals;
* this module -- batches the records, reads the stored history of the markets a batch names, and
  overlaps the two steps: while the caller's thread writes batch N, a helper thread prepares
  batch N+1, so the pipeline's CPU work and the database's overlap. The helper thread never
  touches the database.

The rows are written through ``signals.services.rows``, which the ledger's replay and import use
too: a column change there reaches every bulk path.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

import orjson
from django.db import transaction

from signals.models import SourceEvent
from signals.pipeline.events import HistoryPoint, ParseFailure, RawEvent
from signals.services.ingest.prepare import History, PreparedBatch, Tracked, batch_prepare, refusal
from signals.services.ingest.write import batch_write
from signals.services.rows import RejectionRow
from signals.services.vocabulary import current_vocabulary
from utilities.bulk_sql import datetime_adapter
from utilities.threads import prompt_thread_switching

__all__ = ["DEFAULT_BATCH_SIZE", "IngestSummary", "RecordOutcome", "signals_ingest"]

# Larger batches amortise each statement and commit (bench/ingest.py: 2000 beat 1000 by ~10 % on SQLite).
DEFAULT_BATCH_SIZE = 2000


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What became of one record: the signal it yielded (new, or already stored), or its rejection."""

    signal_id: str = ""
    created: bool = False
    rejection: RejectionRow | None = None


@dataclass
class IngestSummary:
    """What one ingest did; ``fetched == created + unchanged + rejected``."""

    fetched: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_by_status: Counter = field(default_factory=Counter)
    # One per record, in the order given, when the caller asked for them (keep_outcomes).
    outcomes: list[RecordOutcome] = field(default_factory=list)

    def add(self, other: IngestSummary) -> None:
        self.fetched += other.fetched
        self.created += other.created
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.rejected_by_status.update(other.rejected_by_status)
        self.outcomes.extend(other.outcomes)

    @classmethod
    def of(cls, prepared: PreparedBatch, created: list[tuple[int, str]], keep_outcomes: bool = False) -> IngestSummary:
        rule_rejections = len(prepared.rejections) - prepared.rejected_by_status["REJECTED_PARSE"]
        outcomes = []
        if keep_outcomes:
            new = {signal_id for _, signal_id in created}
            for outcome in prepared.outcomes:
                if isinstance(outcome, RejectionRow):
                    outcomes.append(RecordOutcome(rejection=outcome))
                else:
                    # A record sent twice in one batch created its signal once: the second is
                    # "existing", as the counts (one created, one unchanged) already say.
                    outcomes.append(RecordOutcome(signal_id=outcome, created=outcome in new))
                    new.discard(outcome)
        return cls(
            fetched=prepared.fetched,
            created=len(created),
            unchanged=prepared.events - len(created) - rule_rejections,
            rejected=len(prepared.rejections),
            rejected_by_status=prepared.rejected_by_status,
            outcomes=outcomes,
        )


def signals_ingest(
    *,
    records: Iterable[RawEvent | ParseFailure],
    batch_size: int = DEFAULT_BATCH_SIZE,
    source_reliability: dict[str, float] | None = None,
    on_batch: Callable[[IngestSummary], None] | None = None,
    keep_outcomes: bool = False,
    pushed: bool = False,
) -> IngestSummary:
    """Persist every record as a signal or a rejection; return the counts.

    ``pushed``: the records came from a partner (the ingest API), not a poll; their signals are
    marked so, and kept by the partner signals' retention policy.

    Never raises on a bad record: a record that fails anywhere becomes a rejection naming the
    rule and the reason. Each batch commits on its own, so a failure of the database itself
    loses at most the batch in flight, never half of it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    reliability = source_reliability or {}
    # One vocabulary for the whole call: an operator's term added meanwhile decides the next one.
    vocabulary = current_vocabulary()
    to_db = datetime_adapter()
    # Markets this call has seen, with their history as this call left it: the next batch is
    # prepared before the previous one is committed, so a market seen already is not re-read.
    history: History = {}
    tracked: Tracked = set()
    total = IngestSummary()

    def prepare_next(batches: Iterator[list]) -> Future | None:
        """Start preparing the next batch in the helper thread, after reading the history it needs."""
        batch = next(batches, None)
        if batch is None:
            return None
        _history_load(batch, history, tracked)
        return helper.submit(batch_prepare, batch, history, reliability, to_db, vocabulary, tracked, pushed)

    with prompt_thread_switching(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as helper:
        batches = _batches(records, batch_size)
        pending = prepare_next(batches)
        while pending is not None:
            prepared = pending.result()
            pending = prepare_next(batches)
            with transaction.atomic():
                created = batch_write(prepared)
            summary = IngestSummary.of(prepared, created, keep_outcomes)
            total.add(summary)
            if on_batch is not None:
                on_batch(summary)
    return total


def _batches(records: Iterable, size: int) -> Iterator[list]:
    """Batches of records, each event the database would refuse already turned into a ParseFailure."""
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield [(refusal(record) or record) if isinstance(record, RawEvent) else record for record in batch]


def _history_load(batch: list, history: History, tracked: Tracked) -> None:
    """Read the stored recent history of the batch's markets that ``history`` does not hold yet,
    and add those OMEN issued a signal for to ``tracked``."""
    ids_by_source: dict[str, set[str]] = defaultdict(set)
    for record in batch:
        if isinstance(record, RawEvent) and record.market_key not in history:
            ids_by_source[record.source].add(record.external_id)
    for source, external_ids in ids_by_source.items():
        rows = SourceEvent.objects.for_keys(source, list(external_ids)).values_list(
            "external_id", "recent_history", "latest_signal_id"
        )
        for external_id, recent, latest_signal in rows:
            if latest_signal is not None:
                tracked.add(f"{source}:{external_id}")
            history[f"{source}:{external_id}"] = [
                HistoryPoint(datetime.fromtimestamp(epoch, UTC), probability, volume)
                for epoch, probability, volume in orjson.loads(recent)
            ]
