"""ledger_replay: rebuild the signals of an empty database from our own ledger.

Frames are applied in ledger order (partition, segment, offset): a create or an update writes the
frame's contract, a delete removes the row. Rows are written with bulk SQL, never through
``Signal.save``: the frames already exist, so replay queues no outbox row and writes no frame.

Every frame is checked as it is read (CRC by the codec, sequence and ``prev_hash`` chain by
``LedgerEnd.take``, as the writer checks what it adopts); the first bad frame stops the run with
``LedgerCorruption`` naming its segment and offset. The whole run is one transaction, holding the
writer's lock: a run that stops leaves the database as empty as it found it, so it can be run
again once the ledger is repaired, and no writer appends while the chain is being read. At the
end the ledger's end is recorded in ``LedgerWriterState``, so the next writer run continues the
chain instead of adopting the whole ledger as unrecorded frames, and every replayed frame has its
frame reference (``ledger.services.frame_refs``; whatever references the table held are replaced),
as the writer would have recorded it.

A purged partition (retention's "ledger" policy) is crossed by its tombstone, not refused: the
tombstone must start the chain where the frame before it ended (else ``LedgerCorruption``), the
next frame must continue from its chain head, and the deletes it names are applied there. What
the purged frames held cannot come back, and need not: a partition holding a frame of a signal
still in the database is never purged, so every signal the database held at the purge is
rebuilt; only the history of signals deleted since (their earlier versions) is gone. Each gap
is named in ``ReplayResult.purged``, with its frame count, so the operator reads what was not
replayed.

Memory: one segment (bounded by the writer's rotation) and one batch of rows at a time.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from ledger.envelope import GENESIS_HASH, EnvelopeError, EnvelopeHead, read_head
from ledger.layout import PartitionName, directory_lock, read_tombstone
from ledger.models import LedgerFrameRef, LedgerOutbox, LedgerWriterState, Operation
from ledger.problems import FrameLocation, ProblemLog
from ledger.reading import SegmentRef, is_tombstone, ledger_partitions, ledger_segments, segment_data
from ledger.services.frame_refs import frame_ref_row, frame_refs_record
from ledger.services.restore import (
    ContractError,
    RestoredSignal,
    restore_payload,
    signal_rows,
    source_events_restore,
)
from ledger.services.writer import LedgerEnd
from ledger.wal import Corruption, Frame, LedgerCorruption, ScanEnd, TornTail, read_frames
from signals.models import Signal
from signals.public import signals_delete, signals_replace
from utilities.bulk_sql import datetime_adapter

__all__ = ["ReplayRefused", "ReplayResult", "ledger_replay"]

DEFAULT_BATCH_SIZE = 2000

Progress = Callable[[int, int], None]


class ReplayRefused(Exception):
    """Replay cannot start (the database is not empty, or the ledger is not the writer's)."""


@dataclass
class ReplayResult(ProblemLog):
    segments: int = 0
    frames: int = 0
    bytes: int = 0  # segment bytes read (compressed size for .gz), as ``progress`` counts them
    created: int = 0  # frames applied, by operation
    updated: int = 0
    deleted: int = 0
    signals: int = 0  # Signal rows at the end
    purged_frames: int = 0  # frames of purged partitions, not replayed
    # One sentence per purged partition crossed: which, when, how many frames were not replayed.
    purged: list[str] = dataclasses.field(default_factory=list)
    # Where the ledger ends, as recorded in LedgerWriterState for the next writer run.
    partition: str = ""
    segment: str = ""
    offset: int = 0
    last_sequence: int = 0
    chain_head: str = GENESIS_HASH


def ledger_replay(
    root: Path | str,
    archive: Path | str | None = None,
    long_term: Path | str | None = None,
    *,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ReplayResult:
    """Rebuild every signal from the ledger in ``root`` (and cold partitions in ``archive``,
    long-term ones and purged ones' tombstones in ``long_term``).

    Raises ``ReplayRefused`` before reading anything when the Signal table or the outbox is not
    empty, and ``LedgerCorruption`` (nothing written) at the first frame, or tombstone, that does
    not verify. A contract a row cannot be made from is a problem in the result; the run goes on.
    """
    root = Path(root)
    _check_root(root)
    directories = (root, *(Path(d) if d is not None else None for d in (archive, long_term)))
    result = ReplayResult()
    with transaction.atomic():
        # The writer's lock order: the state row first, then the directory (no deadlock with it).
        state, _ = LedgerWriterState.objects.select_for_update().get_or_create(pk=1)
        with directory_lock(root):
            # Listed under the lock that tier moves and purges take: listed before it, a partition
            # a move finished while replay waited was looked for where it had been.
            refs = ledger_segments(*directories)
            gaps = [(partition, path) for partition, path in ledger_partitions(*directories, tombstones=True)
                    if is_tombstone(path)]  # fmt: skip
            total = sum(ref.path.stat().st_size for ref in refs)
            _report(progress, 0, total)
            _check_empty()
            # Left by a database whose signals were all deleted: they point at frames replayed again.
            LedgerFrameRef.objects.all().delete()
            end = LedgerEnd(root, None, 0, 0, 0, 0, GENESIS_HASH, 0)
            changes = _Changes()
            for position, ref in enumerate(refs):
                while gaps and gaps[0][0] < ref.partition:
                    _cross_gap(*gaps.pop(0), end, changes, result)
                _replay_segment(ref, end, changes, result, batch_size=batch_size, newest=position == len(refs) - 1)
                result.segments += 1
                result.bytes += ref.path.stat().st_size
                _report(progress, result.bytes, total)
            for gap in gaps:  # the ledger's last partitions were purged: the chain goes on from there
                _cross_gap(*gap, end, changes, result)
            changes.flush()
            end.save_to(state)
            _continue_outbox_ids_after(changes.max_outbox_id)
            result.signals = Signal.objects.count()
    _record_end(result, state)
    return result


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _check_root(root: Path) -> None:
    # The recorded end names a segment under LEDGER_DIR; any other directory would point the
    # next writer run at frames that are not there.
    if root.resolve() != Path(settings.LEDGER_DIR).resolve():
        raise ReplayRefused(
            f"replay reads the ledger the writer appends to (LEDGER_DIR={settings.LEDGER_DIR}), not {root}: "
            "copy the ledger there, or set LEDGER_DIR to it"
        )


def _check_empty() -> None:
    signals = Signal.objects.count()
    if signals:
        raise ReplayRefused(
            f"the database already holds {signals} signals: replay rebuilds an empty database "
            "(point DATABASE_URL at a new one, run migrate, then replay)"
        )
    pending = LedgerOutbox.objects.count_saves()
    if pending:
        raise ReplayRefused(f"the outbox holds {pending} saves not framed yet: run the ledger drain first")


def _record_end(result: ReplayResult, state: LedgerWriterState) -> None:
    result.partition, result.segment, result.offset = state.partition, state.segment, state.offset
    result.last_sequence, result.chain_head = state.last_sequence, state.chain_head


# --------------------------------------------------------------------------- reading


def _replay_segment(
    ref: SegmentRef, end: LedgerEnd, changes: _Changes, result: ReplayResult, *, batch_size: int, newest: bool
) -> None:
    scan = read_frames(_segment_bytes(ref))
    end.move_to(ref.partition, ref.ordinal)
    for frame in scan.frames:
        _take(end, ref, frame)
        head = read_head(frame.payload)  # _take parsed it already: it is an envelope
        changes.refs.append(frame_ref_row(str(ref.partition), ref.name, frame, head, end.head, changes.to_db))
        _apply(ref, frame, head, changes, result)
        result.frames += 1
        if len(changes) >= batch_size:
            changes.flush()
    _check_scan_end(ref, scan.end, newest, result)


def _segment_bytes(ref: SegmentRef) -> bytes:
    try:
        return segment_data(ref.path)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise LedgerCorruption(ref.path, 0, f"segment cannot be read: {exc}") from exc


def _cross_gap(partition: PartitionName, path: Path, end: LedgerEnd, changes: _Changes, result: ReplayResult) -> None:
    """A purged partition: its tombstone carries the chain, and its deletes are applied."""
    try:
        tombstone = read_tombstone(path)
    except ValueError as exc:
        raise LedgerCorruption(path, 0, f"not a tombstone ({exc}): the chain cannot be followed across it") from None
    if tombstone.frames:
        if tombstone.partition != partition or tombstone.chain_start != end.head:
            raise LedgerCorruption(
                path,
                0,
                f"the tombstone of {tombstone.partition} does not continue the ledger (its chain starts at "
                f"{tombstone.chain_start[:12]}, the frame before it hashes to {end.head[:12]})",
            )
        end.head = tombstone.chain_head
    for signal_id in tombstone.deletes:
        changes.delete(signal_id)
    result.purged_frames += tombstone.frames
    result.purged.append(
        f"{partition} was purged at {tombstone.purged_at}: its {tombstone.frames} frame(s) were not replayed "
        f"(the {len(tombstone.deletes)} delete(s) its tombstone names were). A signal the database held then "
        "had no frame there; what is lost is the history of signals it had already deleted"
    )


def _take(end: LedgerEnd, ref: SegmentRef, frame: Frame) -> None:
    """Check that ``frame`` continues the chain (sequence, prev_hash) and move ``end`` past it."""
    try:
        end.take(ref.path, frame.offset, frame.payload)
    except EnvelopeError as exc:
        raise LedgerCorruption(ref.path, frame.offset, f"frame is not an envelope: {exc}") from None


def _check_scan_end(ref: SegmentRef, scan_end: ScanEnd, newest: bool, result: ReplayResult) -> None:
    if isinstance(scan_end, Corruption):
        raise LedgerCorruption(ref.path, scan_end.offset, scan_end.describe())
    if isinstance(scan_end, TornTail):
        if not newest:
            raise LedgerCorruption(
                ref.path, scan_end.offset, f"torn frame before the newest segment: {scan_end.reason}"
            )
        # The remains of a write that never committed: the next writer run copies it aside.
        result.add_problem(
            FrameLocation(str(ref.partition), ref.path.name, scan_end.offset),
            f"torn tail ({scan_end.reason}, {scan_end.torn_bytes} bytes) after the last frame: not replayed; "
            "the next writer run copies it aside and truncates it",
        )


def _apply(ref: SegmentRef, frame: Frame, head: EnvelopeHead, changes: _Changes, result: ReplayResult) -> None:
    changes.max_outbox_id = max(changes.max_outbox_id, head.outbox_id or 0)
    if head.operation == Operation.DELETE:
        changes.delete(head.signal_id)
        result.deleted += 1
        return
    try:
        restored = restore_payload(frame.payload)
    except ContractError as exc:
        result.add_problem(FrameLocation(str(ref.partition), ref.path.name, frame.offset), f"not replayed: {exc}")
        return
    changes.write(restored)
    if head.operation == Operation.CREATE:
        result.created += 1
    else:
        result.updated += 1


# --------------------------------------------------------------------------- writing


class _Changes:
    """A batch of frames reduced to each signal's last state, so one statement per kind writes it.

    Per signal id: ``(recreate, row)``. ``row`` None means deleted; ``recreate`` means a row an
    earlier batch wrote must go first (a delete then a create in this batch: a new row, as the
    original database had).
    """

    def __init__(self) -> None:
        self.pending: dict[str, tuple[bool, RestoredSignal | None]] = {}
        self.refs: list[tuple] = []  # the frame references of the frames read since the last flush
        self.to_db = datetime_adapter()
        self.max_outbox_id = 0

    def __len__(self) -> int:
        return max(len(self.pending), len(self.refs))

    def delete(self, signal_id: str) -> None:
        self.pending.pop(signal_id, None)
        self.pending[signal_id] = (True, None)

    def write(self, signal: RestoredSignal) -> None:
        recreate, previous = self.pending.get(signal.signal_id, (False, None))
        if signal.signal_id in self.pending and previous is None:
            self.pending.pop(signal.signal_id)  # created again after a delete: a later row
        elif previous is not None:
            # An update keeps the row's creation time (its frame's emitted_at is the update's).
            signal = dataclasses.replace(signal, row=signal.row._replace(created_at=previous.row.created_at))
        self.pending[signal.signal_id] = (recreate, signal)

    def flush(self) -> None:
        frame_refs_record(self.refs)
        self.refs = []
        if not self.pending:
            return
        removed = [signal_id for signal_id, (recreate, row) in self.pending.items() if recreate or row is None]
        written = [row for _, row in self.pending.values() if row is not None]
        self.pending = {}
        # Without post_delete / post_save: the frames already exist, so nothing is queued.
        signals_delete(removed)
        if written:
            to_db = datetime_adapter()
            event_pks = source_events_restore(written, to_db)
            # Ledger order, not key order: primary keys come out in the order the rows were made.
            signals_replace(signal_rows(written, event_pks, to_db))


def _continue_outbox_ids_after(last_id: int) -> None:
    """New saves must not reuse an outbox id a frame already carries: each frame names its save.

    The replayed database is new, so its outbox ids would start again at 1; they continue after
    the highest id in the ledger instead.
    """
    if not last_id:
        return
    table = LedgerOutbox._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, last_id])
            return
        # SQLite: Django's AUTOINCREMENT keys continue after sqlite_sequence.seq.
        cursor.execute("UPDATE sqlite_sequence SET seq = MAX(seq, %s) WHERE name = %s", [last_id, table])
        if cursor.rowcount == 0:
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, last_id])
