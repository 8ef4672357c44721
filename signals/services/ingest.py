"""signals_ingest: turn parsed source records into persisted signals and rejections.

One transaction per batch and a fixed number of bulk statements per batch,
whatever its size. Idempotent: signals are keyed by their deterministic
``signal_id``, history points by (market, observed_at) and rejections by
(source, external id, input hash, stage), so the same input twice writes
nothing new.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Callable, Iterable

import orjson
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from signals.bulk import signals_bulk_created
from signals.fields import canonical_json
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent
from signals.models.rejection import EXCERPT_MAX_CHARS
from signals.pipeline import Accepted, PipelineContext, Rejected, evaluate
from signals.pipeline.events import HistoryPoint, ParseFailure, RawEvent
from signals.services.bulk_sql import datetime_adapter, insert_rows

logger = logging.getLogger(__name__)

# The anomaly rule sees at most this many earlier observations of a market,
# none older than OMEN's 168-hour probability-history window.
HISTORY_WINDOW = timedelta(hours=168)
RECENT_HISTORY_POINTS = 50
DEFAULT_BATCH_SIZE = 1000

# Column limits the pipeline does not enforce itself.
MAX_EXTERNAL_ID = SourceEvent._meta.get_field("external_id").max_length
MAX_URL = SourceEvent._meta.get_field("url").max_length


@dataclass
class IngestSummary:
    """What one ingest did; ``fetched == created + unchanged + rejected``."""

    fetched: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_by_status: Counter = field(default_factory=Counter)

    def add(self, other: IngestSummary) -> None:
        self.fetched += other.fetched
        self.created += other.created
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.rejected_by_status.update(other.rejected_by_status)


def signals_ingest(
    *,
    records: Iterable[RawEvent | ParseFailure],
    batch_size: int = DEFAULT_BATCH_SIZE,
    source_reliability: dict[str, float] | None = None,
    on_batch: Callable[[IngestSummary], None] | None = None,
) -> IngestSummary:
    """Persist every record as a signal or a rejection; return the counts.

    Never raises on a bad record: a record that fails anywhere becomes a
    rejection naming the rule and the reason. Each batch commits on its own,
    so a failure of the database itself loses at most the batch in flight,
    never half of it.
    """
    total = IngestSummary()
    iterator = iter(records)
    while batch := list(islice(iterator, batch_size)):
        with transaction.atomic():
            summary = _ingest_batch(batch, source_reliability=source_reliability or {})
        total.add(summary)
        if on_batch is not None:
            on_batch(summary)
    return total


def _ingest_batch(batch: list[RawEvent | ParseFailure], *, source_reliability) -> IngestSummary:
    now = timezone.now()
    to_db = datetime_adapter()
    created_at = to_db(now)
    summary = IngestSummary(fetched=len(batch))
    rejections: list[Rejection] = []

    events: list[RawEvent] = []
    for record in batch:
        if isinstance(record, ParseFailure):
            rejections.append(_parse_rejection(record, now))
        elif problem := _column_problem(record):
            rejections.append(_parse_rejection(problem, now))
        else:
            events.append(record)
    # Time order makes in-batch history causal and the outcome independent of
    # the order records arrived in.
    events.sort(key=lambda e: (e.observed_at, e.market_key))

    history = _load_recent_history(events)
    new_points: list[RawEvent] = []
    accepted: dict[str, tuple[RawEvent, Accepted]] = {}
    for event in events:
        points = history[event.market_key]
        position = bisect.bisect_left(points, event.observed_at, key=_observed_at)
        is_new_point = position == len(points) or points[position].observed_at != event.observed_at
        context = PipelineContext(
            # Only what was known before this observation: re-ingesting it
            # later sees the same history and reaches the same decision.
            history={event.market_key: points[max(0, position - RECENT_HISTORY_POINTS) : position]},
            source_reliability=source_reliability,
        )
        outcome = _evaluate_safely(event, context)
        if is_new_point:
            points.insert(position, HistoryPoint(event.observed_at, event.probability, event.volume))
            new_points.append(event)
        if isinstance(outcome, Accepted):
            accepted.setdefault(outcome.signal_id, (event, outcome))
        else:
            rejections.append(_rule_rejection(event, outcome, now))

    source_events = _upsert_source_events(events, history, to_db)
    new_signal_rows = [
        _signal_row(event, outcome, source_events[event.market_key], created_at, to_db)
        for event, outcome in accepted.values()
    ]
    # ON CONFLICT DO NOTHING: a signal that exists (this input seen before, or
    # written by a concurrent ingest) is skipped; RETURNING lists only the new ones.
    created_pks = [
        pk
        for (pk,) in insert_rows(
            Signal._meta.db_table, SIGNAL_COLUMNS, new_signal_rows, conflict=["signal_id"], returning=["id"]
        )
    ]
    insert_rows(
        ProbabilityPoint._meta.db_table,
        POINT_COLUMNS,
        [
            (
                source_events[event.market_key],
                to_db(event.observed_at),
                event.probability,
                event.volume,
                event.liquidity,
            )
            for event in new_points
        ],
        conflict=["source_event_id", "observed_at"],
    )
    Rejection.objects.bulk_create(rejections, ignore_conflicts=True)
    if created_pks:
        _point_at_latest_signals(list(source_events.values()))
        signals_bulk_created.send(sender=Signal, pks=sorted(created_pks))

    summary.created = len(created_pks)
    summary.unchanged = len(events) - summary.created - sum(1 for r in rejections if r.stage != "parse")
    summary.rejected = len(rejections)
    summary.rejected_by_status.update(r.status for r in rejections)
    return summary


def _observed_at(point: HistoryPoint):
    return point.observed_at


def _evaluate_safely(event: RawEvent, context: PipelineContext) -> Accepted | Rejected:
    """The pipeline isolates rule errors itself; this catches anything beyond them."""
    try:
        return evaluate(event, context)
    except Exception as exc:  # one bad event must not sink the batch
        logger.exception("pipeline failed on %s", event.event_id)
        return Rejected(
            stage="generation",
            rule="pipeline",
            rule_version="",
            status="REJECTED_RULE_ERROR",
            reason=f"pipeline error on {event.event_id}: {type(exc).__name__}: {exc}",
            score=0.0,
            input_event_hash="",
        )


def _column_problem(event: RawEvent) -> ParseFailure | None:
    if len(event.external_id) > MAX_EXTERNAL_ID:
        return ParseFailure(
            source=event.source,
            external_id=event.external_id[:MAX_EXTERNAL_ID],
            field="id",
            reason=f"id is {len(event.external_id)} characters long; at most {MAX_EXTERNAL_ID} are kept",
            excerpt=event.external_id[:200],
        )
    if len(event.url) > MAX_URL:
        return ParseFailure(
            source=event.source,
            external_id=event.external_id,
            field="url",
            reason=f"url is {len(event.url)} characters long; at most {MAX_URL} are kept",
            excerpt=event.url[:200],
        )
    return None


def _load_recent_history(events: list[RawEvent]) -> dict[str, list[HistoryPoint]]:
    """Each market's recent observations, from one read of the SourceEvent rows."""
    history: dict[str, list[HistoryPoint]] = defaultdict(list)
    ids_by_source: dict[str, set[str]] = defaultdict(set)
    for event in events:
        ids_by_source[event.source].add(event.external_id)
    for source, external_ids in ids_by_source.items():
        rows = SourceEvent.objects.for_keys(source, list(external_ids)).values_list("external_id", "recent_history")
        for external_id, recent in rows:
            history[f"{source}:{external_id}"] = [
                HistoryPoint(datetime.fromtimestamp(epoch, UTC), probability, volume)
                for epoch, probability, volume in orjson.loads(recent)
            ]
    return history


