"""signals_ingest: turn parsed source records into persisted signals and rejections.

One transaction per batch and a fixed number of bulk statements per batch,
whatever its size. Idempotent: signals are keyed by their deterministic
``signal_id``, history points by (market, observed_at) and rejections by
(source, external id, input hash, stage), so the same input twice writes
nothing new.

Each batch goes through two steps: *prepare* (pure Python: run the pipeline
and build every row) and *write* (the database). While the database writes
batch N, a helper thread prepares batch N+1, so the pipeline's CPU work and
the database's overlap on a multi-core machine. The helper thread never
touches the database; the caller's thread and connection do all the writing.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice

import orjson
from django.db import connection, transaction
from django.utils import timezone

from signals.bulk import SavedSignal, signals_bulk_created
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
# Larger batches amortise each statement and commit (bench/ingest.py: 2000 beat 1000 by ~10 % on SQLite).
DEFAULT_BATCH_SIZE = 2000

# Column limits the pipeline does not enforce itself.
MAX_EXTERNAL_ID = SourceEvent._meta.get_field("external_id").max_length
MAX_URL = SourceEvent._meta.get_field("url").max_length

SOURCE_EVENT_COLUMNS = [
    "source", "external_id", "title", "url", "first_seen_at", "last_seen_at", "last_probability",
    "recent_history", "latest_signal_id",
]  # fmt: skip
SIGNAL_COLUMNS = [
    "signal_id", "event_id", "source", "source_event_id", "input_event_hash", "trace_id",
    "ruleset_version", "signal_type", "status", "category", "confidence_level", "title",
    "probability", "confidence", "observed_at", "generated_at", "created_at", "contract",
]  # fmt: skip
POINT_COLUMNS = ["source_event_id", "observed_at", "probability", "volume", "liquidity"]
REJECTION_COLUMNS = [
    "source", "external_id", "input_hash", "stage", "rule", "rule_version", "status", "reason",
    "field", "score", "excerpt", "observed_at", "created_at",
]  # fmt: skip
EVENT_PK = SIGNAL_COLUMNS.index("event_id")
SIGNAL_TRACE, SIGNAL_INPUT_HASH, SIGNAL_SOURCE_EVENT, SIGNAL_RULESET, SIGNAL_CONTRACT = (
    SIGNAL_COLUMNS.index(name)
    for name in ("trace_id", "input_event_hash", "source_event_id", "ruleset_version", "contract")
)


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


@dataclass
class PreparedBatch:
    """Every row one batch writes, built without the database.

    Signal and point rows name their SourceEvent by market key; the write
    step swaps in the primary key the upsert returns.
    """

    fetched: int
    events: int
    source_event_rows: list[tuple]
    signal_rows: list[tuple[str, list]]  # (market key, row)
    point_rows: list[tuple[str, list]]
    rejection_rows: list[tuple]
    rejected_by_status: Counter
    # For the announcement of the new signals, in Python values (rows hold backend values).
    created_at: datetime
    observed_at: dict[str, datetime]  # signal_id -> when its event was observed


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
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    reliability = source_reliability or {}
    to_db = datetime_adapter()
    # Markets this call has seen, with their history as this call left it:
    # the next batch is prepared before the previous one is committed, so a
    # market already seen must not be re-read from the database.
    history: dict[str, list[HistoryPoint]] = {}
    batches = _batches(records, batch_size)
    total = IngestSummary()

    def prepare(batch):
        return _prepare_batch(batch, history, reliability, to_db)

    with _prompt_thread_switching(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as preparer:
        pending: Future | None = None
        first = next(batches, None)
        if first is not None:
            _load_history(first, history)
            pending = preparer.submit(prepare, first)
        while pending is not None:
            prepared = pending.result()
            following = next(batches, None)
            if following is not None:
                _load_history(following, history)
                pending = preparer.submit(prepare, following)
            else:
                pending = None
            with transaction.atomic():
                summary = _write_batch(prepared)
            total.add(summary)
            if on_batch is not None:
                on_batch(summary)
    return total


_switching_lock = threading.Lock()
_switching_users = 0
_switching_previous = 0.0


@contextmanager
def _prompt_thread_switching(interval: float = 0.001):
    """Hand the GIL over every millisecond instead of every five.

    The writing thread gives the GIL up on every database round trip and then
    waits to get it back from the busy preparing thread; at Python's default
    5 ms interval that wait dominated the write step (measured: +15 % signals/s
    at 1 ms). The interval is process-wide: the first of overlapping ingests
    sets it and the last one restores it.
    """
    global _switching_users, _switching_previous
    with _switching_lock:
        if _switching_users == 0:
            _switching_previous = sys.getswitchinterval()
            sys.setswitchinterval(min(_switching_previous, interval))
        _switching_users += 1
    try:
        yield
    finally:
        with _switching_lock:
            _switching_users -= 1
            if _switching_users == 0:
                sys.setswitchinterval(_switching_previous)


def _batches(records: Iterable, size: int) -> Iterator[list]:
    """Batches of records, each event the database would refuse already turned into a ParseFailure."""
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield [(_column_problem(record) or record) if isinstance(record, RawEvent) else record for record in batch]


# --- prepare: pure Python, runs in the helper thread ---------------------------


def _prepare_batch(batch, history, reliability, to_db) -> PreparedBatch:
    now = timezone.now()
    created_at = to_db(now)
    rejection_rows: list[tuple] = []
    rejected_by_status: Counter = Counter()

    events: list[RawEvent] = []
    for record in batch:
        if isinstance(record, ParseFailure):
            rejection_rows.append(_parse_rejection_row(record, created_at))
            rejected_by_status["REJECTED_PARSE"] += 1
        else:
            events.append(record)
    # Time order makes in-batch history causal and the outcome independent of
    # the order records arrived in.
    events.sort(key=lambda e: (e.observed_at, e.market_key))

    signal_rows: list[tuple[str, list]] = []
    point_rows: list[tuple[str, list]] = []
    observed_at: dict[str, datetime] = {}
    newest_signal: dict[str, str] = {}  # market key -> its newest accepted signal in this batch
    for event in events:
        points = history.setdefault(event.market_key, [])
        position = bisect.bisect_left(points, event.observed_at, key=_observed_at)
        context = PipelineContext(
            # Only what was known before this observation, so re-ingesting it
            # reaches the same decision (as long as the points it saw are
            # still among the market's RECENT_HISTORY_POINTS newest).
            history={event.market_key: points[max(0, position - RECENT_HISTORY_POINTS) : position]},
            source_reliability=reliability,
        )
        outcome = _evaluate_safely(event, context)
        if position == len(points) or points[position].observed_at != event.observed_at:
            points.insert(position, HistoryPoint(event.observed_at, event.probability, event.volume))
            point_rows.append(
                (event.market_key, [None, to_db(event.observed_at), event.probability, event.volume, event.liquidity])
            )
        if isinstance(outcome, Accepted):
            newest_signal[event.market_key] = outcome.signal_id  # events are in time order
            if outcome.signal_id not in observed_at:
                observed_at[outcome.signal_id] = event.observed_at
                signal_rows.append((event.market_key, _signal_row(event, outcome, created_at, to_db)))
        else:
            rejection_rows.append(_rule_rejection_row(event, outcome, created_at, to_db))
            rejected_by_status[outcome.status] += 1

    return PreparedBatch(
        fetched=len(batch),
        events=len(events),
        source_event_rows=_source_event_rows(events, history, newest_signal, to_db),
        signal_rows=sorted(signal_rows, key=lambda item: item[1][0]),  # by signal_id
        point_rows=point_rows,
        rejection_rows=sorted(rejection_rows, key=lambda row: (row[0], row[1], row[2], row[3])),
        rejected_by_status=rejected_by_status,
        created_at=now,
        observed_at=observed_at,
    )


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
    """What the database would refuse in an event that parsed; every source's parser gets here."""
    for name in ("external_id", "title", "description", "url"):
        if "\x00" in getattr(event, name):
            # PostgreSQL text cannot hold NUL: one such event would fail the whole batch.
            return ParseFailure(
                source=event.source,
                external_id=_printable(event.external_id)[:MAX_EXTERNAL_ID],
                field=name,
                reason=f"{name} contains a NUL character, which no text column can store",
                excerpt=_printable(getattr(event, name))[:200],
            )
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


