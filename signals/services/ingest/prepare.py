"""Ingest's pure step: a batch of parsed records in, every row it writes out. No database here.

Each event goes through the pipeline with only the history known before it; an accepted one
becomes a signal row, a rejected one (or a record that never parsed) a rejection row; every
event is an observation of its SourceEvent, and a probability point unless its market already
has one for that moment (a closed market OMEN never issued a signal for is a rejection only).
Runs in ingest's helper thread, while the caller's thread writes the previous batch.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.utils import timezone

from signals.models import Rejection, SourceEvent
from signals.models.contract import canonical_json
from signals.models.rejection import EXCERPT_MAX_CHARS
from signals.pipeline import Accepted, PipelineContext, Rejected, evaluate
from signals.pipeline.events import HistoryPoint, ParseFailure, RawEvent
from signals.pipeline.text import DEFAULT_VOCABULARY, Vocabulary
from signals.services.rows import (
    EventKey,
    PointRow,
    RejectionRow,
    SignalRow,
    SourceEventObservations,
    SourceEventRow,
)

logger = logging.getLogger(__name__)

# The anomaly rule sees at most this many earlier observations of a market,
# none older than OMEN's 168-hour probability-history window.
HISTORY_WINDOW = timedelta(hours=168)
RECENT_HISTORY_POINTS = 50

# Column limits the parsers do not enforce themselves.
# SourceEvent.external_id is text (an imported event keeps the original's id); a source's id
# must also fit a rejection's, and no parser makes a longer one.
MAX_EXTERNAL_ID = Rejection._meta.get_field("external_id").max_length
MAX_URL = SourceEvent._meta.get_field("url").max_length
MAX_FIELD_NAME = Rejection._meta.get_field("field").max_length
# A rejection's reason is a text column; a parser's reason longer than this is cut, not stored whole.
MAX_REASON = 2000

# market key (RawEvent.market_key) -> that market's recent points, oldest first
History = dict[str, list[HistoryPoint]]
# market keys of the markets OMEN issued a signal for: what a closed market's observation becomes
Tracked = set[str]


@dataclass
class PreparedBatch:
    """Every row one batch writes, built without the database."""

    fetched: int  # records in the batch
    events: int  # of which parsed into events
    source_events: list[SourceEventRow]
    signals: list[tuple[EventKey, SignalRow]]  # by signal id
    points: list[tuple[EventKey, PointRow]]
    rejections: list[RejectionRow]
    rejected_by_status: Counter
    # For announcing the new signals, in Python values (rows hold what the backend stores).
    created_at: datetime
    observed_at: dict[str, datetime]  # signal_id -> when its event was observed
    # What became of each record, in the batch's order: the signal id it yielded (new or already
    # stored) or the rejection that records it. For a caller that answers per record (the API).
    outcomes: list[str | RejectionRow]


def refusal(event: RawEvent) -> ParseFailure | None:
    """What the database would refuse in an event that parsed, as a ParseFailure; every parser gets here."""
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


def batch_prepare(
    batch: list[RawEvent | ParseFailure],
    history: History,
    reliability: Mapping[str, float],
    to_db: Callable,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    tracked: Tracked | None = None,
    pushed: bool = False,
) -> PreparedBatch:
    """The rows of one batch; ``history`` holds each market's points as the previous batches left them,
    and is moved forward with this batch's events. ``tracked`` holds the markets OMEN issued a
    signal for (stored, or earlier in this call), and gains this batch's."""
    tracked = set() if tracked is None else tracked
    now = timezone.now()
    created_at = to_db(now)
    rejections: list[RejectionRow] = []
    rejected_by_status: Counter = Counter()

    outcomes: list[str | RejectionRow] = [""] * len(batch)
    events: list[tuple[RawEvent, int]] = []  # and the record's place in the batch
    for place, record in enumerate(batch):
        if isinstance(record, ParseFailure):
            rejections.append(_parse_rejection(record, created_at))
            rejected_by_status["REJECTED_PARSE"] += 1
            outcomes[place] = rejections[-1]
        else:
            events.append((record, place))
    # Time order makes in-batch history causal and the outcome independent of
    # the order records arrived in.
    events.sort(key=lambda pair: (pair[0].observed_at, pair[0].market_key))

    signals: list[tuple[EventKey, SignalRow]] = []
    points: list[tuple[EventKey, PointRow]] = []
    observations = SourceEventObservations()
    observed_at: dict[str, datetime] = {}
    observed_events: list[RawEvent] = []  # the events that are observations of a SourceEvent
    for event, place in events:
        key = (event.source, event.external_id)
        if event.closed_state and event.market_key not in tracked:
            # OMEN never issued this market a signal: a "market closed" rejection, and no
            # observation (no SourceEvent, no point) either, so the same closed reply again is
            # the same rejection, never a RESOLVED signal.
            outcome = _evaluate_safely(event, _context(event, [], reliability, vocabulary, tracked=False))
            if isinstance(outcome, Rejected):
                rejections.append(_rule_rejection(event, outcome, created_at, to_db))
                rejected_by_status[outcome.status] += 1
                outcomes[place] = rejections[-1]
                continue
        market_points = history.get(event.market_key)
        if market_points is None:
            market_points = history[event.market_key] = []
        observed_events.append(event)
        outcome, is_new_point = _evaluate_in_order(event, market_points, reliability, vocabulary)
        if is_new_point:
            points.append((key, PointRow(to_db(event.observed_at), event.probability, event.volume, event.liquidity)))
        accepted = isinstance(outcome, Accepted)
        observations.observe(
            key,
            title=event.title,
            url=event.url,
            observed_at=event.observed_at,
            probability=event.probability,
            signal_id=outcome.signal_id if accepted else None,
        )
        if accepted:
            tracked.add(event.market_key)
            outcomes[place] = outcome.signal_id
            if outcome.signal_id not in observed_at:
                observed_at[outcome.signal_id] = event.observed_at
                signals.append((key, _signal_row(event, outcome, created_at, to_db, pushed)))
        else:
            rejections.append(_rule_rejection(event, outcome, created_at, to_db))
            rejected_by_status[outcome.status] += 1
            outcomes[place] = rejections[-1]

    return PreparedBatch(
        fetched=len(batch),
        events=len(events),
        source_events=observations.rows(to_db, _recent_history(observed_events, history)),
        signals=sorted(signals, key=lambda pair: pair[1].signal_id),
        points=points,
        rejections=rejections,
        rejected_by_status=rejected_by_status,
        created_at=now,
        observed_at=observed_at,
        outcomes=outcomes,
    )


