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
from django.utils import timezone

from signals.bulk import signals_bulk_created
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent
from signals.models.rejection import EXCERPT_MAX_CHARS
from signals.pipeline import Accepted, PipelineContext, Rejected, evaluate
from signals.pipeline.events import HistoryPoint, ParseFailure, RawEvent

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

    source_events = _upsert_source_events(events, history)
    existing = set(Signal.objects.filter(signal_id__in=list(accepted)).values_list("signal_id", flat=True))
    new_signals = [
        _signal_row(event, outcome, source_events[event.market_key].pk, now)
        for signal_id, (event, outcome) in accepted.items()
        if signal_id not in existing
    ]
    # ON CONFLICT DO NOTHING: a concurrent ingest of the same input is not an
    # error; created_at=now then tells the rows this batch wrote from the others.
    Signal.objects.bulk_create(new_signals, ignore_conflicts=True)
    created_ids = dict(
        Signal.objects.filter(signal_id__in=[s.signal_id for s in new_signals], created_at=now).values_list(
            "signal_id", "pk"
        )
    )
    ProbabilityPoint.objects.bulk_create(
        [
            ProbabilityPoint(
                source_event_id=source_events[event.market_key].pk,
                observed_at=event.observed_at,
                probability=event.probability,
                volume=event.volume,
                liquidity=event.liquidity,
            )
            for event in new_points
        ],
        ignore_conflicts=True,
    )
    Rejection.objects.bulk_create(rejections, ignore_conflicts=True)
    _point_source_events_at_latest_signals(source_events, events, accepted, created_ids)

    if created_ids:
        signals_bulk_created.send(sender=Signal, pks=sorted(created_ids.values()))

    summary.created = len(created_ids)
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


def _upsert_source_events(events: list[RawEvent], history: dict[str, list[HistoryPoint]]) -> dict[str, SourceEvent]:
    """One INSERT .. ON CONFLICT DO UPDATE for every market of the batch; sets their pks."""
    rows: dict[str, SourceEvent] = {}
    for event in events:  # time order: the last one seen wins title and price
        row = rows.get(event.market_key)
        if row is None:
            rows[event.market_key] = SourceEvent(
                source=event.source,
                external_id=event.external_id,
                title=event.title[:500],
                url=event.url,
                first_seen_at=event.observed_at,
                last_seen_at=event.observed_at,
                last_probability=event.probability,
            )
        else:
            row.title, row.url = event.title[:500], event.url
            row.last_seen_at, row.last_probability = event.observed_at, event.probability
    for key, row in rows.items():
        points = history[key]
        horizon = points[-1].observed_at - HISTORY_WINDOW
        kept = [p for p in points[-RECENT_HISTORY_POINTS:] if p.observed_at >= horizon]
        row.recent_history = orjson.dumps([[p.observed_at.timestamp(), p.probability, p.volume] for p in kept]).decode()
    if rows:
        SourceEvent.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["source", "external_id"],
            update_fields=["title", "url", "last_seen_at", "last_probability", "recent_history"],
        )
    return rows


def _point_source_events_at_latest_signals(source_events, events, accepted, created_ids) -> None:
    """Set SourceEvent.latest_signal where the market's newest observation became a new signal."""
    newest: dict[str, RawEvent] = {}
    for event in events:
        newest[event.market_key] = event
    by_event = {id(event): outcome for event, outcome in accepted.values()}
    changed = []
    for key, event in newest.items():
        outcome = by_event.get(id(event))
        if outcome is not None and outcome.signal_id in created_ids:
            row = source_events[key]
            row.latest_signal_id = created_ids[outcome.signal_id]
            changed.append(row)
    if changed:
        SourceEvent.objects.bulk_update(changed, ["latest_signal"])


def _signal_row(event: RawEvent, outcome: Accepted, source_event_pk: int, now) -> Signal:
    contract = outcome.signal
    return Signal(
        signal_id=outcome.signal_id,
        event_id=source_event_pk,
        source=event.source,
        source_event_id=event.event_id,
        input_event_hash=outcome.input_event_hash,
        trace_id=outcome.trace_id,
        ruleset_version=contract["ruleset_version"],
        signal_type=contract["signal_type"],
        status=contract["status"],
        category=contract["category"],
        confidence_level=contract["confidence_level"],
        title=contract["title"],
        probability=contract["probability"],
        confidence=contract["confidence_score"],
        observed_at=event.observed_at,
        generated_at=event.observed_at,
        created_at=now,
        contract=contract,
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
