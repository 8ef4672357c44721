"""Django signals that announce bulk writes.

``bulk_create`` and ``QuerySet.update()`` fire no ``post_save``; every bulk
write path in ``signals`` sends one of these inside the same transaction so
that listeners (the ledger) see every save.
"""

from datetime import datetime
from typing import NamedTuple

from django.dispatch import Signal as DjangoSignal


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


# Sent with ``signals``: a list of SavedSignal for the rows just inserted, by ascending pk.
signals_bulk_created = DjangoSignal()