def _evaluate_in_order(
    event: RawEvent, points: list[HistoryPoint], reliability: Mapping[str, float], vocabulary: Vocabulary
) -> tuple[Accepted | Rejected, bool]:
    """The pipeline's decision on ``event`` given only the points before it; records its own point.

    Returns the decision and whether the event's point is new (not yet in ``points``).
    """
    position = bisect.bisect_left(points, event.observed_at, key=_observed_at)
    # Only what was known before this observation, so re-ingesting it reaches the same decision
    # (as long as the points it saw are still among the market's newest RECENT_HISTORY_POINTS).
    earlier = points[max(0, position - RECENT_HISTORY_POINTS) : position]
    outcome = _evaluate_safely(event, _context(event, earlier, reliability, vocabulary, tracked=True))
    is_new_point = position == len(points) or points[position].observed_at != event.observed_at
    if is_new_point:
        points.insert(position, HistoryPoint(event.observed_at, event.probability, event.volume))
    return outcome, is_new_point


def _context(
    event: RawEvent,
    earlier: list[HistoryPoint],
    reliability: Mapping[str, float],
    vocabulary: Vocabulary,
    *,
    tracked: bool,
) -> PipelineContext:
    return PipelineContext(
        history={event.market_key: earlier}, source_reliability=reliability, tracked=tracked, vocabulary=vocabulary
    )


def _observed_at(point: HistoryPoint) -> datetime:
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


def _recent_history(events: list[RawEvent], history: History) -> dict[EventKey, str]:
    """Each market's stored anomaly history: its newest points within the window, as compact JSON.

    The call's cache keeps only what the database keeps, so a long ingest stays small.
    """
    stored: dict[EventKey, str] = {}
    for event in events:
        key = (event.source, event.external_id)
        if key in stored:
            continue
        points = history[event.market_key]
        horizon = points[-1].observed_at - HISTORY_WINDOW
        kept = [p for p in points[-RECENT_HISTORY_POINTS:] if p.observed_at >= horizon]
        history[event.market_key] = kept
        stored[key] = orjson.dumps([[p.observed_at.timestamp(), p.probability, p.volume] for p in kept]).decode()
    return stored


def _signal_row(event: RawEvent, outcome: Accepted, created_at, to_db: Callable, pushed: bool) -> SignalRow:
    contract = outcome.signal
    observed_at = to_db(event.observed_at)
    return SignalRow(
        outcome.signal_id,
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
        pushed,
    )


def _printable(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _parse_rejection(failure: ParseFailure, created_at) -> RejectionRow:
    digest = hashlib.sha256(f"{failure.field}|{failure.reason}|{failure.excerpt}".encode()).hexdigest()
    return RejectionRow(
        source=failure.source,
        external_id=_printable(failure.external_id)[:MAX_EXTERNAL_ID],
        input_hash=digest,
        stage="parse",
        rule="parse",
        rule_version="",
        status="REJECTED_PARSE",
        reason=_printable(failure.reason)[:MAX_REASON],
        field=_printable(failure.field)[:MAX_FIELD_NAME],
        score=None,
        excerpt=_printable(failure.excerpt)[:EXCERPT_MAX_CHARS],
        observed_at=None,
        created_at=created_at,
    )


def _rule_rejection(event: RawEvent, outcome: Rejected, created_at, to_db: Callable) -> RejectionRow:
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
    return RejectionRow(
        source=event.source,
        external_id=event.external_id,
        input_hash=outcome.input_event_hash or hashlib.sha256(excerpt.encode()).hexdigest(),
        stage=outcome.stage,
        rule=outcome.rule,
        rule_version=outcome.rule_version,
        status=outcome.status,
        reason=outcome.reason,
        field="",
        score=outcome.score,
        excerpt=excerpt[:EXCERPT_MAX_CHARS],
        observed_at=to_db(event.observed_at),
        created_at=created_at,
    )
