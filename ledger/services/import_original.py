"""ledger_import: bring the signals of a ledger the original OMEN wrote into this database.

The original's layout is ours (docs/architecture.md, "The original OMEN's ledger"):
``YYYY-MM-DD/signals-NNN.wal`` and ``.wal.gz``, ``YYYY-MM-DD-late/``, ``_CURRENT``, ``_SEALED``,
``_manifest.json``; its envelope is schema "1.0.0", without ``prev_hash``, ``outbox_id`` or
``operation``. Its defects shape how it is read:

* it never truncated a torn write, so a segment may end in a torn tail, or hold garbage followed
  by later frames. A torn tail is a problem and the frames before it are imported; a corrupt
  frame is a damaged range: the import resynchronises at the next valid frame (the reader knows
  where it starts) and reports the bytes it skipped. ``strict`` stops at the first damage of a
  segment instead, as ``ledger verify`` does for our own ledger;
* its sequences were counted per process and reused, so ``ledger_sequence`` identifies nothing:
  ``signal_id`` does, and a signal already in the database (or earlier in the ledger) is skipped;
* re-compressing a late partition could leave ``signals-NNN.wal`` and ``.wal.gz`` side by side:
  both are read, and the duplicates skipped;
* compression was never verified: a damaged ``.wal.gz`` gives up the frames before the damage;
* not every frame came from its pipeline (its demo writer, its tests and a background generator
  wrote others, with ids of other shapes and fields left out): ``ledger.services.restore`` reads
  them all, by the rules its docstring lists; a frame it refuses is a problem naming the field.

Signals are written through the ledgered bulk path, as ingest writes them: rows inserted with
``ON CONFLICT DO NOTHING``, and ``signals_bulk_created`` sent in the same transaction, so the
outbox records every new signal and the writer frames it in this database's own ledger.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from django.conf import settings
from django.db import transaction

from ledger.layout import PartitionName, list_segments, read_manifest, segment_ordinal
from ledger.problems import FrameLocation, ProblemLog
from ledger.reading import SegmentRef, ledger_partitions
from ledger.services.restore import ContractError, RestoredSignal, restore_payload, signals_write_restored
from ledger.wal import Corruption, Scan, TornTail, read_frames

__all__ = ["DamagedRange", "ImportRefused", "ImportResult", "ledger_import"]

DEFAULT_BATCH_SIZE = 2000
# The original rotated segments at 10 MiB: a file (or a decompressed .gz) far past that is not
# one of its segments, and is not read into memory.
MAX_SEGMENT_BYTES = 256 * 1024 * 1024
_GZIP_WBITS = 31  # zlib with a gzip header and trailer
# Compressed bytes per step: deflate inflates at most ~1032:1, so one step yields at most ~16 MiB.
_GZIP_INPUT_CHUNK = 16 * 1024

Progress = Callable[[int, int], None]


class ImportRefused(Exception):
    """The directory cannot be imported at all (missing, empty, or this database's own ledger)."""


@dataclass(frozen=True, slots=True)
class DamagedRange:
    """Bytes of a segment that hold no valid frame, skipped to where the next valid frame starts."""

    location: FrameLocation
    skipped_bytes: int
    reason: str


@dataclass
class ImportResult(ProblemLog):
    partitions: int = 0
    segments: int = 0
    frames: int = 0  # good frames read (CRC verified)
    imported: int = 0  # new signals
    existing: int = 0  # frames whose signal the database (or an earlier frame) already had
    bytes: int = 0  # segment bytes read (compressed size for .gz), as ``progress`` counts them
    skipped_bytes: int = 0  # bytes of damaged ranges, skipped to the next valid frame
    damaged: list[DamagedRange] = field(default_factory=list)


def ledger_import(
    directory: Path | str,
    *,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    strict: bool = False,
) -> ImportResult:
    """Import every signal of the original OMEN ledger in ``directory``; idempotent.

    Never raises on what the ledger holds: a bad frame, segment or manifest is a problem in the
    result (with its location) and the import goes on, past a damaged range to the next valid
    frame unless ``strict``. Each batch commits on its own.
    """
    directory = Path(directory)
    partitions = _partitions(directory)
    segments = [(partition, path, list_segments(path)) for partition, path in partitions]
    sizes = {segment: _file_size(segment) for _, _, paths in segments for segment in paths}
    total = sum(sizes.values())
    result = ImportResult()
    batch = _Batch(result, batch_size)
    _report(progress, 0, total)
    for partition, partition_dir, paths in segments:
        result.partitions += 1
        manifest = _Manifest.load(partition_dir, result)
        for path in paths:
            ref = SegmentRef(partition, segment_ordinal(path.name), path)
            _import_segment(ref, batch, manifest, result, strict=strict)
            result.segments += 1
            result.bytes += sizes[path]
            _report(progress, result.bytes, total)
        manifest.report_missing(partition, paths, result)
    batch.flush()
    return result


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # reading it will fail too, and say so as a problem
        return 0


def _partitions(directory: Path) -> list[tuple[PartitionName, Path]]:
    if not directory.is_dir():
        raise ImportRefused(f"{directory} is not a directory")
    own = {
        Path(getattr(settings, name)).resolve() for name in ("LEDGER_DIR", "LEDGER_ARCHIVE_DIR", "LEDGER_LONG_TERM_DIR")
    }
    if directory.resolve() in own:
        raise ImportRefused(f"{directory} is this database's own ledger: use `ledger replay` to rebuild from it")
    partitions = ledger_partitions(directory)
    if not partitions:
        raise ImportRefused(
            f"{directory} holds no partition directories (YYYY-MM-DD, YYYY-MM-DD-late): "
            "give the ledger's base directory, not a partition"
        )
    return partitions


# --------------------------------------------------------------------------- segments


def _import_segment(ref: SegmentRef, batch: _Batch, manifest: _Manifest, result: ImportResult, *, strict: bool) -> None:
    data, complete = _segment_bytes(ref, result)
    frames = 0
    offset = 0
    while True:
        scan = read_frames(data, start=offset)
        for frame in scan.frames:
            frames += 1
            result.frames += 1
            try:
                restored = restore_payload(frame.payload)
            except ContractError as exc:
                result.add_problem(_location(ref, frame.offset), f"not imported: {exc}")
                continue
            batch.add(restored)
        end = scan.end
        if strict or not isinstance(end, Corruption) or end.resumes_at is None:
            break
        _report_damaged_range(ref, end, result)
        offset = end.resumes_at
    _report_scan_end(ref, scan, result, strict=strict)
    if complete:
        manifest.check(ref, data, frames, result)


def _report_damaged_range(ref: SegmentRef, end: Corruption, result: ImportResult) -> None:
    skipped = end.resumes_at - end.offset
    damaged = DamagedRange(_location(ref, end.offset), skipped, end.reason.value)
    result.damaged.append(damaged)
    result.skipped_bytes += skipped
    result.add_problem(
        damaged.location,
        f"damaged frame ({damaged.reason}): {skipped} bytes skipped, the import went on at the next valid "
        f"frame, offset {end.resumes_at}",
    )


def _location(ref: SegmentRef, offset: int) -> FrameLocation:
    return FrameLocation(str(ref.partition), ref.path.name, offset)


def _segment_bytes(ref: SegmentRef, result: ImportResult) -> tuple[bytes, bool]:
    """The segment's frames as bytes, and whether they are all of it (a damaged .gz gives a part)."""
    try:
        data, damage = _gunzip(ref.path) if ref.compressed else _read_plain(ref.path)
    except OSError as exc:
        data, damage = b"", f"cannot be read: {exc}"
    if damage is not None:
        result.add_problem(_location(ref, len(data)), damage)
    return data, damage is None


def _read_plain(path: Path) -> tuple[bytes, str | None]:
    size = path.stat().st_size
    if size > MAX_SEGMENT_BYTES:
        return b"", f"{size} bytes, more than a segment holds: skipped"
    return path.read_bytes(), None


def _gunzip(path: Path) -> tuple[bytes, str | None]:
    """Decompress in small steps, stopping at ``MAX_SEGMENT_BYTES``; keep what came before any damage."""
    parts: list[bytes] = []
    size = 0
    decompressor, in_member = zlib.decompressobj(wbits=_GZIP_WBITS), False
    try:
        with path.open("rb") as file:
            while compressed := file.read(_GZIP_INPUT_CHUNK):
                while compressed:
                    in_member = True
                    parts.append(decompressor.decompress(compressed))
                    size += len(parts[-1])
                    if size > MAX_SEGMENT_BYTES:
                        return b"", f"decompresses to more than {MAX_SEGMENT_BYTES} bytes, more than a segment: skipped"
                    if not decompressor.eof:
                        break
                    # A gzip file may hold several members, one after the other.
                    compressed, in_member = decompressor.unused_data, False
                    decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
    except zlib.error as exc:
        return b"".join(parts), f"compressed segment is damaged after {size} bytes ({exc}): the frames before were read"
    if in_member:
        return b"".join(parts), f"compressed segment is damaged: it ends early, after {size} bytes"
    return b"".join(parts), None


def _report_scan_end(ref: SegmentRef, scan: Scan, result: ImportResult, *, strict: bool) -> None:
    end = scan.end
    if isinstance(end, TornTail):
        result.add_problem(
            _location(ref, end.offset),
            f"torn tail ({end.reason}, {end.torn_bytes} bytes): the frames before it were read",
        )
    elif isinstance(end, Corruption):
        rest = "--strict: the rest of the segment was skipped" if strict else "no valid frame follows it"
        result.add_problem(_location(ref, end.offset), f"corrupt frame ({end.describe()}): {rest}")


# --------------------------------------------------------------------------- manifests


class _Manifest:
    """A sealed partition's ``_manifest.json``: each segment's frames, size and checksum.

    The original wrote ``crc32:<hex>`` checksums of the raw segment, a sealed partition of ours
    ``sha256:<hex>``. A mismatch is a problem; the frames that verify are imported all the same.
    """

    def __init__(self, partition_dir: Path, entries: dict[str, dict] | None) -> None:
        self.partition_dir = partition_dir
        self.entries = entries

    @classmethod
    def load(cls, partition_dir: Path, result: ImportResult) -> _Manifest:
        try:
            document = read_manifest(partition_dir)
        except (OSError, orjson.JSONDecodeError) as exc:
            result.add_problem(partition_dir.name, f"_manifest.json cannot be read: {exc}")
            return cls(partition_dir, None)
        if document is None:
            return cls(partition_dir, None)
        segments = document.get("segments") if isinstance(document, dict) else None
        if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
            result.add_problem(partition_dir.name, "_manifest.json has no list of segments")
            return cls(partition_dir, None)
        return cls(partition_dir, {str(s.get("file")): s for s in segments})

    def check(self, ref: SegmentRef, data: bytes, frames: int, result: ImportResult) -> None:
        if self.entries is None:
            return
        entry = self.entries.get(ref.name)
        if entry is None:
            result.add_problem(_location(ref, 0), "segment is not listed in the partition's _manifest.json")
            return
        found = {"record_count": frames, "size_bytes": len(data)}
        for key, value in found.items():
            if key in entry and entry[key] != value:
                result.add_problem(
                    _location(ref, 0), f"_manifest.json says {key} {entry[key]!r}, the segment has {value}"
                )
        checksum = entry.get("checksum")
        if isinstance(checksum, str) and _checksum(checksum, data) not in (None, checksum):
            result.add_problem(_location(ref, 0), f"checksum differs from _manifest.json ({checksum})")

    def report_missing(self, partition: PartitionName, paths: list[Path], result: ImportResult) -> None:
        if self.entries is None:
            return
        present = {path.name.removesuffix(".gz") for path in paths}
        for name in sorted(self.entries.keys() - present):
            result.add_problem(f"{partition}/{name}", "listed in _manifest.json but missing")


def _checksum(expected: str, data: bytes) -> str | None:
    """``data``'s checksum spelled like ``expected``, or None for a kind this code does not know."""
    kind = expected.partition(":")[0]
    if kind == "crc32":
        return f"crc32:{zlib.crc32(data):08x}"
    if kind == "sha256":
        return f"sha256:{hashlib.sha256(data).hexdigest()}"
    return None


# --------------------------------------------------------------------------- writing


class _Batch:
    """Restored signals waiting to be written; one transaction per batch."""

    def __init__(self, result: ImportResult, size: int) -> None:
        self.result = result
        self.size = size
        self.pending: dict[str, RestoredSignal] = {}

    def add(self, signal: RestoredSignal) -> None:
        if signal.signal_id in self.pending:  # a frame written twice: the first one counts
            self.result.existing += 1
            return
        self.pending[signal.signal_id] = signal
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        signals, self.pending = list(self.pending.values()), {}
        with transaction.atomic():
            created = signals_write_restored(signals)
        self.result.imported += created
        self.result.existing += len(signals) - created
