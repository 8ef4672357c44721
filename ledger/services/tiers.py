"""Storage tiers: hot (raw segments) -> warm (gzip, in LEDGER_DIR) -> cold (LEDGER_ARCHIVE_DIR)
-> long-term (LEDGER_LONG_TERM_DIR).

Only sealed partitions move, each transition under the writer's lock (``locked_ledger``), and
nothing is removed before its replacement was fsynced and read back against the checksums the
manifest recorded at sealing (the original compressed and archived without either, and once
overwrote an older compressed segment: docs/architecture.md). An existing ``.wal.gz`` or moved
directory is never overwritten: it is verified, and either the interrupted run is completed or
the transition is refused for an operator. Long-term partitions stay until retention purges them
(``ledger.services.purge``), leaving a tombstone.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ledger.layout import (
    MANIFEST_FILE,
    PartitionName,
    fsync_dir,
    fsync_file,
    is_sealed,
    list_partitions,
    list_segments,
    read_manifest,
    write_durably,
)
from ledger.models import LedgerPartition, LedgerWriterState, Tier
from ledger.services.writer import LedgerBusy, describe_os_error, locked_ledger

log = logging.getLogger("omen.ledger")

__all__ = [
    "TierRefused",
    "TierResult",
    "partition_archive",
    "partition_compress",
    "partition_long_term",
    "partitions_move_due",
]

GZIP_LEVEL = 6  # most of level 9's ratio on JSON frames at a fraction of its CPU


class TierRefused(Exception):
    """A transition that could lose or misplace frames; the files are left as they were."""


@dataclass(frozen=True, slots=True)
class TierResult:
    partition: str
    action: str  # "compressed", "archived", "long_term" or "refused"
    segments: int = 0
    detail: str = ""


# --------------------------------------------------------------------------- checks


def partition_name(name: str) -> PartitionName:
    partition = PartitionName.parse(name)
    if partition is None:
        raise TierRefused(f"{name!r} is not a partition name (YYYY-MM-DD, YYYY-MM-DD-late, YYYY-MM-DD-late-N)")
    return partition


def sealed_manifest(directory: Path) -> dict:
    if not directory.is_dir():
        raise TierRefused(f"partition directory {directory} does not exist")
    if not is_sealed(directory):
        raise TierRefused(f"partition {directory} is not sealed: only sealed partitions change tier")
    manifest = read_manifest(directory)
    if manifest is None:
        raise TierRefused(f"sealed partition {directory} has no {MANIFEST_FILE}")
    return manifest


def _checksums(manifest: dict, directory: Path) -> dict[str, str]:
    """Segment name -> sha256 hex of its raw bytes, as sealing recorded them."""
    checksums = {}
    for entry in manifest.get("segments", []):
        algorithm, _, digest = str(entry.get("checksum", "")).partition(":")
        if algorithm != "sha256" or len(digest) != 64:
            raise TierRefused(f"{directory / MANIFEST_FILE}: {entry.get('file')} has no sha256 checksum")
        checksums[entry["file"]] = digest
    on_disk = {path.name.removesuffix(".gz") for path in list_segments(directory)}
    if on_disk != checksums.keys():
        raise TierRefused(
            f"{directory}: segments on disk {sorted(on_disk)} differ from the manifest's {sorted(checksums)}"
        )
    return checksums


# --------------------------------------------------------------------------- files


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gzip_matches(path: Path, digest: str) -> bool:
    """Whether ``path`` decompresses to bytes with this sha256 (False for any damage)."""
    try:
        return _sha256(gzip.decompress(path.read_bytes())) == digest
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error):
        return False


def remove_durably(path: Path) -> None:
    if path.exists():
        path.unlink()
    fsync_dir(path.parent)


def _file_digests(directory: Path) -> dict[str, str]:
    """Every regular file of a partition (segments, manifest, markers, torn copies) -> sha256."""
    return {path.name: _sha256(path.read_bytes()) for path in sorted(directory.iterdir()) if path.is_file()}


# Which time each transition records.
_MOVED_AT = {Tier.WARM: "compressed_at", Tier.COLD: "archived_at", Tier.LONG_TERM: "long_term_at"}


def manifest_figures(name: str, directory: Path, manifest: dict) -> dict:
    """A partition row's figures, as its manifest states them (and the manifest's own hash)."""
    sealed_at = manifest.get("sealed_at")
    return {
        "day": partition_name(name).day,
        "frames": manifest.get("total_records") or 0,
        "bytes": manifest.get("total_bytes") or 0,
        "first_sequence": manifest.get("first_sequence"),
        "last_sequence": manifest.get("last_sequence"),
        "chain_start": manifest.get("chain_start") or "",
        "chain_head": manifest.get("chain_head") or "",
        "manifest_sha256": _sha256((directory / MANIFEST_FILE).read_bytes()),
        "sealed_at": datetime.fromisoformat(sealed_at.replace("Z", "+00:00")) if sealed_at else None,
    }


def _record(name: str, directory: Path, manifest: dict, now: datetime, tier: str) -> None:
    """Record the transition; a row lost since sealing is rebuilt from the manifest."""
    row, _ = LedgerPartition.objects.get_or_create(name=name, defaults=manifest_figures(name, directory, manifest))
    row.tier = tier
    setattr(row, _MOVED_AT[tier], now)
    row.verified_at = now
    row.save()


def partition_compress(name: str, *, now: datetime | None = None) -> TierResult:
    """Gzip every raw segment of a sealed partition in LEDGER_DIR, verified before the raw one goes.

    Every segment is checked before any is written, so a refusal changes nothing.
    """
    now = now or timezone.now()
    partition_name(name)
    with locked_ledger() as (_state, end):
        directory = Path(settings.LEDGER_DIR) / name
        manifest = sealed_manifest(directory)
        checksums = _checksums(manifest, directory)
        pending = [segment for segment, digest in checksums.items() if _segment_pending(directory, segment, digest)]
        for segment in pending:
            _compress_segment(directory / segment, checksums[segment])
        _record(name, directory, manifest, now, Tier.WARM)
    log.info("ledger: partition %s is warm (%d of %d segments compressed now)", name, len(pending), len(checksums))
    return TierResult(name, "compressed", len(checksums))


def _segment_pending(directory: Path, segment: str, digest: str) -> bool:
    """Whether a raw segment remains to compress (or remove); refuses what does not verify."""
    raw, packed = directory / segment, directory / f"{segment}.gz"
    if packed.exists():
        if not _gzip_matches(packed, digest):
            raise TierRefused(f"{packed} exists and does not decompress to the manifest's checksum of {segment}")
        return raw.exists()
    if _sha256(raw.read_bytes()) != digest:
        raise TierRefused(f"{raw} no longer matches the checksum its manifest recorded at sealing")
    return True


def _compress_segment(raw: Path, digest: str) -> None:
    packed = raw.with_name(f"{raw.name}.gz")
    if packed.exists():  # verified by _segment_pending: an earlier run stopped before removing the raw one
        fsync_file(packed)  # it may not have reached the disk yet; the raw copy goes next
    else:
        data = raw.read_bytes()
        if _sha256(data) != digest:  # what is compressed must be what was verified
            raise TierRefused(f"{raw} no longer matches the checksum its manifest recorded at sealing")
        temporary = raw.with_name(f".{packed.name}.tmp")
        write_durably(temporary, gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))
        if not _gzip_matches(temporary, digest):
            temporary.unlink()
            raise TierRefused(f"{temporary} did not read back as {raw.name}: the disk lost or changed it")
        os.replace(temporary, packed)
        fsync_dir(raw.parent)
    remove_durably(raw)


# --------------------------------------------------------------------------- cold and long-term


@dataclass(frozen=True, slots=True)
class _Move:
    """One move of whole partitions from one directory to another."""

    tier: str  # what the partition is once moved
    action: str  # TierResult.action
    source_setting: str
    destination_setting: str

    @property
    def source(self) -> Path:
        return Path(getattr(settings, self.source_setting))

    @property
    def destination(self) -> Path:
        return Path(getattr(settings, self.destination_setting))

    @property
    def leftover_suffix(self) -> str:
        """The source's hidden name while it is removed (``.<name>.<suffix>``)."""
        return self.action