SOURCE_EVENT_COLUMNS = [
    "source", "external_id", "title", "url", "first_seen_at", "last_seen_at", "last_probability", "recent_history",
]  # fmt: skip


def _upsert_source_events(events: list[RawEvent], history: dict[str, list[HistoryPoint]], to_db) -> dict[str, int]:
    """One INSERT .. ON CONFLICT DO UPDATE for every market of the batch; return their pks by market key."""
    rows: dict[str, list] = {}
    for event in events:  # time order: the last one seen wins title, url and price
        row = rows.get(event.market_key)
        if row is None:
            rows[event.market_key] = [
                event.source, event.external_id, event.title[:500], event.url,
                event.observed_at, event.observed_at, event.probability, None,
            ]  # fmt: skip
        else:
            row[2], row[3], row[5], row[6] = event.title[:500], event.url, event.observed_at, event.probability
    for key, row in rows.items():
        points = history[key]
        horizon = points[-1].observed_at - HISTORY_WINDOW
        kept = [p for p in points[-RECENT_HISTORY_POINTS:] if p.observed_at >= horizon]
        row[4], row[5] = to_db(row[4]), to_db(row[5])
        row[7] = orjson.dumps([[p.observed_at.timestamp(), p.probability, p.volume] for p in kept]).decode()
    pks: dict[str, int] = {}
    returned = insert_rows(
        SourceEvent._meta.db_table,
        SOURCE_EVENT_COLUMNS,
        list(rows.values()),
        conflict=["source", "external_id"],
        # first_seen_at is not updated: it keeps the first sighting.
        update=["title", "url", "last_seen_at", "last_probability", "recent_history"],
        returning=["id", "source", "external_id"],
    )
    for pk, source, external_id in returned:
        pks[f"{source}:{external_id}"] = pk
    return pks


