"""Reading a whole ledger in write order, across tiers. Standard library only: no Django import.

Hot and warm partitions live in ``LEDGER_DIR``; cold ones in the archive directory, long-term
ones in the long-term directory, all with the same layout. A move copies, verifies, then removes
the original, so a partition is in one of them, or for a moment in two with the same files; the
ledger is the union, ordered by partition then segment ordinal. A purged partition is a gap with
a tombstone (``ledger.layout.Tombstone``) in the long-term directory.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ledger.layout import (
    TOMBSTONE_SUFFIX,
    PartitionName,
    list_partitions,
    list_segments,
    list_tombstones,
    segment_ordinal,
    tombstone_path,
)
from ledger.wal import CleanEnd, Frame, ScanEnd, read_frames

__all__ = [
    "SegmentRef",
    "is_tombstone",
    "ledger_partitions",
    "ledger_segments",
    "read_located",
    "read_segment",
    "segment_data",
    "segment_locations",
]


@dataclass(frozen=True, slots=True)
class SegmentRef:
    partition: PartitionName
    ordinal: int
    path: Path

    @property
    def compressed(self) -> bool:
        return self.path.name.endswith(".gz")

    @property
    def name(self) -> str:
        """The segment's name as the manifest lists it (without ``.gz``)."""
        return self.path.name.removesuffix(".gz")

    def __str__(self) -> str:
        return f"{self.partition}/{self.path.name}"


def ledger_partitions(
    root: Path, archive: Path | None = None, long_term: Path | None = None, *, tombstones: bool = False
) -> list[tuple[PartitionName, Path]]:
    """(partition, directory) in write order; a partition present in two places is read from the
    younger tier. With ``tombstones``, a purged partition is listed too, as its tombstone file
    (``is_tombstone``), unless its directory is still there (a purge that stopped before removing it).
    """
    found: dict[PartitionName, Path] = {}
    # Youngest tier first: a move renames the copy into place before it removes the original, so
    # a partition moving while this lists is found in one place or the other, never in neither.
    for directory in (root, archive, long_term):
        if directory is not None:
            for partition in list_partitions(directory):
                found.setdefault(partition, directory / str(partition))
    if tombstones and long_term is not None:
        for partition in list_tombstones(long_term):
            found.setdefault(partition, tombstone_path(long_term, partition))
    return sorted(found.items())


def is_tombstone(path: Path) -> bool:
    return path.name.endswith(TOMBSTONE_SUFFIX)


def ledger_segments(root: Path, archive: Path | None = None, long_term: Path | None = None) -> list[SegmentRef]:
    return [
        SegmentRef(partition, segment_ordinal(path.name), path)
        for partition, directory in ledger_partitions(root, archive, long_term)
        for path in list_segments(directory)
    ]


def segment_data(path: Path) -> bytes:
    """A segment's raw frames; a compressed one is decompressed (at most one segment in memory)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


# The tier a segment is in, by directory (LEDGER_DIR, the archive, long-term): (raw, compressed).
_TIERS = (("hot", "warm"), ("cold", "cold"), ("long_term", "long_term"))


def segment_locations(
    partition: PartitionName, segment: str, root: Path, archive: Path | None = None, long_term: Path | None = None
) -> list[tuple[str, SegmentRef]]:
    """(tier, segment file) for every place a segment (its manifest name, ``signals-001.wal``) may
    be, in the order to look: the younger tier first, raw before compressed.

    Compression renames the verified ``.gz`` into place before it removes the raw file, and a move
    renames the copy into place before it removes the original, so a segment compressed or moved
    while this looks is found in one place or the next, never in neither.
    """
    ordinal = segment_ordinal(segment)
    found = []
    for (raw, compressed), directory in zip(_TIERS, (root, archive, long_term), strict=True):
        if directory is not None:
            path = directory / str(partition) / segment
            found.append((raw, SegmentRef(partition, ordinal, path)))
            found.append((compressed, SegmentRef(partition, ordinal, path.with_name(f"{segment}.gz"))))
    return found


def read_located(
    partition: PartitionName, segment: str, root: Path, archive: Path | None = None, long_term: Path | None = None
) -> tuple[str, SegmentRef, bytes] | None:
    """A segment's raw frames from the first place it is found (``segment_locations``), with its
    tier and file; None when it is in none of them."""
    for tier, ref in segment_locations(partition, segment, root, archive, long_term):
        try:
            return tier, ref, segment_data(ref.path)
        except FileNotFoundError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class SegmentRead:
    ref: SegmentRef
    frames: tuple[Frame, ...]
    end: ScanEnd
    size: int
    sha256: str

    @property
    def clean(self) -> bool:
        return isinstance(self.end, CleanEnd)


def read_segment(ref: SegmentRef, data: bytes | None = None) -> SegmentRead:
    """Scan a segment: its file, or ``data`` already read from it."""
    data = segment_data(ref.path) if data is None else data
    scan = read_frames(data)
    return SegmentRead(ref, scan.frames, scan.end, len(data), hashlib.sha256(data).hexdigest())


def iter_segments(root: Path, archive: Path | None = None, long_term: Path | None = None) -> Iterator[SegmentRead]:
    for ref in ledger_segments(root, archive, long_term):
        yield read_segment(ref)