_ARCHIVE = _Move(Tier.COLD, "archived", "LEDGER_DIR", "LEDGER_ARCHIVE_DIR")
_LONG_TERM = _Move(Tier.LONG_TERM, "long_term", "LEDGER_ARCHIVE_DIR", "LEDGER_LONG_TERM_DIR")


def partition_archive(name: str, *, now: datetime | None = None) -> TierResult:
    """Move a sealed, compressed partition to LEDGER_ARCHIVE_DIR/<name>, verified before removal.

    An existing archived copy is verified instead of overwritten; a mismatch raises.
    """
    return _move_partition(_ARCHIVE, name, now)


def partition_long_term(name: str, *, now: datetime | None = None) -> TierResult:
    """Move a cold partition from LEDGER_ARCHIVE_DIR to LEDGER_LONG_TERM_DIR/<name>, as
    ``partition_archive`` does: copied, verified, then the original removed.

    The partition the writer's recorded end lies in is refused: the writer looks for its
    segment in LEDGER_DIR and the archive only, and would stop (it moves once a later day is written).
    """
    return _move_partition(_LONG_TERM, name, now)


def _move_partition(move: _Move, name: str, now: datetime | None) -> TierResult:
    now = now or timezone.now()
    partition_name(name)
    with locked_ledger() as (state, _end):
        if move is _LONG_TERM and state.partition == name:
            raise TierRefused(f"partition {name} holds the writer's recorded end: it moves once the writer moves on")
        source, destination = move.source / name, move.destination / name
        if destination.exists():
            manifest = _verify_existing_copy(source, destination)
        else:
            _refuse_a_directory_without_its_partitions(move, name)
            manifest = sealed_manifest(source)
            _refuse_raw_segments(source)
            _copy_partition(source, destination)
        remove_partition(source, move.leftover_suffix)
        _record(name, destination, manifest, now, move.tier)
    log.info("ledger: partition %s is %s, in %s", name, move.tier, destination)
    return TierResult(name, move.action, len(manifest.get("segments", [])))


