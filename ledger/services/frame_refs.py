"""Frame references: which frames a signal has, where each is, and whether it still reads back.

The analyst admin's signal page lists a signal's frames (partition, segment, offset, sequence,
chain hash) and re-reads one on demand, within its 100 ms at a million signals; reading the
ledger to find them is out of the question. ``LedgerFrameRef`` rows are the index:

* the writer inserts one per frame in the transaction that records its new end, so a frame has a
  row exactly when the database counts it as written (``ledger.services.writer``: appended
  batches, and frames a dead run left that the next one adopts); replay inserts them for the
  frames it replays, and ``manage.py ledger reindex`` (``ledger.services.reindex``) rebuilds them
  from the segments;
* a purge deletes a partition's rows in the transaction that marks it purged;
* the tier tasks change nothing here: a row names its partition and segment, not a directory, and
  ``frame_verify`` looks for the segment in every tier, the younger first.

The rows are written in bulk (COPY on PostgreSQL), in ``FRAME_REF_COLUMNS`` order.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import OuterRef, Subquery

from ledger.envelope import EnvelopeError, EnvelopeHead, payload_hash, read_head, read_written_at
from ledger.layout import PartitionName, segment_ordinal, tombstone_path
from ledger.models import LedgerFrameRef, LedgerPartition, Tier
from ledger.reading import read_located
from ledger.wal import HEADER, HEADER_SIZE, Frame
from utilities.bulk_sql import append_rows

__all__ = [
    "FRAME_REF_COLUMNS",
    "FrameCheck",
    "FrameRef",
    "frame_ref_row",
    "frame_refs_forget",
    "frame_refs_record",
    "frame_verify",
    "ledger_directories",
    "signal_frames",
]

FRAME_REF_COLUMNS = (
    "signal_id",
    "operation",
    "partition",
    "segment",
    "offset",
    "length",
    "sequence",
    "payload_sha256",
    "written_at",
)
MISSING = "missing"  # a frame's tier when its partition is in no directory and has no tombstone


def ledger_directories() -> tuple[Path, Path, Path]:
    """LEDGER_DIR, LEDGER_ARCHIVE_DIR and LEDGER_LONG_TERM_DIR: the tiers' directories, youngest first."""
    return Path(settings.LEDGER_DIR), Path(settings.LEDGER_ARCHIVE_DIR), Path(settings.LEDGER_LONG_TERM_DIR)


# --------------------------------------------------------------------------- writing


def frame_ref_row(
    partition: str, segment: str, frame: Frame, head: EnvelopeHead, chain_hash: str, to_db: Callable
) -> tuple:
    """The row of a frame read from a segment (``FRAME_REF_COLUMNS``); ``to_db`` is the batch's
    ``utilities.bulk_sql.datetime_adapter()``. Raises ``EnvelopeError`` for a frame without a
    write time."""
    return (
        head.signal_id,
        head.operation,
        partition,
        segment,
        frame.offset,
        frame.length,
        head.ledger_sequence,
        chain_hash,
        to_db(read_written_at(frame.payload)),
    )


def frame_refs_record(rows: Sequence[tuple]) -> None:
    """Insert rows in ``FRAME_REF_COLUMNS`` order, in the caller's transaction."""
    append_rows(LedgerFrameRef._meta.db_table, FRAME_REF_COLUMNS, rows)


def frame_refs_forget(partition: str, segment: str | None = None) -> int:
    """Delete a partition's rows (or one segment's); return how many there were."""
    rows = LedgerFrameRef.objects.filter(partition=partition)
    if segment is not None:
        rows = rows.filter(segment=segment)
    return rows.delete()[0]


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class FrameRef:
    """One frame of a signal, and the tier its partition is in now (``Tier``'s values, or
    ``missing``: in no directory, with no tombstone)."""

    signal_id: str
    operation: str
    partition: str
    segment: str
    offset: int
    length: int
    sequence: int
    payload_sha256: str
    written_at: datetime
    tier: str


def signal_frames(signal_id: str) -> list[FrameRef]:
    """Every frame of ``signal_id`` the writer committed, in write order, with its partition's tier.

    One query, by the signal id's index; the tier comes from the partition's row (a subquery by its
    unique name), or, for a partition not sealed yet (no row), from the directories.
    """
    tier = LedgerPartition.objects.filter(name=OuterRef("partition")).values("tier")[:1]
    rows = (
        LedgerFrameRef.objects.filter(signal_id=signal_id)
        .annotate(partition_tier=Subquery(tier))
        .values_list(*FRAME_REF_COLUMNS, "partition_tier")
    )
    frames = [FrameRef(*row[:-1], tier=row[-1] or _tier_on_disk(row[2])) for row in rows]
    return sorted(frames, key=lambda frame: (PartitionName.parse(frame.partition), frame.sequence))


def _tier_on_disk(partition: str) -> str:
    """The tier of a partition without a row: unsealed ones are hot (a row lost since sealing is
    told by where its directory is)."""
    root, archive, long_term = ledger_directories()
    for tier, directory in ((Tier.HOT, root), (Tier.COLD, archive), (Tier.LONG_TERM, long_term)):
        if (directory / partition).is_dir():
            return tier
    return Tier.PURGED if tombstone_path(long_term, partition).exists() else MISSING


