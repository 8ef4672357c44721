"""Signals this process saw committed, kept until the next drain frames them.

Ingest hands every new signal to the ledger (``signals.public.SavedSignal``); once its transaction
commits they land here, and the drain that follows builds their frames from memory instead of
reading thousands of contracts back from the database. Only committed rows get here (an
``on_commit`` callback), an entry is used only if the outbox row names the same signal id, and
every drain empties the store whether it used an entry or not, so it holds at most what
committed since the last drain. Anything missing is read from the database, as before.
"""

from signals.public import SavedSignal

_committed: dict[int, SavedSignal] = {}


def remember_committed(signals: list[SavedSignal]) -> None:
    _committed.update((saved.pk, saved) for saved in signals)


def take_committed(pk: int, signal_id: str) -> SavedSignal | None:
    saved = _committed.pop(pk, None)
    return saved if saved is not None and saved.signal_id == signal_id else None


def forget_committed() -> None:
    _committed.clear()
