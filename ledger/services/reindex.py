"""``ledger reindex``: rebuild the frame references (``ledger.services.frame_refs``) from the segments.

For a ledger written before the references existed, or a database restored from a backup that is
older than the ledger (``ledger verify`` says when a partition's references disagree with its
frames). Every segment of every tier is read, in write order, and its references are deleted and
inserted again in one transaction under the writer's lock: no batch is half recorded while the
segment is read, no tier move or purge runs in between, and the writer waits for one segment at
a time (at most 10 MiB), not for the ledger. Then the references of segments no longer on disk
(a partition purged, a database restored beside another ledger) are deleted. Idempotent: a second
run writes the same rows, which are the rows the writer wrote.

Only frames before the writer's recorded end get a reference (after the adoption every run under
the lock does first, that is every whole frame on disk). A frame that is not one of this writer's
envelopes, or damage in a segment, is a problem in the result with its location; the frames
before the damage keep their references.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledger.envelope import EnvelopeError, payload_hash, read_head
from ledger.models import LedgerFrameRef
from ledger.problems import FrameLocation, ProblemLog
from ledger.reading import SegmentRef, ledger_segments, read_located
from ledger.services.frame_refs import frame_ref_row, frame_refs_forget, frame_refs_record, ledger_directories
from ledger.services.writer import LedgerEnd, locked_ledger
from ledger.wal import CleanEnd, read_frames
from utilities.bulk_sql import datetime_adapter

__all__ = ["ReindexResult", "ledger_reindex"]

Progress = Callable[[int, int], None]


@dataclass
class ReindexResult(ProblemLog):
    partitions: int = 0
    segments: int = 0
    frames: int = 0  # references written
    bytes: int = 0  # segment bytes read (compressed size for .gz), as ``progress`` counts them
    replaced: int = 0  # references there before, deleted and written again
    removed: int = 0  # references of segments no longer on disk, deleted


def ledger_reindex(*, progress: Progress | None = None) -> ReindexResult:
    """Rebuild every frame reference from LEDGER_DIR, LEDGER_ARCHIVE_DIR and LEDGER_LONG_TERM_DIR.

    Raises what the writer's lock raises (``LedgerBusy``, or ``LedgerCorruption`` when the files past
    the recorded end are not this database's); a damaged frame is a problem in the result.
    """
    directories = ledger_directories()
    listed = ledger_segments(*directories)
    total = sum(_size(ref.path) for ref in listed)
    result = ReindexResult()
    report = progress or _unreported
    report(0, total)
    for ref in listed:
        _reindex_segment(ref, directories, result)
        result.segments += 1
        result.bytes += _size(ref.path)
        report(result.bytes, total)
    result.partitions = len({ref.partition for ref in listed})
    _remove_stale(directories, result)
    return result


def _reindex_segment(listed: SegmentRef, directories: tuple[Path, Path, Path], result: ReindexResult) -> None:
    partition = str(listed.partition)
    with locked_ledger() as (_state, end):
        result.replaced += frame_refs_forget(partition, listed.name)
        # Looked for again under the lock: a tier task may have compressed or moved it since.
        located = read_located(listed.partition, listed.name, *directories)
        if located is None:  # purged since it was listed: it has no frames to point at
            return
        _tier, ref, data = located
        scan = read_frames(data)
        to_db = datetime_adapter()
        rows = []
        for frame in scan.frames:
            if not _recorded(end, ref, frame.offset):
                break
            try:
                head = read_head(frame.payload)
                if head.operation is None or head.ledger_sequence is None:
                    raise EnvelopeError("it lacks operation or ledger_sequence (not written by this ledger's writer)")
                rows.append(frame_ref_row(partition, ref.name, frame, head, payload_hash(frame.payload), to_db))
            except EnvelopeError as exc:
                result.add_problem(FrameLocation(partition, ref.name, frame.offset), f"no frame reference: {exc}")
        if not isinstance(scan.end, CleanEnd) and _recorded(end, ref, scan.end.offset):
            result.add_problem(
                FrameLocation(partition, ref.name, scan.end.offset),
                "damaged frame: the frames from here on have no reference; run `manage.py ledger verify`",
            )
        frame_refs_record(rows)
        result.frames += len(rows)


def _recorded(end: LedgerEnd, ref: SegmentRef, offset: int) -> bool:
    """Whether ``offset`` of ``ref`` lies before the writer's recorded end (a committed frame)."""
    return end.partition is not None and (ref.partition, ref.ordinal, offset) < (end.partition, end.ordinal, end.size)


def _remove_stale(directories: tuple[Path, Path, Path], result: ReindexResult) -> None:
    """Delete the references of segments that are on disk in no tier."""
    on_disk = {(str(ref.partition), ref.name) for ref in ledger_segments(*directories)}
    # Read without the lock (a scan of the whole table); checked again under it before deleting.
    stale = set(LedgerFrameRef.objects.values_list("partition", "segment").distinct()) - on_disk
    if not stale:
        return
    with locked_ledger():
        on_disk = {(str(ref.partition), ref.name) for ref in ledger_segments(*directories)}
        for partition, segment in sorted(stale - on_disk):
            result.removed += frame_refs_forget(partition, segment)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # compressed or moved since it was listed
        return 0


def _unreported(done: int, total: int) -> None:
    """No progress bar was asked for."""