def _point_at_latest_signals(source_event_pks: list[int]) -> None:
    """One UPDATE: each SourceEvent's latest_signal is its newest signal (signal_event_generated_idx)."""
    newest = Signal.objects.filter(event=OuterRef("pk")).order_by("-generated_at", "-id").values("pk")[:1]
    SourceEvent.objects.filter(pk__in=source_event_pks).update(latest_signal=Subquery(newest))


SIGNAL_COLUMNS = [
    "signal_id", "event_id", "source", "source_event_id", "input_event_hash", "trace_id",
    "ruleset_version", "signal_type", "status", "category", "confidence_level", "title",
    "probability", "confidence", "observed_at", "generated_at", "created_at", "contract",
]  # fmt: skip
POINT_COLUMNS = ["source_event_id", "observed_at", "probability", "volume", "liquidity"]


def _signal_row(event: RawEvent, outcome: Accepted, source_event_pk: int, created_at, to_db) -> tuple:
    """A Signal row in SIGNAL_COLUMNS order, ready for the database."""
    contract = outcome.signal
    observed_at = to_db(event.observed_at)
    return (
        outcome.signal_id,
        source_event_pk,
        event.source,
        event.event_id,
        outcome.input_event_hash,
        outcome.trace_id,
        contract["ruleset_version"],
        contract["signal_type"],
        contract["status"],
        contract["category"],
        contract["confidence_level"],
        contract["title"],
        contract["probability"],
        contract["confidence_score"],
        observed_at,
        observed_at,  # generated_at: a function of the input, so replays are byte-identical
        created_at,
        canonical_json(contract),
    )


def _parse_rejection(failure: ParseFailure, now) -> Rejection:
    digest = hashlib.sha256(f"{failure.field}|{failure.reason}|{failure.excerpt}".encode()).hexdigest()
    return Rejection(
        source=failure.source,
        external_id=failure.external_id[:MAX_EXTERNAL_ID],
        input_hash=digest,
        stage="parse",
        rule="parse",
        status="REJECTED_PARSE",
        reason=failure.reason[:2000],
        field=failure.field[:64],
        excerpt=failure.excerpt[:EXCERPT_MAX_CHARS],
        created_at=now,
    )


def _rule_rejection(event: RawEvent, outcome: Rejected, now) -> Rejection:
    excerpt = orjson.dumps(
        {
            "event_id": event.event_id,
            "title": event.title[:300],
            "probability": event.probability,
            "liquidity": event.liquidity,
            "volume": event.volume,
            "movement": event.movement,
            "url": event.url,
        }
    ).decode()
    return Rejection(
        source=event.source,
        external_id=event.external_id,
        input_hash=outcome.input_event_hash or hashlib.sha256(excerpt.encode()).hexdigest(),
        stage=outcome.stage,
        rule=outcome.rule,
        rule_version=outcome.rule_version,
        status=outcome.status,
        reason=outcome.reason,
        score=outcome.score,
        excerpt=excerpt[:EXCERPT_MAX_CHARS],
        observed_at=event.observed_at,
        created_at=now,
    )
