"""Reading a whole ledger in write order, across tiers. Standard library only: no Django import.

Hot and warm partitions live in ``LEDGER_DIR``; cold ones in the archive directory, with the
same layout. A partition is in exactly one of the two (archiving copies, verifies, then removes
the original), so the ledger is the union, ordered by partition then segment ordinal.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ledger.layout import PartitionName, list_partitions, list_segments, segment_ordinal
from ledger.wal import CleanEnd, Frame, ScanEnd, read_frames

__all__ = ["SegmentRef", "ledger_partitions", "ledger_segments", "read_segment", "segment_data"]


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


def ledger_partitions(root: Path, archive: Path | None = None) -> list[tuple[PartitionName, Path]]:
    """(partition, directory) in write order; a partition present in both places is read hot."""
    found: dict[PartitionName, Path] = {}
    if archive is not None:
        found.update((p, archive / str(p)) for p in list_partitions(archive))
    found.update((p, root / str(p)) for p in list_partitions(root))
    return sorted(found.items())


def ledger_segments(root: Path, archive: Path | None = None) -> list[SegmentRef]:
    return [
        SegmentRef(partition, segment_ordinal(path.name), path)
        for partition, directory in ledger_partitions(root, archive)
        for path in list_segments(directory)
    ]


def segment_data(path: Path) -> bytes:
    """A segment's raw frames; a compressed one is decompressed (at most one segment in memory)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


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


def read_segment(ref: SegmentRef) -> SegmentRead:
    data = segment_data(ref.path)
    scan = read_frames(data)
    return SegmentRead(ref, scan.frames, scan.end, len(data), hashlib.sha256(data).hexdigest())


def iter_segments(root: Path, archive: Path | None = None) -> Iterator[SegmentRead]:
    for ref in ledger_segments(root, archive):
        yield read_segment(ref)