def _refuse_a_directory_without_its_partitions(move: _Move, moving: str) -> None:
    """Refuse a destination that lacks the partition last moved into it (``moving`` aside): a
    volume not mounted leaves its mount point an empty directory on another disk, and a partition
    moved there would be hidden once the volume is mounted again."""
    last = (
        LedgerPartition.objects.filter(tier=move.tier)
        .exclude(name=moving)
        .order_by(f"-{_MOVED_AT[move.tier]}", "-name")
        .values_list("name", flat=True)
        .first()
    )
    if last is not None and not (move.destination / last).is_dir():
        raise TierRefused(
            f"{move.destination_setting} ({move.destination}) does not hold {last}, the last partition moved "
            "there: is its volume mounted? Nothing moves into it until that partition is there again"
        )


def _raw_segments(directory: Path) -> list[str]:
    return [path.name for path in list_segments(directory) if not path.name.endswith(".gz")]


def _refuse_raw_segments(directory: Path) -> None:
    raw = _raw_segments(directory)
    if raw:
        raise TierRefused(f"{directory} still has raw segments {raw}: compress it before archiving")


def _verify_copy(source_digests: dict[str, str], copy: Path) -> dict:
    """The copy holds every source file byte for byte, and its segments match its manifest."""
    manifest = sealed_manifest(copy)
    copied = _file_digests(copy)
    differ = sorted(name for name, digest in source_digests.items() if copied.get(name) != digest)
    if differ:
        raise TierRefused(f"{copy}: {differ} differ from the originals")
    for segment, digest in _checksums(manifest, copy).items():
        if not _gzip_matches(copy / f"{segment}.gz", digest):
            raise TierRefused(f"{copy / segment}.gz does not decompress to the manifest's checksum")
    return manifest


def _verify_existing_copy(source: Path, destination: Path) -> dict:
    if not source.exists():  # an earlier run removed the original, then stopped before recording
        return _verify_copy({}, destination)
    sealed_manifest(source)
    return _verify_copy(_file_digests(source), destination)


def _copy_partition(source: Path, destination: Path) -> None:
    archive = destination.parent
    make_directory_durably(archive)
    temporary = archive / f".{destination.name}.tmp"
    if temporary.exists():  # a copy an earlier run left unfinished: never a final name, so ours
        shutil.rmtree(temporary)
    temporary.mkdir()
    digests = _file_digests(source)
    for file_name in digests:
        write_durably(temporary / file_name, (source / file_name).read_bytes())
    fsync_dir(temporary)
    _verify_copy(digests, temporary)
    os.rename(temporary, destination)
    fsync_dir(archive)


