"""Purging: partitions past retention's "ledger" cutoff go, and a tombstone keeps their place.

``partitions_purge(before)`` is retention's to call, with its "ledger" policy's cutoff (seven
years). It purges sealed long-term or cold partitions whose day is before ``before``, oldest
first, each under the writer's lock:

1. every segment is read back and must match the manifest, and the manifest the partition's row
   (frames, sequences, chain ends, manifest hash): the tombstone must carry the chain the frames had;
2. a partition holding a frame of a signal still in the database (one under a legal hold, say) is
   kept: verify needs every live signal's frames, and a replay would lose the signal;
3. the tombstone (``ledger.layout.Tombstone``, ``LEDGER_LONG_TERM_DIR/<name>.tombstone.json``) is
   written and fsynced, and the row marked purged and the partition's frame references
   (``ledger.services.frame_refs``) deleted, in one transaction;
4. once that has committed, the directory goes (renamed to a hidden name first, as a move's
   original does).

A crash anywhere leaves a state the next run completes: a tombstone whose row did not commit is
checked again and rewritten (refused if its chain differs), a committed purge whose directory is
still there is finished, and a row a restored database holds from before a purge is marked
purged. Never the writer's current partition, nor an unsealed one, nor one still in LEDGER_DIR.

What replay and verify still need of a purged partition is in its tombstone: its frame count (the
feed's positions), its chain ends, and the deletes of signals whose earlier frames lie in a kept
partition. Without those, a signal created in a partition kept for a held signal and deleted in
a purged one would come back in a replay, and look deleted around the ledger to verify.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
from django.utils import timezone

from ledger.envelope import EnvelopeError, EnvelopeHead, format_timestamp
from ledger.layout import (
    PartitionName,
    Tombstone,
    atomic_write,
    list_partitions,
    list_tombstones,
    read_tombstone,
    tombstone_path,
)
from ledger.models import LedgerPartition, LedgerWriterState, Operation, Tier
from ledger.services.frame_refs import frame_refs_forget, ledger_directories
from ledger.services.restore import source_event_key
from ledger.services.seal import MANIFEST_FACTS, build_manifest
from ledger.services.tiers import (
    TierRefused,
    make_directory_durably,
    manifest_figures,
    partition_name,
    removal_leftovers,
    remove_durably,
    remove_partition,
    sealed_manifest,
)
from ledger.services.writer import LedgerBusy, locked_ledger
from ledger.wal import LedgerCorruption
from signals.models import Signal

log = logging.getLogger("omen.ledger")

__all__ = ["PurgeResult", "partitions_purge"]

_LEFTOVER = "purged"  # a purged directory's hidden name while it is removed: .<name>.purged
_LOOKUP_BATCH = 500  # signal ids per query (SQLite allows 999 parameters before 3.32)
# The row's figures a tombstone repeats; a tombstone that disagrees with its row is damage.
CHAINED_FIELDS = ("frames", "first_sequence", "last_sequence", "chain_start", "chain_head", "manifest_sha256")
_TOMBSTONE_FIGURES = (*CHAINED_FIELDS, "bytes")  # what a tombstone copies of its row, as it is


@dataclass
class PurgeResult:
    counted: int = 0  # partitions before the cutoff still on disk, and purges a crash left unfinished
    purged: int = 0  # of those, purged now (or, with dry_run, that would be)
    kept: int = 0  # the others; why, per partition, in ``kept_because``
    held: int = 0  # of those, kept for a frame of a signal still in the database or under a legal hold
    frames_purged: int = 0
    kept_because: dict[str, str] = field(default_factory=dict)
    # Kept because something did not verify, or the writer held the lock: an operator's to read.
    refused: list[str] = field(default_factory=list)


# Whether a legal hold names a frame's signal: (signal id, its SourceEvent's source and external
# id) -> bool. Retention's holds, which the ledger cannot import. The event is the one a restore
# of the frame would give the signal (``source_event_key``): Yahoo's "stock-AAPL-2020110600" is
# ("yahoo", "AAPL-2020110600"), not a prefix of the envelope's id to match a source's name against.
HeldFrame = Callable[[str, str, str], bool]

_SOURCE_EVENT_ID = re.compile(rb'"source_event_id":"((?:[^"\\]|\\.)*)"')
_PROBABILITY_SOURCE = re.compile(rb'"probability_source":"((?:[^"\\]|\\.)*)"')


def _text_of(pattern: re.Pattern, payload: bytes) -> str | None:
    match = pattern.search(payload)
    return orjson.loads(b'"' + match.group(1) + b'"') if match else None


def partitions_purge(
    before: date | datetime, *, dry_run: bool = False, now: datetime | None = None, held: HeldFrame | None = None
) -> PurgeResult:
    """Purge the long-term and cold partitions whose day is before ``before``, leaving tombstones.

    A partition is kept (and counted in ``held``) while it holds a frame of a signal still in the
    database, or one that ``held`` says a legal hold names: a held signal's frames are evidence
    too, in the database or archived.

    ``before`` may be the policy's cutoff itself: a partition holds one UTC day's frames, so every
    frame of a partition whose day is before the cutoff's UTC date is older than the cutoff.
    Idempotent: a second run purges nothing more and finishes what a crashed one left. With
    ``dry_run`` nothing is written; the counts say what a run would do now.
    """
    if isinstance(before, datetime):
        before = before.astimezone(UTC).date()
    now = now or timezone.now()
    result = PurgeResult()
    kept_signals = _KeptSignals()
    held = _HeldInRun(held) if held is not None else None
    names = _candidates(before)
    for position, name in enumerate(names):
        result.counted += 1
        try:
            outcome = _purge_partition(name, before, now, kept_signals, held, dry_run=dry_run)
        except TierRefused as exc:
            log.error("ledger: partition %s not purged: %s", name, exc)
            outcome = _Kept(str(exc), refused=True)
        except LedgerBusy as exc:  # every other partition would wait for the same lock: next run
            waiting = len(names) - position
            result.counted += waiting - 1
            result.kept += waiting
            result.refused.append(f"the writer held the ledger's lock ({exc}): {waiting} partition(s) left")
            break
        if isinstance(outcome, _Kept):
            kept_signals.complete = kept_signals.complete and outcome.signals_read
            result.kept += 1
            result.kept_because[name] = outcome.why
            if outcome.refused:
                result.refused.append(f"{name}: {outcome.why}")
            result.held += outcome.keeps_signals
        else:
            result.purged += 1
            result.frames_purged += outcome.frames
    return result


@dataclass(frozen=True, slots=True)
class _Kept:
    why: str
    refused: bool = False
    signals_read: bool = False  # whose frames it holds went into _KeptSignals
    keeps_signals: bool = False  # it holds a frame of a signal still in the database or under a hold


class _HeldInRun:
    """``held`` over one run, its partitions oldest first. A delete frame's record names its
    signal's event id but not its source, which Yahoo's "stock-..." ids do not name either: a
    signal a hold names by an earlier frame (its create) is remembered, and its later frames --
    its delete among them -- are held by its id."""

    def __init__(self, held: HeldFrame) -> None:
        self._held = held
        self._signal_ids: set[str] = set()

    def __call__(self, signal_id: str, source: str, external_id: str) -> bool:
        if signal_id in self._signal_ids:
            return True
        if self._held(signal_id, source, external_id):
            self._signal_ids.add(signal_id)
            return True
        return False


class _KeptSignals:
    """Signals framed in the partitions kept so far in this run, oldest first.

    A purged partition's tombstone names the signals it leaves deleted that have frames in one of
    them. Applying a delete at the gap is right for any signal the partition leaves deleted, so
    once a kept partition could not be read, every such delete is named.
    """

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.complete = True

    def deletes(self, deleted: set[str]) -> tuple[str, ...]:
        return tuple(sorted(deleted & self.ids if self.complete else deleted))


def _candidates(before: date) -> list[str]:
    """Partitions before the cutoff, oldest first, and every purge a crash left unfinished."""
    root, archive, long_term = ledger_directories()
    names = {str(p) for directory in (root, archive, long_term) for p in list_partitions(directory) if p.day < before}
    recorded = set(LedgerPartition.objects.filter(tier=Tier.PURGED).values_list("name", flat=True))
    for partition in list_tombstones(long_term):
        name = str(partition)
        if name not in recorded or any((directory / name).is_dir() for directory in (archive, long_term)):
            names.add(name)
    names |= removal_leftovers(archive, _LEFTOVER) | removal_leftovers(long_term, _LEFTOVER)
    return sorted(names, key=PartitionName.parse)


def _purge_partition(
    name: str, before: date, now: datetime, kept_signals: _KeptSignals, held: HeldFrame | None, *, dry_run: bool
) -> _Kept | Tombstone:
    partition = partition_name(name)
    root, archive, long_term = ledger_directories()
    tombstone_file = tombstone_path(long_term, name)
    # Decided first without the writer's lock: deciding reads every frame of the partition back (a
    # day's partition may be a gigabyte) and looks its signals up, and the writer would wait all
    # that time. Under the lock a decision to keep stands, and one to purge only if the partition is
    # still as it was read (the same manifest, not the writer's); else it is decided again there.
    early = None
    row = LedgerPartition.objects.filter(name=name).first()
    if not _purge_written(name, tombstone_file, archive, long_term, row):
        try:
            early = _decide(
                partition, root, _directories_of(name, archive, long_term), _writer_partition(), before, row,
                kept_signals, held,
            )  # fmt: skip
        except (FileNotFoundError, TierRefused):
            pass  # moved by a tier task while it was read, perhaps: decided again under the lock
    with locked_ledger() as (state, _end):
        row = LedgerPartition.objects.filter(name=name).first()
        directories = _directories_of(name, archive, long_term)
        if _purge_written(name, tombstone_file, archive, long_term, row):
            # Decided and written by an earlier run: only recording and removing are left.
            tombstone = _read(tombstone_file, partition)
            if not dry_run:
                _record_purge(name, tombstone)
        else:
            decision = early
            # Keeping is always safe; a purge needs the partition as it was read.
            if not isinstance(early, _Kept) and not _still_as_decided(
                early, name, root, directories, state.partition, row
            ):
                decision = _decide(partition, root, directories, state.partition, before, row, kept_signals, held)
            if isinstance(decision, _Kept):
                if tombstone_file.exists() and not dry_run:  # an earlier run's, whose purge never committed
                    remove_durably(tombstone_file)
                return decision
            tombstone = _tombstone(decision, tombstone_file, partition, now)
            if dry_run:
                return tombstone
            make_directory_durably(long_term)  # a cold partition may be purged before any moved there
            atomic_write(tombstone_file, tombstone.to_json())
            _record_purge(name, tombstone)
    if not dry_run:
        # The tombstone and the row say it is purged: the files may go.
        with locked_ledger():
            for directory in (archive, long_term):
                remove_partition(directory / name, _LEFTOVER)
        log.info("ledger: partition %s purged (%d frames); its tombstone is %s", name, tombstone.frames, tombstone_file)
    return tombstone


def _directories_of(name: str, archive: Path, long_term: Path) -> list[Path]:
    return [directory / name for directory in (archive, long_term) if (directory / name).is_dir()]


def _purge_written(name: str, tombstone_file: Path, archive: Path, long_term: Path, row) -> bool:
    """An earlier run wrote the tombstone (and maybe recorded it): what is left is to finish."""
    directories = _directories_of(name, archive, long_term)
    return tombstone_file.exists() and (not directories or (row is not None and row.tier == Tier.PURGED))


def _writer_partition() -> str:
    return LedgerWriterState.objects.filter(pk=1).values_list("partition", flat=True).first() or ""


def _still_as_decided(
    decision, name: str, root: Path, directories: list[Path], writing: str, row: LedgerPartition | None
) -> bool:
    """Whether a decision to purge taken before the lock still holds under it: the partition is
    neither back in LEDGER_DIR nor the writer's, and its manifest (which the segments were read
    against) is the one that was read, in whichever tier it now is."""
    if not isinstance(decision, _Purgeable) or not directories or name == writing or (root / name).is_dir():
        return False
    current = manifest_figures(name, directories[0], sealed_manifest(directories[0]))
    if current["manifest_sha256"] != decision.figures["manifest_sha256"]:
        return False
    return row is None or all(getattr(row, key) == decision.figures[key] for key in CHAINED_FIELDS)


@dataclass(frozen=True, slots=True)
class _Purgeable:
    """A partition that may go, as its files and manifest show it."""

    figures: dict  # the row's figures, from the manifest
    deletes: tuple[str, ...]


def _decide(
    partition: PartitionName,
    root: Path,
    directories: list[Path],
    writing: str,
    before: date,
    row: LedgerPartition | None,
    kept_signals: _KeptSignals,
    held: HeldFrame | None,
) -> _Kept | _Purgeable:
    """Whether the partition may go: its frames read back, matched with its manifest and row,
    and no signal of theirs still in the database."""
    name = str(partition)
    if (root / name).is_dir():
        kept_signals.ids.update(_framed_signals(partition, root / name).ids)
        return _Kept("still in LEDGER_DIR: it is purged once it is archived", signals_read=True)
    if not directories:  # only a hidden leftover, without a tombstone: not a purge of ours
        raise TierRefused(f"{name} is in neither the archive nor long-term storage and has no tombstone")
    if name == writing:
        return _Kept("holds the writer's recorded end")
    if partition.day >= before:  # a purge begun under an earlier cutoff, never committed
        return _Kept(f"not before the cutoff {before.isoformat()}")
    directory = directories[0]
    manifest = sealed_manifest(directory)
    signals = _framed_signals(partition, directory, held)
    differ = [key for key in MANIFEST_FACTS if signals.manifest.get(key) != manifest.get(key)]
    if differ:
        raise TierRefused(f"{directory}: the segments no longer match the manifest's {', '.join(differ)}")
    figures = manifest_figures(name, directory, manifest)
    if row is not None:
        differ = [key for key in CHAINED_FIELDS if getattr(row, key) != figures[key]]
        if differ:
            raise TierRefused(f"{directory}: its manifest and its row disagree on {', '.join(differ)}")
    present = _in_database(signals.ids)
    if present:
        kept_signals.ids.update(signals.ids)
        why = f"holds frames of {len(present)} signal(s) still in the database, such as {present[0]}"
        return _Kept(why, signals_read=True, keeps_signals=True)
    if signals.held:
        kept_signals.ids.update(signals.ids)
        why = f"holds frames of {len(signals.held)} signal(s) under a legal hold, such as {min(signals.held)}"
        return _Kept(why, signals_read=True, keeps_signals=True)
    return _Purgeable(figures, kept_signals.deletes(signals.deleted))


class _FramedSignals:
    """Whose frames a partition holds, which of them it leaves deleted, and the manifest its
    segments make."""

    def __init__(self, held: HeldFrame | None = None) -> None:
        self.ids: set[str] = set()
        self.deleted: set[str] = set()
        self.manifest: dict = {}
        self.is_held = held
        self.held: set[str] = set()

    def add(self, head: EnvelopeHead, payload: bytes) -> None:
        self.ids.add(head.signal_id)
        if self.is_held is not None and head.signal_id not in self.held:
            source_event_id = _text_of(_SOURCE_EVENT_ID, payload) or ""
            source, external_id = source_event_key(source_event_id, _text_of(_PROBABILITY_SOURCE, payload))
            if self.is_held(head.signal_id, source, external_id):
                self.held.add(head.signal_id)
        if head.operation == Operation.DELETE:
            self.deleted.add(head.signal_id)
        else:
            self.deleted.discard(head.signal_id)


def _framed_signals(partition: PartitionName, directory: Path, held: HeldFrame | None = None) -> _FramedSignals:
    signals = _FramedSignals(held)
    try:
        signals.manifest = build_manifest(partition, directory, timezone.now(), signals.add)
    except (LedgerCorruption, EnvelopeError) as exc:
        raise TierRefused(f"{directory} cannot be read back whole: {exc}") from exc
    return signals


def _in_database(signal_ids: set[str]) -> list[str]:
    ids = sorted(signal_ids)
    present: list[str] = []
    for start in range(0, len(ids), _LOOKUP_BATCH):
        batch = ids[start : start + _LOOKUP_BATCH]
        present.extend(Signal.objects.filter(signal_id__in=batch).values_list("signal_id", flat=True))
    return sorted(present)


def _tombstone(decision: _Purgeable, path: Path, partition: PartitionName, now: datetime) -> Tombstone:
    figures = decision.figures
    tombstone = Tombstone(
        partition=partition,
        **{key: figures[key] for key in _TOMBSTONE_FIGURES},
        sealed_at=format_timestamp(figures["sealed_at"]) if figures["sealed_at"] else "",
        purged_at=format_timestamp(now),
        deletes=decision.deletes,
    )
    if not path.exists():
        return tombstone
    # An earlier run wrote it, and its purge did not commit: the same partition, or an operator's.
    earlier = _read(path, partition)
    differ = [key for key in _TOMBSTONE_FIGURES if getattr(earlier, key) != getattr(tombstone, key)]
    if differ:
        raise TierRefused(f"{path} exists and differs from this partition in {', '.join(differ)}: not overwritten")
    return replace(earlier, deletes=tuple(sorted({*earlier.deletes, *tombstone.deletes})))


def _read(path: Path, partition: PartitionName) -> Tombstone:
    try:
        tombstone = read_tombstone(path)
    except ValueError as exc:
        raise TierRefused(f"{path} is not a tombstone: {exc}") from exc
    if tombstone.partition != partition:
        raise TierRefused(f"{path} is the tombstone of {tombstone.partition}")
    return tombstone


def _tombstone_figures(tombstone: Tombstone) -> dict:
    """A partition row's figures, as a tombstone states them."""
    copied = {key: getattr(tombstone, key) for key in _TOMBSTONE_FIGURES}
    return copied | {"day": tombstone.partition.day, "sealed_at": _moment(tombstone.sealed_at)}


def _record_purge(name: str, tombstone: Tombstone) -> None:
    row, created = LedgerPartition.objects.get_or_create(name=name, defaults=_tombstone_figures(tombstone))
    if not created:
        differ = [key for key in CHAINED_FIELDS if getattr(row, key) != getattr(tombstone, key)]
        if differ:
            raise TierRefused(f"the tombstone of {name} and its row disagree on {', '.join(differ)}")
    row.tier = Tier.PURGED
    row.purged_at = _moment(tombstone.purged_at)
    row.save(update_fields=["tier", "purged_at"])
    # Its frames are gone with it: the signal pages' index of frames must not point at them.
    frame_refs_forget(name)


def _moment(text: str) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