def _printable(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _source_event_rows(events: list[RawEvent], history, newest_signal, to_db) -> list[tuple]:
    """One row per market of the batch; the last observation wins title, url and price."""
    rows: dict[str, list] = {}
    for event in events:  # time order
        row = rows.get(event.market_key)
        if row is None:
            rows[event.market_key] = [
                event.source, event.external_id, event.title[:500], event.url,
                event.observed_at, event.observed_at, event.probability, None, None,
            ]  # fmt: skip
        else:
            row[2], row[3], row[5], row[6] = event.title[:500], event.url, event.observed_at, event.probability
    for key, row in rows.items():
        points = history[key]
        horizon = points[-1].observed_at - HISTORY_WINDOW
        kept = [p for p in points[-RECENT_HISTORY_POINTS:] if p.observed_at >= horizon]
        # The call's cache keeps what the database keeps, so a long ingest stays small.
        history[key] = kept
        row[4], row[5] = to_db(row[4]), to_db(row[5])
        row[7] = orjson.dumps([[p.observed_at.timestamp(), p.probability, p.volume] for p in kept]).decode()
        row[8] = newest_signal.get(key)
    # Key order: concurrent ingests lock shared rows in the same order (no deadlock).
    return sorted(tuple(row) for row in rows.values())


def _signal_row(event: RawEvent, outcome: Accepted, created_at, to_db) -> list:
    """A Signal row in SIGNAL_COLUMNS order; event_id is filled in by the write step."""
    contract = outcome.signal
    observed_at = to_db(event.observed_at)
    return [
        outcome.signal_id,
        None,  # event_id
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
    ]


def _parse_rejection_row(failure: ParseFailure, created_at) -> tuple:
    digest = hashlib.sha256(f"{failure.field}|{failure.reason}|{failure.excerpt}".encode()).hexdigest()
    return (
        failure.source,
        _printable(failure.external_id)[:MAX_EXTERNAL_ID],
        digest,
        "parse",
        "parse",
        "",
        "REJECTED_PARSE",
        _printable(failure.reason)[:2000],
        _printable(failure.field)[:64],
        None,
        _printable(failure.excerpt)[:EXCERPT_MAX_CHARS],
        None,
        created_at,
    )


def _rule_rejection_row(event: RawEvent, outcome: Rejected, created_at, to_db) -> tuple:
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
    return (
        event.source,
        event.external_id,
        outcome.input_event_hash or hashlib.sha256(excerpt.encode()).hexdigest(),
        outcome.stage,
        outcome.rule,
        outcome.rule_version,
        outcome.status,
        outcome.reason,
        "",
        outcome.score,
        excerpt[:EXCERPT_MAX_CHARS],
        to_db(event.observed_at),
        created_at,
    )


# --- database: the caller's thread -------------------------------------------------


def _load_history(batch: list, history: dict[str, list[HistoryPoint]]) -> None:
    """Read the recent history of the batch's markets this call has not seen yet."""
    ids_by_source: dict[str, set[str]] = defaultdict(set)
    for record in batch:
        if isinstance(record, RawEvent) and record.market_key not in history:
            ids_by_source[record.source].add(record.external_id)
    for source, external_ids in ids_by_source.items():
        rows = SourceEvent.objects.for_keys(source, list(external_ids)).values_list("external_id", "recent_history")
        for external_id, recent in rows:
            history[f"{source}:{external_id}"] = [
                HistoryPoint(datetime.fromtimestamp(epoch, UTC), probability, volume)
                for epoch, probability, volume in orjson.loads(recent)
            ]


def _source_event_updates() -> dict[str, str]:
    """How a known SourceEvent takes a new observation: only ever forward in time.

    first_seen_at keeps the first sighting; title, url, price and latest
    signal change only when the new observation is not older than the last
    one (re-ingesting an old reply must not roll them back). The recent
    history was merged in time order before, so it is always taken; the
    latest signal stays when the newest observation was rejected. The
    latest_signal foreign key is checked at commit, after the signal rows
    exist.
    """
    qn = connection.ops.quote_name
    table = qn(SourceEvent._meta.db_table)
    newer = f"excluded.{qn('last_seen_at')} >= {table}.{qn('last_seen_at')}"

    def forward(column, new_value=None):
        new_value = new_value or f"excluded.{qn(column)}"
        return f"CASE WHEN {newer} THEN {new_value} ELSE {table}.{qn(column)} END"

    latest = qn("latest_signal_id")
    return {
        "title": forward("title"),
        "url": forward("url"),
        "last_probability": forward("last_probability"),
        "latest_signal_id": forward("latest_signal_id", f"COALESCE(excluded.{latest}, {table}.{latest})"),
        "last_seen_at": forward("last_seen_at"),
        "recent_history": f"excluded.{qn('recent_history')}",
    }


def _saved_signals(prepared: PreparedBatch, created: list[tuple[int, str]]) -> list[SavedSignal]:
    rows = {row[0]: row for _, row in prepared.signal_rows}
    return [
        SavedSignal(
            pk,
            signal_id,
            rows[signal_id][SIGNAL_TRACE],
            rows[signal_id][SIGNAL_INPUT_HASH],
            rows[signal_id][SIGNAL_SOURCE_EVENT],
            rows[signal_id][SIGNAL_RULESET],
            prepared.observed_at[signal_id],
            prepared.created_at,
            rows[signal_id][SIGNAL_CONTRACT],
        )
        for pk, signal_id in created
    ]


def _write_batch(prepared: PreparedBatch) -> IngestSummary:
    returned = insert_rows(
        SourceEvent._meta.db_table,
        SOURCE_EVENT_COLUMNS,
        prepared.source_event_rows,
        conflict=["source", "external_id"],
        update=_source_event_updates(),
        returning=["id", "source", "external_id"],
    )
    pks = {f"{source}:{external_id}": pk for pk, source, external_id in returned}
    for key, row in prepared.signal_rows:
        row[EVENT_PK] = pks[key]
    for key, row in prepared.point_rows:
        row[0] = pks[key]
    point_rows = sorted((row for _, row in prepared.point_rows), key=lambda row: (row[0], row[1]))

    # ON CONFLICT DO NOTHING: a signal that exists (this input seen before, or
    # written by a concurrent ingest) is skipped; RETURNING lists only the new ones.
    created = sorted(
        insert_rows(
            Signal._meta.db_table,
            SIGNAL_COLUMNS,
            [row for _, row in prepared.signal_rows],
            conflict=["signal_id"],
            returning=["id", "signal_id"],
        )
    )
    insert_rows(
        ProbabilityPoint._meta.db_table,
        POINT_COLUMNS,
        point_rows,
        conflict=["source_event_id", "observed_at"],
    )
    insert_rows(
        Rejection._meta.db_table,
        REJECTION_COLUMNS,
        prepared.rejection_rows,
        conflict=["source", "external_id", "input_hash", "stage"],
    )
    if created:
        signals_bulk_created.send(sender=Signal, signals=_saved_signals(prepared, created))

    rule_rejections = len(prepared.rejection_rows) - prepared.rejected_by_status["REJECTED_PARSE"]
    return IngestSummary(
        fetched=prepared.fetched,
        created=len(created),
        unchanged=prepared.events - len(created) - rule_rejections,
        rejected=len(prepared.rejection_rows),
        rejected_by_status=prepared.rejected_by_status,
    )