def make_directory_durably(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fsync_dir(directory.parent)


def remove_partition(directory: Path, suffix: str) -> None:
    """Remove a partition's directory for good, or what an interrupted removal left of it."""
    # Renamed to a hidden name first, so a crash mid-removal never leaves a partial directory
    # that readers would take for the partition (they prefer the younger tier's copy).
    root = directory.parent
    doomed = root / f".{directory.name}.{suffix}"
    _remove_tree(doomed)  # what an earlier removal left, before the name is taken again
    if directory.exists():
        os.rename(directory, doomed)
        fsync_dir(root)
        _remove_tree(doomed)


def _remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
        fsync_dir(path.parent)


def removal_leftovers(root: Path, suffix: str) -> set[str]:
    """Partitions whose removal from ``root`` a crash interrupted after the hidden rename."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return set()
    ending = f".{suffix}"
    return {
        name[1 : -len(ending)]
        for name in names
        if name.startswith(".") and name.endswith(ending) and PartitionName.parse(name[1 : -len(ending)])
    }


# --------------------------------------------------------------------------- due


def partitions_move_due(*, now: datetime | None = None) -> list[TierResult]:
    """Compress sealed partitions older than LEDGER_WARM_AFTER_DAYS, archive those older than
    LEDGER_COLD_AFTER_DAYS, move to long-term storage those older than LEDGER_LONG_TERM_AFTER_DAYS
    ("older than N days": today minus the partition's day exceeds N).

    A refused partition is logged and reported, and the others still move. A move a crash
    interrupted is completed whatever the partition's age.
    """
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    warm_before = today - timedelta(days=settings.LEDGER_WARM_AFTER_DAYS)
    cold_before = today - timedelta(days=settings.LEDGER_COLD_AFTER_DAYS)
    long_term_before = today - timedelta(days=settings.LEDGER_LONG_TERM_AFTER_DAYS)
    done: list[TierResult] = []
    try:
        for name in _due(Path(settings.LEDGER_DIR), warm_before):
            if _needs_compression(name):
                done.append(_attempt(partition_compress, name, now))
        # A partition whose compression was refused was reported once already: it is not archived.
        for name in _due_to_move(_ARCHIVE, cold_before):
            if not _raw_segments(Path(settings.LEDGER_DIR) / name):
                done.append(_attempt(partition_archive, name, now))
        writing = LedgerWriterState.objects.filter(pk=1).values_list("partition", flat=True).first()
        for name in _due_to_move(_LONG_TERM, long_term_before):
            if name != writing:  # refused until the writer moves on: not a fault to report hourly
                done.append(_attempt(partition_long_term, name, now))
    except LedgerBusy as exc:  # every other transition would wait for the same lock: next hour
        log.warning("ledger: tiers stopped: %s", exc)
    return done


def _due(root: Path, before: date) -> list[str]:
    """Sealed partitions in ``root`` whose day is before ``before``.

    The writer's own partition may be one of them: once sealed it takes no frame, and the
    writer tolerates its recorded segment moving to the archive (its next write starts a new
    partition).
    """
    return [
        str(partition)
        for partition in list_partitions(root)
        if partition.day < before and is_sealed(root / str(partition))
    ]


# Rows of partitions not moved yet, per destination tier.
_EARLIER_TIERS = {Tier.COLD: (Tier.HOT, Tier.WARM), Tier.LONG_TERM: (Tier.HOT, Tier.WARM, Tier.COLD)}


def _due_to_move(move: _Move, before: date) -> list[str]:
    """The partitions due to move, and the moves a crash interrupted once the copy had its final
    name: the original's hidden leftover, or a row that still names the earlier tier."""
    unrecorded = LedgerPartition.objects.filter(tier__in=_EARLIER_TIERS[move.tier]).values_list("name", flat=True)
    interrupted = removal_leftovers(move.source, move.leftover_suffix) | {
        name for name in unrecorded if (move.destination / name).is_dir()
    }
    return sorted(set(_due(move.source, before)) | interrupted, key=PartitionName.parse)


def _needs_compression(name: str) -> bool:
    """Raw segments left, or files compressed by a run whose database record did not commit."""
    if _raw_segments(Path(settings.LEDGER_DIR) / name):
        return True
    return not LedgerPartition.objects.filter(name=name, tier=Tier.WARM).exists()


def _attempt(transition, name: str, now: datetime) -> TierResult:
    try:
        return transition(name, now=now)
    except TierRefused as exc:
        log.error("ledger: partition %s kept in its tier: %s", name, exc)
        return TierResult(name, "refused", detail=str(exc))
    except OSError as exc:
        # The disk's refusal (a segment it cannot read, a full or read-only tier) is this
        # partition's: the others still move, and what the move left is completed or replaced by
        # the next run (a hidden copy, a hidden original), as after a crash.
        detail = f"cannot use {describe_os_error(exc)}"
        log.error("ledger: partition %s kept in its tier: %s", name, detail)
        return TierResult(name, "refused", detail=detail)
