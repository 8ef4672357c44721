"""The Django signals the signals app sends, so that other apps see every save it makes in bulk.

``bulk_create``, ``QuerySet.update()`` and raw SQL fire no ``post_save``: every bulk path that
inserts new Signal rows (ingest, the ledger's import) sends one of these inside the same
transaction, so a listener (the ledger's outbox) records the saves with them. The ledger's
replay writes rows without it: their frames exist already.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from django.dispatch import Signal as DjangoSignal

if TYPE_CHECKING:
    from signals.services.rows import SignalRow


class SavedSignal(NamedTuple):
    """A Signal row as a bulk path just wrote it: what a listener needs without reading it back."""

    pk: int
    signal_id: str
    trace_id: str
    input_event_hash: str
    source_event_id: str
    ruleset_version: str
    observed_at: datetime
    created_at: datetime
    contract_json: str  # the stored text, byte for byte
    pushed: bool = False  # a partner pushed its input (the ingest API); not in the contract

    @classmethod
    def of(cls, pk: int, row: SignalRow, *, observed_at: datetime, created_at: datetime) -> SavedSignal:
        """The announcement of ``row``, inserted as ``pk``; the times as Python datetimes (a row may hold
        the backend's form of them)."""
        return cls(
            pk, row.signal_id, row.trace_id, row.input_event_hash, row.source_event_id, row.ruleset_version,
            observed_at, created_at, row.contract, row.pushed,
        )  # fmt: skip


# Sent with ``signals``: a list of SavedSignal for the rows just inserted, by ascending pk.
signals_bulk_created = DjangoSignal()


class DeletedSignal(NamedTuple):
    """A Signal row a bulk path is deleting, as it was: its identities (the fields are its columns)."""

    pk: int
    signal_id: str
    trace_id: str
    input_event_hash: str
    source_event_id: str
    ruleset_version: str
    observed_at: datetime


# Sent with ``signals``: a list of DeletedSignal by ascending pk, in the transaction that deletes
# those rows, just before it does (``signals.services.rows.signals_delete_announced``).
signals_bulk_deleted = DjangoSignal()
