"""Putting an archived day back: its signals return to the database, each with a create frame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import islice

from django.db import transaction
from django.utils import timezone

from ledger.public import signals_restore, signals_restore_check
from retention.policies import effective_policies
from retention.services import archive

_CHUNK = 1000


@dataclass(frozen=True)
class Restored:
    day: date
    in_archive: int
    restored: int  # the rest were in the database already

    @property
    def present(self) -> int:
        return self.in_archive - self.restored


class RestoreRefused(Exception):
    """A day that cannot come back without breaking what the ledger can show of it."""


def restore_archive(day: date) -> Restored:
    """Put the day's archived signals back (those the database lacks); idempotent.

    Takes the sweep's lock (a sweep rewriting the day's file meanwhile would race it): raises
    ``archive.SweepRunning`` while one runs. Raises ``archive.ArchiveDamaged`` for a file that
    fails its checksum, FileNotFoundError for a day with no archive, and the ledger's
    ContractError for a line that cannot make a row. The restored signals are as old as before:
    the next sweep archives them again unless a legal hold names them.

    Raises ``RestoreRefused`` for a day the "ledger" policy has expired: its signals' create frames
    may be purged while their delete frames are kept, and a signal back in the database with a
    delete but no create before its new one would never reconcile in ``ledger verify``.
    """
    ledger_kept_since = (timezone.now() - effective_policies()["ledger"].keep_for).date()
    if day < ledger_kept_since:
        if not archive.day_path(day).exists():
            raise FileNotFoundError(f"no archive of {day.isoformat()} in {archive.day_path(day).parent}")
        raise RestoreRefused(
            f"{day.isoformat()} is older than the ledger keeps partitions (from {ledger_kept_since.isoformat()}, "
            'the "ledger" retention policy): its signals\' create frames may be purged. Read the file instead: '
            f"{archive.day_path(day)}"
        )
    with archive.sweep_lock():
        if archive.verified_file(day) is None:
            raise FileNotFoundError(f"no archive of {day.isoformat()} in {archive.day_path(day).parent}")
        # Every line is read and checked once before the first commit: a line that is no
        # archived signal (ArchiveDamaged), or whose contract cannot make a row (ContractError,
        # naming the line), stops the restore before any of the day is back, not part-way.
        signals_restore_check((signal.contract, signal.created_at, signal.pushed) for signal in archive.read_day(day))
        signals = archive.read_day(day)
        total = restored = 0
        while chunk := list(islice(signals, _CHUNK)):
            total += len(chunk)
            with transaction.atomic():
                # A partner's signal goes back to its own policy (partner_signals): the contract
                # does not say it was pushed, its archive line does.
                restored += signals_restore((signal.contract, signal.created_at, signal.pushed) for signal in chunk)
    return Restored(day=day, in_archive=total, restored=restored)