@dataclass(frozen=True, slots=True)
class FrameCheck:
    """Whether a frame read back as it was written, in one line (``detail``), and where it was read:
    ``tier`` (hot, warm, cold, long_term; purged or missing when it could not be) and ``path``."""

    ok: bool
    detail: str
    tier: str
    path: str = ""


def frame_verify(ref: FrameRef | LedgerFrameRef) -> FrameCheck:
    """Read one frame back from wherever its partition lives now, and check it.

    Its CRC (the WAL header), that its payload hashes to the chain hash it was written with, that
    its envelope names the signal, operation and sequence the reference does, and, when the frame
    before it is in the same segment, that its ``prev_hash`` is that frame's hash (otherwise the
    detail says the link was not checked). Read-only, without the writer's lock: frames before
    the recorded end never change, and the segment is looked for in the younger tier first, so a
    compression or a move happening meanwhile does not hide it. A compressed segment is
    decompressed whole (segments are at most 10 MiB).
    """
    root, archive, long_term = ledger_directories()
    where = f"{ref.partition}/{ref.segment}@{ref.offset}"
    partition = PartitionName.parse(ref.partition)
    if partition is None or segment_ordinal(ref.segment) is None:
        return FrameCheck(False, f"{where}: not a partition and segment this ledger writes", MISSING)
    try:
        located = read_located(partition, ref.segment, root, archive, long_term)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        return FrameCheck(False, f"{where}: its segment cannot be read: {exc}", MISSING)
    if located is None:
        tombstone = tombstone_path(long_term, partition)
        if tombstone.exists():  # written before a purged partition's directory goes
            return FrameCheck(False, f"purged: only its tombstone remains ({tombstone})", Tier.PURGED, str(tombstone))
        return FrameCheck(
            False,
            f"{where}: the segment is in none of LEDGER_DIR, LEDGER_ARCHIVE_DIR and LEDGER_LONG_TERM_DIR, and no "
            "tombstone says its partition was purged; run `manage.py ledger verify`",
            MISSING,
        )
    tier, segment, data = located
    ok, detail = _check_frame(data, ref)
    shown = f"{where} ({tier}, {segment.path})"
    return FrameCheck(ok, f"{'intact' if ok else 'DAMAGED'}: {shown}: {detail}", tier, str(segment.path))


def _check_frame(data: bytes, ref: FrameRef | LedgerFrameRef) -> tuple[bool, str]:
    offset, end = ref.offset, ref.offset + HEADER_SIZE + ref.length
    if len(data) < end:
        return False, f"the segment ends at byte {len(data)}, before the frame's end at {end}: it was cut short"
    length, crc = HEADER.unpack_from(data, offset)
    if length != ref.length:
        return False, (
            f"its header gives a {length}-byte payload, the reference {ref.length}: the header was changed, "
            "or no frame starts at this offset"
        )
    payload = data[offset + HEADER_SIZE : end]
    if zlib.crc32(payload) != crc:
        return False, "its payload does not match its CRC: the frame's bytes changed on disk"
    digest = payload_hash(payload)
    if digest != ref.payload_sha256:
        return False, (
            f"its payload hashes to {digest[:12]}, not to the chain hash {ref.payload_sha256[:12]} it was "
            "written with: it was rewritten, CRC and all"
        )
    try:
        head = read_head(payload)
    except EnvelopeError as exc:
        return False, f"its payload is not an envelope: {exc}"
    found = (head.operation, head.signal_id, head.ledger_sequence)
    if found != (ref.operation, ref.signal_id, ref.sequence):
        return False, "its envelope is {} {} at sequence {}, the reference says {} {} at {}".format(
            *found, ref.operation, ref.signal_id, ref.sequence
        )
    ok, link = _check_link(data, offset, head.prev_hash)
    checked = f"CRC, SHA-256 {digest[:12]}, {head.operation} {head.signal_id} at sequence {head.ledger_sequence}"
    return ok, f"{checked}; {link}" if ok else link


def _check_link(data: bytes, offset: int, prev_hash: str | None) -> tuple[bool, str]:
    """Whether ``prev_hash`` is the hash of the frame before ``offset``, found by walking the
    segment's headers from its start (a few thousand steps at most, no payload read)."""
    previous, position = None, 0
    while position < offset:
        previous = position
        position += HEADER_SIZE + HEADER.unpack_from(data, position)[0]
    if position != offset:
        return False, (
            f"the frames before it in its segment do not end at offset {offset}: the segment is damaged "
            "before it; run `manage.py ledger verify`"
        )
    if previous is None:
        return True, "its link to the frame before it was not checked: that frame ends the previous segment"
    if payload_hash(data[previous + HEADER_SIZE : offset]) != prev_hash:
        return False, (
            f"its prev_hash is not the hash of the frame before it (at offset {previous}): that frame was "
            "changed, or frames were moved"
        )
    return True, f"its prev_hash is the hash of the frame before it (at offset {previous})"
