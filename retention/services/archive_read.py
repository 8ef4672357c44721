"""How the signals sweep reads a day's expired signals: each one's archive line, and what its delete needs.

One read gives both, so the batch that deletes a signal does not read its row again: the line for
the day's file (``archive.ArchivedSignal``'s format), the row's key and what a hold could name it
by, and its identities (``DeletedSignal``), which no update changes and which its delete frame
records.

The day's source events are looked up first, once each per sweep (``EventKeys``), not joined: a
join made PostgreSQL hash the whole events table for each day, and a lookup per row in SQL cost
as much as the rest of the row. Then the rows: on PostgreSQL one ``COPY ... TO STDOUT (FORMAT
BINARY)``, which psycopg parses in C, where the ORM's server-side cursor built each row in Python;
elsewhere (SQLite) through the ORM. Either way each line is one ``orjson`` call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast

from retention.services.archive import archive_line
from signals.models import SourceEvent
from signals.public import DeletedSignal
from utilities.bulk_sql import AnyOf

_FETCH_ROWS = 2000  # rows read per round trip by the ORM (each with its contract, ~5 KB)

# The identities a delete frame records, in DeletedSignal's order after the pk.
_IDENTITY_COLUMNS = DeletedSignal._fields[1:]


@dataclass(frozen=True, slots=True)
class ExpiredSignal:
    """What the delete of an expired signal needs, kept until its batch: its identities, and what
    a hold could name it by."""

    identity: DeletedSignal
    source: str
    event_id: int

    def held(self, holds) -> bool:
        """Whether an active hold (``sweep.Holds``) names it: by its id, its source or its source event."""
        return (
            self.identity.signal_id in holds.signal_ids
            or self.source in holds.sources
            or self.event_id in holds.event_ids
        )


class EventKeys:
    """Source events' (source, external id) by pk, read once per sweep: archive lines name their
    event by them.

    A table of at most ``LIMIT`` events is read whole, once: every event an expired signal names
    existed when the sweep began (a signal is made after its event), so a day needs no query of
    its own. (One that did not, a partner's old signal pushed with a new event during the sweep,
    is left for the next sweep, as a signal whose event is gone is.) A larger table is read by
    each day's events, and the cache starts again past ``LIMIT``.
    """

    LIMIT = 200_000

    def __init__(self) -> None:
        self._keys: dict[int, tuple[str, str]] = {}
        self._whole: bool | None = None  # unknown until first used

    def for_rows(self, rows: QuerySet) -> dict[int, tuple[str, str]]:
        """The keys of (at least) the events ``rows`` name."""
        if self._whole is None:
            self._whole = SourceEvent.objects.count() <= self.LIMIT
            if self._whole:
                self._keys = {pk: (source, external_id) for pk, source, external_id in _event_keys(SourceEvent.objects)}
        if self._whole:
            return self._keys
        return self.of(set(rows.order_by().values_list("event_id", flat=True).distinct()))

    def of(self, pks: set[int]) -> dict[int, tuple[str, str]]:
        missing = [pk for pk in pks if pk not in self._keys]
        if missing:
            if len(self._keys) + len(missing) > self.LIMIT:
                self._keys.clear()
                missing = list(pks)
            self._keys.update(
                (pk, (source, external_id))
                for pk, source, external_id in _event_keys(SourceEvent.objects.filter(AnyOf(F("pk"), missing)))
            )
        return self._keys


def _event_keys(events: QuerySet) -> Iterator[tuple[int, str, str]]:
    return events.values_list("pk", "source", "external_id").iterator(chunk_size=10_000)


def expired_signals(
    rows: QuerySet, event_keys: EventKeys, *, pushed: bool = False
) -> Iterator[tuple[ExpiredSignal, bytes]]:
    """``rows`` (Signals, all pushed by a partner or none) by ascending pk, each as an ExpiredSignal
    and its archive line.

    A row whose source event is gone is left out: the event is protected while a signal names it,
    so the signal went too, deleted since it was read by something other than a sweep.
    """
    keys = event_keys.for_rows(rows)
    read = _copied if connection.vendor == "postgresql" else _fetched
    with closing(read(rows)) as stream:  # a COPY left open would hold the connection
        for row in stream:
            identity = DeletedSignal(*row[:7])
            generated_at, created_at, source, event_id, contract = row[7:]
            event_key = keys.get(event_id)
            if event_key is None:
                continue
            line = archive_line(
                identity.signal_id, generated_at, created_at, source, *event_key, contract, pushed=pushed
            )
            yield ExpiredSignal(identity, source, event_id), line


# What _fetched and _copied read of each row, in this order.
_COLUMNS = ("pk", *_IDENTITY_COLUMNS, "generated_at", "created_at", "source", "event_id")


def _fetched(rows: QuerySet) -> Iterator[tuple]:
    return rows.order_by("pk").values_list(*_COLUMNS, Cast("contract", TextField())).iterator(chunk_size=_FETCH_ROWS)


# The types of _COLUMNS and the contract, for the binary COPY.
_COPIED_TYPES = ["int8", *["text"] * 5, "timestamptz", "timestamptz", "timestamptz", "text", "int8", "text"]


def _copied(rows: QuerySet) -> Iterator[tuple]:
    sql, params = rows.order_by("pk").values_list(*_COLUMNS, "contract").query.sql_with_params()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own: Django's wrapper has no copy()
        with connection.wrap_database_errors, raw.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
            copy.set_types(_COPIED_TYPES)
            yield from copy.rows()
