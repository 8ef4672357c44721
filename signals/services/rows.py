"""Typed rows of the signals tables and the bulk statements that write them.

Every bulk path writes these tables through here: ingest, and (through ``signals.public``) the
ledger's replay and import; retention will too. Change a column and each of them follows; the
forward-only rule of a SourceEvent lives here once.

Rows given to the write functions hold what the backend stores: datetimes go through
``utilities.bulk_sql.datetime_adapter()``, when ingest builds a row or through
``SignalRow.for_backend`` for a row built from Python values (the ledger's restored signals),
so the write step sends them as they are. A row that points at its SourceEvent is paired with
that event's primary key, which only the upsert knows.

Nothing here fires ``post_save``: a path that inserts signals announces them itself with
``signals.announcements.signals_bulk_created``, inside the same transaction;
``signals_delete_announced`` deletes and announces together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F

from signals.announcements import DeletedSignal, signals_bulk_deleted
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent
from utilities.bulk_sql import AnyOf, in_list, insert_rows

EventKey = tuple[str, str]  # (source, external id): a SourceEvent's natural key

SOURCE_EVENT_TITLE_CHARS = SourceEvent._meta.get_field("title").max_length


class SourceEventRow(NamedTuple):
    source: str
    external_id: str
    title: str
    url: str
    first_seen_at: object
    last_seen_at: object
    last_probability: float | None
    recent_history: str  # compact JSON [[epoch, probability, volume], ...]
    latest_signal_id: str | None


class SignalRow(NamedTuple):
    """A Signal's own columns; its SourceEvent's primary key is paired with it at write time."""

    signal_id: str
    source: str
    source_event_id: str  # the contract's "polymarket-517310", not the foreign key
    input_event_hash: str
    trace_id: str
    ruleset_version: str
    signal_type: str
    status: str
    category: str
    confidence_level: str
    title: str
    probability: float
    confidence: float
    observed_at: object
    generated_at: object
    created_at: object
    contract: str  # canonical JSON text, stored byte for byte
    pushed: bool = False  # a partner pushed its input (the ingest API); not in the contract

    def for_backend(self, to_db: Callable) -> SignalRow:
        """This row with its datetimes as the backend stores them, for a row built from Python values."""
        return self._replace(
            observed_at=to_db(self.observed_at),
            generated_at=to_db(self.generated_at),
            created_at=to_db(self.created_at),
        )


class PointRow(NamedTuple):
    """One observation of a SourceEvent's probability; the event's primary key is paired at write time."""

    observed_at: object
    probability: float
    volume: float
    liquidity: float


class RejectionRow(NamedTuple):
    source: str
    external_id: str
    input_hash: str
    stage: str
    rule: str
    rule_version: str
    status: str
    reason: str
    field: str
    score: float | None
    excerpt: str
    observed_at: object
    created_at: object


SIGNAL_COLUMNS = ("event_id", *SignalRow._fields)
POINT_COLUMNS = ("source_event_id", *PointRow._fields)


# --------------------------------------------------------------------------- source events


@dataclass(slots=True)
class _Sighting:
    """What the observations so far say of one SourceEvent."""

    title: str
    url: str
    first_seen_at: datetime
    last_seen_at: datetime
    probability: float | None
    latest_signal_id: str | None
    latest_signal_at: datetime | None  # when the observation that named the latest signal was made


class SourceEventObservations:
    """The SourceEvent rows a batch of observations makes: one per event, only ever moving forward.

    The newest observation names the event's title, url and price, the newest accepted one its
    latest signal, and the oldest its first sighting, in whatever order they are given (ingest
    gives them in time order, the ledger in ledger order). Ties go to the later call.
    """

    def __init__(self) -> None:
        self._events: dict[EventKey, _Sighting] = {}

    def observe(
        self,
        key: EventKey,
        *,
        title: str,
        url: str,
        observed_at: datetime,
        probability: float | None,
        signal_id: str | None = None,
    ) -> None:
        event = self._events.get(key)
        title = title[:SOURCE_EVENT_TITLE_CHARS]
        if event is None:
            signal_at = observed_at if signal_id is not None else None
            self._events[key] = _Sighting(title, url, observed_at, observed_at, probability, signal_id, signal_at)
            return
        if observed_at < event.first_seen_at:
            event.first_seen_at = observed_at
        if observed_at >= event.last_seen_at:
            event.title, event.url, event.last_seen_at, event.probability = title, url, observed_at, probability
        if signal_id is not None and (event.latest_signal_at is None or observed_at >= event.latest_signal_at):
            event.latest_signal_id, event.latest_signal_at = signal_id, observed_at

    def rows(self, to_db: Callable, recent_history: Mapping[EventKey, str] | None = None) -> list[SourceEventRow]:
        """The rows in key order (concurrent writers then lock shared rows in one order: no deadlock).

        ``recent_history`` gives an event's anomaly history; an event without one gets an empty
        history when it is new (``source_events_upsert(restoring=True)`` keeps a known one's).
        """
        history = recent_history or {}
        return [
            SourceEventRow(
                source,
                external_id,
                event.title,
                event.url,
                to_db(event.first_seen_at),
                to_db(event.last_seen_at),
                event.probability,
                history.get((source, external_id), "[]"),
                event.latest_signal_id,
            )
            for (source, external_id), event in sorted(self._events.items(), key=_by_key)
        ]


def _by_key(item: tuple[EventKey, _Sighting]) -> EventKey:
    return item[0]


def _forward_updates(*, restoring: bool) -> dict[str, str]:
    """How a known SourceEvent takes a new observation: only ever forward in time.

    Title, url, price and latest signal change only when the new observation is not older than
    the last one (re-reading an old reply must not roll them back); the latest signal also stays
    when the new observation names none (it was rejected). Every CASE reads the row as it was
    before this update (SQL evaluates SET against the old row). The latest_signal foreign key is
    checked at commit, after the signal rows exist.
    """
    qn = connection.ops.quote_name
    table = qn(SourceEvent._meta.db_table)

    def new(column: str) -> str:
        return f"excluded.{qn(column)}"

    def old(column: str) -> str:
        return f"{table}.{qn(column)}"

    def forward(column: str, value: str | None = None) -> str:
        newer = f"{new('last_seen_at')} >= {old('last_seen_at')}"
        return f"CASE WHEN {newer} THEN {value or new(column)} ELSE {old(column)} END"

    updates = {
        "title": forward("title"),
        "url": forward("url"),
        "last_probability": forward("last_probability"),
        "latest_signal_id": forward(
            "latest_signal_id", f"COALESCE({new('latest_signal_id')}, {old('latest_signal_id')})"
        ),
        "last_seen_at": forward("last_seen_at"),
    }
    if restoring:
        # Frames arrive in ledger order, not observation order: the earliest one is the first sighting.
        earlier = f"{new('first_seen_at')} < {old('first_seen_at')}"
        updates["first_seen_at"] = f"CASE WHEN {earlier} THEN {new('first_seen_at')} ELSE {old('first_seen_at')} END"
    else:
        # Observing: the caller merged the stored history with the new points, in time order;
        # the first sighting is the row's own and never moves.
        updates["recent_history"] = new("recent_history")
    return updates


def source_events_upsert(rows: Sequence[SourceEventRow], *, restoring: bool = False) -> dict[EventKey, int]:
    """Insert each event, or move a known one forward; return the primary keys by (source, external id).

    Ingest observes (``restoring=False``): each row's recent history replaces the stored one,
    and an event's first sighting stays as first recorded. The ledger restores
    (``restoring=True``): frames carry no history, so a known event keeps its own, and as frames
    come in ledger order, an earlier observation moves the first sighting back.
    """
    returned = insert_rows(
        SourceEvent._meta.db_table,
        SourceEventRow._fields,
        rows,
        conflict=["source", "external_id"],
        update=_forward_updates(restoring=restoring),
        returning=["id", "source", "external_id"],
    )
    return {(source, external_id): pk for pk, source, external_id in returned}


# --------------------------------------------------------------------------- signals


def signals_insert(rows: Iterable[tuple[int, SignalRow]]) -> list[tuple[int, str]]:
    """Insert (event pk, row) pairs whose signal id is new; return (pk, signal_id) of those, by pk.

    ON CONFLICT DO NOTHING: a signal that exists (this input seen before, or written by a
    concurrent writer) is skipped, which is what makes every bulk path idempotent. The caller
    announces what was inserted (``signals_bulk_created``).
    """
    return sorted(
        insert_rows(
            Signal._meta.db_table,
            SIGNAL_COLUMNS,
            [(event_pk, *row) for event_pk, row in rows],
            conflict=["signal_id"],
            returning=["id", "signal_id"],
        )
    )


# A replayed frame rewrites every column but the key and when the row was first made.
_REPLACED_COLUMNS = [column for column in SIGNAL_COLUMNS if column not in ("signal_id", "created_at")]


def signals_replace(rows: Iterable[tuple[int, SignalRow]]) -> None:
    """Insert (event pk, row) pairs, overwriting a known signal's columns (ledger replay).

    Rows go in in the order given; primary keys follow it on SQLite, and on PostgreSQL as long as
    the staged rows are read back in the order they were copied (a plain sequential scan of the
    staging table does that; SQL itself promises no order).
    """
    insert_rows(
        Signal._meta.db_table,
        SIGNAL_COLUMNS,
        [(event_pk, *row) for event_pk, row in rows],
        conflict=["signal_id"],
        update=_REPLACED_COLUMNS,
    )


def signals_delete(signal_ids: Sequence[str], *, pks: Sequence[int] | None = None) -> int:
    """Delete signals without ``post_delete``; the caller says who must know (replay: nobody).
    Returns how many rows were deleted.

    By signal id; or, with ``pks``, by those rows' primary keys (``signal_ids`` being theirs), so
    that a row made since under the same signal id is left alone. Clears the SourceEvents'
    pointers first, as the foreign key's SET NULL does for the ORM.
    """
    events, signals = (connection.ops.quote_name(model._meta.db_table) for model in (SourceEvent, Signal))
    deleted = 0
    with connection.cursor() as cursor:
        for condition, params in in_list("latest_signal_id", signal_ids):
            cursor.execute(f"UPDATE {events} SET latest_signal_id = NULL WHERE {condition}", params)
        for condition, params in in_list("signal_id", signal_ids) if pks is None else in_list("id", pks):
            cursor.execute(f"DELETE FROM {signals} WHERE {condition}", params)
            deleted += cursor.rowcount
    return deleted


def signals_delete_announced(pks: Sequence[int]) -> int:
    """Delete these signals and announce it (``signals_bulk_deleted``), in one transaction; return
    how many rows were deleted (a pk already gone is neither deleted nor announced).

    The bulk counterpart of ``Signal.delete()`` for a path that deletes many (retention): one
    announcement for the batch, so the ledger records a delete frame for each. What it says of
    each signal are its identities, which no update changes: the rows are read without a lock.
    """
    with transaction.atomic():
        gone = [
            DeletedSignal(*row)
            for row in Signal.objects.filter(AnyOf(F("pk"), pks)).order_by("pk").values_list(*DeletedSignal._fields)
        ]
        if not gone:
            return 0
        signals_bulk_deleted.send(sender=Signal, signals=gone)
        return signals_delete([signal.signal_id for signal in gone], pks=[signal.pk for signal in gone])


def signals_delete_identified(gone: Sequence[DeletedSignal]) -> int:
    """``signals_delete_announced`` for a caller that has read the signals' identities already
    (retention, from its archive read; they never change): announce and delete without reading
    the rows again. Returns how many rows were deleted.

    When some of them are gone already (deleted meanwhile by something else, which announced
    them itself), the batch is undone and done again by ``signals_delete_announced``, which
    announces only the rows it finds.
    """
    if not gone:
        return 0
    try:
        with transaction.atomic():
            signals_bulk_deleted.send(sender=Signal, signals=gone)
            # By pk: a signal deleted since and ingested again under its id is another row.
            deleted = signals_delete([signal.signal_id for signal in gone], pks=[signal.pk for signal in gone])
            if deleted != len(gone):
                raise _SomeWereGone
            return deleted
    except _SomeWereGone:
        return signals_delete_announced([signal.pk for signal in gone])


class _SomeWereGone(Exception):
    """Rolls back a bulk delete that announced rows it did not find."""


# --------------------------------------------------------------------------- history and rejections


def points_insert(rows: Iterable[tuple[int, PointRow]]) -> None:
    """Insert (event pk, point) pairs; a point already recorded for that moment is skipped."""
    insert_rows(
        ProbabilityPoint._meta.db_table,
        POINT_COLUMNS,
        # Key order: concurrent writers lock rows in the same order and cannot deadlock.
        sorted(((event_pk, *point) for event_pk, point in rows), key=lambda row: (row[0], row[1])),
        conflict=["source_event_id", "observed_at"],
    )


def rejections_insert(rows: Sequence[RejectionRow]) -> None:
    """Insert rejections, in key order; the same rejection of the same input again is skipped."""
    insert_rows(
        Rejection._meta.db_table,
        RejectionRow._fields,
        sorted(rows, key=lambda row: (row.source, row.external_id, row.input_hash, row.stage)),
        conflict=["source", "external_id", "input_hash", "stage"],
    )
