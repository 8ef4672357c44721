"""Where the ledger's files are: partitions, segments, ``_CURRENT``, seals and manifests.

Standard library only: no Django import. The layout is the original OMEN's
(docs/architecture.md, "The original OMEN's ledger")::

    LEDGER_DIR/
      _LOCK                        flock'd by the writer and by seal (one process per directory)
      2026-11-24/                  a partition: the UTC date of the writes
        _CURRENT                   the active segment's name, replaced atomically
        signals-001.wal            segments, rotated by size and frame count
        signals-002.wal.gz         (warm tier: compressed, verified, original removed)
        _manifest.json             written when the partition is sealed ...
        _SEALED                    ... and then this marker: nothing is appended after it
      2026-11-24-late/             frames written for a day after that day was sealed
      2026-11-24-late-2/           ... and after its late partition was sealed too

Cold partitions move whole to the archive directory, and long-term ones on to the long-term
directory, with the same layout. A purged partition leaves only its tombstone there::

    LEDGER_LONG_TERM_DIR/
      2019-11-24/                  a long-term partition, as it was sealed
      2019-11-23.tombstone.json    a purged one: its frame count, sequences, chain ends, manifest hash
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson

__all__ = [
    "CURRENT_FILE",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "SEALED_FILE",
    "TOMBSTONE_SUFFIX",
    "PartitionName",
    "Tombstone",
    "atomic_write",
    "write_durably",
    "directory_lock",
    "fsync_dir",
    "fsync_file",
    "list_partitions",
    "list_segments",
    "list_tombstones",
    "read_current",
    "read_manifest",
    "read_tombstone",
    "segment_name",
    "segment_ordinal",
    "tombstone_path",
]

CURRENT_FILE = "_CURRENT"
LOCK_FILE = "_LOCK"
MANIFEST_FILE = "_manifest.json"
SEALED_FILE = "_SEALED"
TOMBSTONE_SUFFIX = ".tombstone.json"

_PARTITION = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:-late(?:-(\d+))?)?$")
_SEGMENT = re.compile(r"^signals-(\d{3,})\.wal(\.gz)?$")


@dataclass(frozen=True, slots=True, order=True)
class PartitionName:
    """``2026-11-24``, ``2026-11-24-late``, ``2026-11-24-late-2``...; ordered as they are written."""

    day: date
    late: int = 0  # 0: the day itself; 1: "-late"; n > 1: "-late-n"

    @classmethod
    def parse(cls, name: str) -> PartitionName | None:
        match = _PARTITION.match(name)
        if match is None:
            return None
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            return None
        if name == match.group(1):
            return cls(day)
        return cls(day, int(match.group(2) or 1))

    def __str__(self) -> str:
        if self.late == 0:
            return self.day.isoformat()
        if self.late == 1:
            return f"{self.day.isoformat()}-late"
        return f"{self.day.isoformat()}-late-{self.late}"

    def next_late(self) -> PartitionName:
        return PartitionName(self.day, self.late + 1)


def segment_name(ordinal: int) -> str:
    if ordinal < 1:
        raise ValueError("segment ordinals start at 1")
    return f"signals-{ordinal:03d}.wal"


def segment_ordinal(name: str) -> int | None:
    match = _SEGMENT.match(name)
    return int(match.group(1)) if match else None


def list_partitions(root: Path) -> list[PartitionName]:
    """The partition directories under ``root``, in write order; anything else is ignored."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    found = (PartitionName.parse(name) for name in names)
    return sorted(p for p in found if p is not None and (root / str(p)).is_dir())


def list_tombstones(directory: Path) -> list[PartitionName]:
    """The partitions with a tombstone in ``directory``, in write order."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = (
        PartitionName.parse(name.removesuffix(TOMBSTONE_SUFFIX)) for name in names if name.endswith(TOMBSTONE_SUFFIX)
    )
    return sorted(p for p in found if p is not None)


def tombstone_path(directory: Path, partition: PartitionName | str) -> Path:
    return directory / f"{partition}{TOMBSTONE_SUFFIX}"


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What is left of a purged partition: enough to hold the chain, and the feed's positions,
    across the gap. ``chain_start`` is its first frame's ``prev_hash``, ``chain_head`` the hash of
    its last frame (both empty for a partition without frames); ``deletes`` names the signals it
    deleted whose earlier frames lie in partitions that were kept, so that replay and verify
    still apply those deletes."""

    partition: PartitionName
    frames: int
    bytes: int
    first_sequence: int | None
    last_sequence: int | None
    chain_start: str
    chain_head: str
    manifest_sha256: str
    sealed_at: str
    purged_at: str
    deletes: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields |= {"partition": str(self.partition), "deletes": sorted(self.deletes)}
        return orjson.dumps(fields, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Tombstone:
        """Raises ValueError, saying what is wrong, for anything a purge did not write."""
        try:
            fields = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(fields, dict) or set(fields) != set(cls.__slots__):
            raise ValueError(f"expected the fields {sorted(cls.__slots__)}")
        partition = PartitionName.parse(str(fields["partition"]))
        if partition is None:
            raise ValueError(f"{fields['partition']!r} is not a partition name")
        numbers = ("frames", "bytes")
        if not all(type(fields[name]) is int for name in numbers) or not isinstance(fields["deletes"], list):
            raise ValueError("frames and bytes must be numbers, deletes a list")
        return cls(**(fields | {"partition": partition, "deletes": tuple(fields["deletes"])}))


def read_tombstone(path: Path) -> Tombstone:
    """Raises ValueError for a file that is not a whole tombstone, FileNotFoundError for none."""
    return Tombstone.from_json(path.read_bytes())


def list_segments(partition_dir: Path) -> list[Path]:
    """Segments of a partition in ordinal order, one file per segment (``.wal`` or ``.wal.gz``)."""
    try:
        names = os.listdir(partition_dir)
    except FileNotFoundError:
        return []
    chosen: dict[int, str] = {}
    for name in names:
        ordinal = segment_ordinal(name)
        # Both forms exist only when compression stopped between renaming the verified .gz into
        # place and removing the raw file: the raw one is the original, read that.
        if ordinal is not None and (ordinal not in chosen or not name.endswith(".gz")):
            chosen[ordinal] = name
    return [partition_dir / chosen[ordinal] for ordinal in sorted(chosen)]


def fsync_file(path: Path) -> None:
    """Make what was written to ``path`` (by this process or another) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` as the whole of ``path`` (created or emptied first) and fsync it.

    Only for names this process owns (a temp name, a fresh copy): a crash may leave it partial.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, whole.

    tmp file, fsync, rename over, fsync the directory (the rename itself must survive).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    write_durably(tmp, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_current(partition_dir: Path) -> str | None:
    try:
        name = (partition_dir / CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    return name if segment_ordinal(name) is not None else None


def read_manifest(partition_dir: Path) -> dict | None:
    try:
        return orjson.loads((partition_dir / MANIFEST_FILE).read_bytes())
    except FileNotFoundError:
        return None


def is_sealed(partition_dir: Path) -> bool:
    return (partition_dir / SEALED_FILE).exists()


@contextmanager
def directory_lock(root: Path) -> Iterator[None]:
    """An exclusive flock on ``root/_LOCK``, blocking.

    The database lock makes the writer one at a time among processes sharing a database; this
    one protects the directory from a writer of *another* database pointed at the same path.
    """
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
