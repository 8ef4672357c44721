"""The single ledger writer: drains the outbox into frames, one batch per transaction.

One batch, all inside one database transaction::

    lock the writer state row (one writer among every process sharing the database)
    flock LEDGER_DIR/_LOCK (one writer per directory, whichever database it serves)
    adopt frames on disk past the recorded end (a run that died after its fsync, before commit)
    read the oldest outbox rows holding up to LEDGER_BATCH_FRAMES saves, in id order (a bulk
    delete's row holds one per signal, each framed under the row's id)
    build their envelopes, chained by prev_hash; rotate segments / change partition as needed
    append them with one write and one fsync per segment touched (group commit)
    delete the outbox rows, record the new end, commit

A crash before the fsync leaves the rows in the outbox and at most a torn tail, which the next
run copies aside and truncates. A crash after the fsync but before the commit leaves frames the
database does not know about: the next run finds them past the recorded end, checks that they
continue the chain, and deletes the outbox rows they name instead of framing those saves again.
A failed write or fsync raises: nothing is marked, and the next run decides from what is on disk.

Whatever stops a drain -- a full disk, a permission, damage -- is raised as one sentence (what,
where, why, what to do) and recorded on the writer state until a drain succeeds, so ``ledger
verify`` and the storage report can say the writer is stalled while the outbox keeps the saves.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ledger.envelope import EnvelopeHead, build_payload, format_timestamp, is_deletion_record, payload_hash, read_head
from ledger.layout import (
    CURRENT_FILE,
    PartitionName,
    atomic_write,
    directory_lock,
    fsync_dir,
    fsync_file,
    is_sealed,
    list_partitions,
    list_segments,
    read_current,
    segment_name,
    segment_ordinal,
)
from ledger.models import LedgerOutbox, LedgerWriterState, Operation
from ledger.models.outbox import bulk_contract, bulk_records
from ledger.services.committed import forget_committed, take_committed
from ledger.services.frame_refs import frame_ref_row, frame_refs_record
from ledger.wal import (
    CleanEnd,
    LedgerCorruption,
    LedgerError,
    LedgerWriteError,
    SegmentWriter,
    TornTail,
    cut_tail,
    ledger_sequence,
    read_frames,
)
from signals.models import Signal
from utilities.bulk_sql import datetime_adapter, in_list

log = logging.getLogger("omen.ledger")

__all__ = [
    "DrainResult",
    "LedgerBusy",
    "LedgerEnd",
    "LedgerStorageError",
    "describe_os_error",
    "ledger_drain",
    "locked_ledger",
]


class LedgerBusy(LedgerError):
    """Another writer holds the lock: the caller asked not to wait, or waited its lock timeout."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"another process holds the ledger writer's lock ({detail.strip()}); try again")


_ADVICE = {
    errno.ENOSPC: "free space on the file system that holds it",
    errno.EDQUOT: "raise the disk quota of the user OMEN runs as",
    errno.EACCES: "give the user OMEN runs as write access to it",
    errno.EPERM: "give the user OMEN runs as write access to it",
    errno.EROFS: "mount it read-write",
    errno.EIO: "check the disk: it reported an I/O error",
}


def describe_os_error(error: OSError) -> str:
    """``<file>: <errno text> (errno N); <what to do>``, for one line an operator can act on."""
    where = error.filename or settings.LEDGER_DIR
    advice = _ADVICE.get(error.errno, f"check {_tier_setting(where)} and the disk under it")
    return f"{where}: {error.strerror or error} (errno {error.errno}); {advice}"


def _tier_setting(path) -> str:
    """The setting naming the tier directory ``path`` is in (the innermost, should one hold
    another); LEDGER_DIR for a path in none of them."""
    path = Path(os.path.abspath(path))
    under = []
    for name in ("LEDGER_DIR", "LEDGER_ARCHIVE_DIR", "LEDGER_LONG_TERM_DIR"):
        directory = Path(os.path.abspath(getattr(settings, name)))
        if path.is_relative_to(directory):
            under.append((len(directory.parts), name))
    return max(under)[1] if under else "LEDGER_DIR"


class LedgerStorageError(LedgerWriteError):
    """The ledger's files could not be written or read: the disk, not the data, is the problem."""

    def __init__(self, error: OSError) -> None:
        self.error = error
        super().__init__(
            f"ledger writer stalled: cannot write {describe_os_error(error)}. "
            "The outbox keeps every save and the next drain catches up by itself."
        )


@dataclass
class DrainResult:
    frames: int = 0
    batches: int = 0
    adopted: int = 0  # frames a dead run appended, recorded by this one
    truncated: list[str] = field(default_factory=list)  # torn tails copied aside
    busy: bool = False


@dataclass
class LedgerEnd:
    """The end of the ledger: the last segment and what is in it, and the chain head."""

    root: Path
    partition: PartitionName | None
    ordinal: int  # 0: no segment yet
    size: int
    segment_frames: int
    last_sequence: int
    head: str
    frames_written: int

    @classmethod
    def from_state(cls, root: Path, state: LedgerWriterState) -> LedgerEnd:
        partition = PartitionName.parse(state.partition) if state.partition else None
        if state.partition and partition is None:
            raise LedgerCorruption(root, 0, f"writer state names an unknown partition {state.partition!r}")
        return cls(
            root,
            partition,
            segment_ordinal(state.segment) or 0 if state.segment else 0,
            state.offset,
            state.segment_frames,
            state.last_sequence,
            state.chain_head,
            state.frames_written,
        )

    @property
    def segment_path(self) -> Path | None:
        if self.partition is None or self.ordinal == 0:
            return None
        return self.root / str(self.partition) / segment_name(self.ordinal)

    def save_to(self, state: LedgerWriterState) -> None:
        state.partition = str(self.partition) if self.partition else ""
        state.segment = segment_name(self.ordinal) if self.ordinal else ""
        state.offset = self.size
        state.segment_frames = self.segment_frames
        state.last_sequence = self.last_sequence
        state.chain_head = self.head
        state.frames_written = self.frames_written
        state.updated_at = timezone.now()
        state.save()

    def move_to(self, partition: PartitionName, ordinal: int) -> None:
        self.partition, self.ordinal, self.size, self.segment_frames = partition, ordinal, 0, 0

    def take(self, path: Path, offset: int, payload: bytes) -> None:
        """Accept one frame at ``path:offset`` as the next of the ledger, or raise corruption."""
        head = read_head(payload)
        expected = ledger_sequence(self.ordinal, self.segment_frames + 1)
        if head.prev_hash != self.head or head.ledger_sequence != expected or head.outbox_id is None:
            raise LedgerCorruption(
                path,
                offset,
                f"frame does not continue the ledger (expected sequence {expected} after chain head "
                f"{self.head[:12]}, found sequence {head.ledger_sequence} after {str(head.prev_hash)[:12]})",
            )
        self.head = payload_hash(payload)
        self.last_sequence = expected
        self.segment_frames += 1
        self.size = offset + 8 + len(payload)
        self.frames_written += 1


# --------------------------------------------------------------------------- locking


def lock_writer_state(wait: bool) -> LedgerWriterState:
    if connection.vendor == "postgresql" and wait:
        # A committing request waits this long at most; the periodic drain catches up after.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [f"{settings.LEDGER_LOCK_TIMEOUT_SECONDS * 1000:.0f}ms"])
    try:
        state, _ = LedgerWriterState.objects.select_for_update(nowait=not wait).get_or_create(pk=1)
    except DatabaseError as exc:
        raise LedgerBusy(str(exc)) from exc
    return state


@contextmanager
def locked_ledger(
    *, wait: bool = True, result: DrainResult | None = None
) -> Iterator[tuple[LedgerWriterState, LedgerEnd]]:
    """The writer's lock, its transaction and the recorded end, for anything that changes files.

    ``with locked_ledger() as (state, end):`` -- seal and the tier tasks use it too, so they
    never race a writer. Lock order: the state row, then the directory. Frames a dead run left
    past the recorded end are adopted first.
    """
    result = result if result is not None else DrainResult()
    root = Path(settings.LEDGER_DIR)
    with transaction.atomic():
        state = lock_writer_state(wait)
        with directory_lock(root):
            end = LedgerEnd.from_state(root, state)
            adopted, refs = _adopt_unrecorded(end, result)
            if adopted:
                _settle_adopted(adopted)
                frame_refs_record(refs)
                end.save_to(state)
                result.adopted += len(adopted)
                log.warning("ledger: recorded %d frames a dead writer run had appended", len(adopted))
            yield state, end


# --------------------------------------------------------------------------- adoption


def _segments_after(end: LedgerEnd) -> list[tuple[PartitionName, int, Path]]:
    """Every segment that may hold frames past the recorded end, in write order."""
    found = []
    for partition in list_partitions(end.root):
        if end.partition is not None and partition < end.partition:
            continue
        directory = end.root / str(partition)
        if is_sealed(directory):
            continue  # sealing runs under the lock, after adoption: nothing unrecorded there
        for path in list_segments(directory):
            ordinal = segment_ordinal(path.name)
            if partition == end.partition and ordinal < end.ordinal:
                continue
            if path.name.endswith(".gz"):
                raise LedgerCorruption(path, 0, "compressed segment in an unsealed partition")
            found.append((partition, ordinal, path))
    return found


def _adopt_unrecorded(end: LedgerEnd, result: DrainResult) -> tuple[list[EnvelopeHead], list[tuple]]:
    """Record frames on disk past ``end`` (moving ``end``); return their heads (for
    ``_settle_adopted``) and their frame references (``ledger.services.frame_refs``), for the
    caller's transaction.

    Nothing past the recorded end was acknowledged: a run appended it and died before its
    commit. So each such frame must continue the chain *and* name an outbox row still pending
    here with the same operation and signal (frames of another database, or of this one before
    a restore, are refused); the files are fsynced before the rows are deleted (the dead run may
    have died before its own fsync); and damage in that region -- a torn tail, or a hole a power
    loss left in an unsynced write -- is copied aside and cut, its rows framed again later.
    """
    current = end.segment_path
    candidates = _segments_after(end)
    if not candidates or (
        len(candidates) == 1 and candidates[0][2] == current and os.path.getsize(current) == end.size
    ):
        # A sealed partition may have been compressed or archived since: the next write moves on.
        archived = Path(settings.LEDGER_ARCHIVE_DIR) / current.parent.name if current is not None else None
        if current is not None and not current.exists() and not (is_sealed(current.parent) or is_sealed(archived)):
            raise LedgerCorruption(current, 0, "the writer's recorded segment is missing")
        return [], []
    found: list[tuple[Path, int, EnvelopeHead]] = []
    refs: list[tuple] = []
    to_db = datetime_adapter()
    touched: list[Path] = []
    for position, (partition, ordinal, path) in enumerate(candidates):
        start = end.size if path == current else 0
        data = path.read_bytes()
        if start > len(data):
            raise LedgerCorruption(path, len(data), f"segment is shorter than its recorded {start} bytes")
        if path != current:
            end.move_to(partition, ordinal)
        touched.append(path)
        scan = read_frames(data, start=start)
        for frame in scan.frames:
            end.take(path, frame.offset, frame.payload)
            head = read_head(frame.payload)
            found.append((path, frame.offset, head))
            refs.append(frame_ref_row(str(partition), path.name, frame, head, end.head, to_db))
        if isinstance(scan.end, CleanEnd):
            continue
        if position != len(candidates) - 1:
            raise LedgerCorruption(path, scan.end.offset, f"damaged frame before the newest segment: {scan.end.reason}")
        aside = cut_tail(path, scan.end.offset, data=data)
        what = (
            "torn tail" if isinstance(scan.end, TornTail) else f"damaged unacknowledged bytes ({scan.end.describe()})"
        )
        result.truncated.append(f"{path}: {what} at {scan.end.offset} -> {aside}")
        log.warning("ledger: %s of %s at offset %d copied to %s and cut", what, path, scan.end.offset, aside)
    _check_against_outbox(found)
    for path in touched:  # what the dead run wrote may still be only in the page cache
        fsync_file(path)
    fsync_dir(end.root / str(end.partition))
    return [head for _, _, head in found], refs


@dataclass
class _PendingRow:
    """An outbox row as adoption needs it: what its frames must say."""

    operation: str
    signal_ids: set[str]
    records: list[tuple[str, str]]  # a bulk delete's (deletion record, signal id) pairs, else empty


def _pending_outbox_rows(ids: list[int]) -> dict[int, _PendingRow]:
    rows = {}
    for outbox_id, operation, signal_id, saves, contract in LedgerOutbox.objects.filter(id__in=ids).values_list(
        "id", "operation", "signal_id", "saves", "contract"
    ):
        if saves > 1:
            try:
                records = bulk_records(contract)
            except _UNREADABLE as exc:
                raise _unreadable_row(outbox_id, exc) from exc
            rows[outbox_id] = _PendingRow(operation, {signal_id for _, signal_id in records}, records)
        else:
            rows[outbox_id] = _PendingRow(operation, {signal_id}, [])
    return rows


def _check_against_outbox(found: list[tuple[Path, int, EnvelopeHead]]) -> None:
    pending = _pending_outbox_rows(sorted({head.outbox_id for _, _, head in found}))
    for path, offset, head in found:
        row = pending.get(head.outbox_id)
        if row is None or row.operation != head.operation or head.signal_id not in row.signal_ids:
            raise LedgerCorruption(
                path,
                offset,
                f"frames past the end this database recorded were not written for its outbox (outbox row "
                f"{head.outbox_id}, {head.operation} {head.signal_id}). LEDGER_DIR holds another database's "
                "ledger, or this database was recreated or restored: a new database is rebuilt with "
                "`manage.py ledger replay`; otherwise point LEDGER_DIR at this database's own ledger",
            )


def _settle_adopted(heads: list[EnvelopeHead]) -> None:
    """The outbox rows of adopted frames are done, and deleted; a bulk delete's row of which a
    dead run framed only the first saves (a crash between two segments' appends, or a torn tail)
    keeps the others, and the next batch frames them under the same id."""
    framed: dict[int, set[str]] = {}
    for head in heads:
        framed.setdefault(head.outbox_id, set()).add(head.signal_id)
    pending = _pending_outbox_rows(sorted(framed))
    done = []
    for outbox_id, signal_ids in framed.items():
        left = [(record, signal_id) for record, signal_id in pending[outbox_id].records if signal_id not in signal_ids]
        if left:
            # signal_id names the first signal the row still holds (a row left with one save is
            # read as a single delete, by that column); signal_pk stays the batch's first's.
            LedgerOutbox.objects.filter(pk=outbox_id).update(
                contract=bulk_contract(record for record, _ in left), saves=len(left), signal_id=left[0][1]
            )
        else:
            done.append(outbox_id)
    _delete_outbox_rows(done)


# --------------------------------------------------------------------------- appending

_open_segment: SegmentWriter | None = None


def _segment_writer(end: LedgerEnd) -> SegmentWriter:
    """The current segment's writer, kept open between runs while nothing else appended to it.

    The first time this process opens a segment it reads it whole: damage to frames already
    recorded stops the writer here, with its offset, instead of being appended after. Reopened
    after another process appended, only what this process has not read yet is scanned.
    """
    global _open_segment
    path = end.segment_path
    cached = _open_segment
    if cached is not None and cached.path == path and cached.size == end.size and not cached.failed:
        return cached
    known_size, known_frames = 0, 0
    if cached is not None:
        if cached.path == path and not cached.failed and cached.size <= end.size:
            known_size, known_frames = cached.size, cached.frame_count
        cached.close()
        _open_segment = None
    writer = SegmentWriter(path, verified_size=known_size, verified_frames=known_frames)
    if (writer.size, writer.frame_count) != (end.size, end.segment_frames):
        writer.close()
        raise LedgerCorruption(
            path,
            min(writer.size, end.size),
            f"segment holds {writer.frame_count} frames in {writer.size} bytes, the database recorded "
            f"{end.segment_frames} in {end.size}",
        )
    if read_current(path.parent) != path.name:  # a new segment, or one a dead run created
        atomic_write(path.parent / CURRENT_FILE, f"{path.name}\n".encode())
    _open_segment = writer
    return writer


def _write_partition(end: LedgerEnd, now: datetime) -> None:
    """Move ``end`` to the partition this batch writes: the UTC date of the write, never going back."""
    today = now.astimezone(UTC).date()
    partition = end.partition
    if partition is None or partition.day < today:
        partition = PartitionName(today)
    while is_sealed(end.root / str(partition)):
        partition = partition.next_late()
    if partition != end.partition:
        directory = end.root / str(partition)
        directory.mkdir(parents=True, exist_ok=True)
        fsync_dir(end.root)
        end.move_to(partition, 1)
    elif end.ordinal == 0:
        end.ordinal = 1


def _frame_sources(rows: list[tuple]) -> tuple[dict[int, tuple], set[int]]:
    """Signal fields per pk for the create rows: from memory when this process just committed
    them, else read from the signal, else from its later delete (created and deleted before
    this run, by a delete queued with the whole contract); and which of the signals framed from
    an outbox row's contract a partner pushed.

    A frame says ``pushed`` as the writer finds the row. One whose row is gone by then (deleted
    since its save) says nothing, and is followed in the ledger by that signal's delete frame.
    """
    found: dict[int, tuple] = {}
    unknown = []
    from_contract = []
    for _, operation, pk, signal_id, contract, *_ in rows:
        if operation == Operation.CREATE and contract is None:
            saved = take_committed(pk, signal_id)
            if saved is None:
                unknown.append(pk)
            else:
                found[pk] = saved[1:]
        elif operation != Operation.DELETE:
            # Framed from the contract its outbox row holds (an update's; a create's kept before
            # its row changed), which does not say pushed: the row does.
            from_contract.append(pk)
    pushed_rows = (
        set(Signal.objects.filter(pk__in=from_contract, pushed=True).values_list("pk", flat=True))
        if from_contract
        else set()
    )
    if unknown:
        found.update(
            (pk, tuple(rest))
            for pk, *rest in Signal.objects.filter(pk__in=unknown).values_list(
                "pk",
                "signal_id",
                "trace_id",
                "input_event_hash",
                "source_event_id",
                "ruleset_version",
                "observed_at",
                "created_at",
                Cast("contract", output_field=TextField()),
                "pushed",
            )  # fmt: skip
        )
    missing = set(unknown) - found.keys()
    if missing:
        # Deletes queued before delete frames named the signal only (see ledger.receivers): a
        # delete queued since leaves the waiting create its contract instead, and is skipped here.
        for outbox_id, pk, contract, saved_at in LedgerOutbox.objects.filter(
            signal_pk__in=missing, operation=Operation.DELETE
        ).values_list("id", "signal_pk", "contract", "saved_at"):
            if not is_deletion_record(contract):
                try:
                    found[pk] = _fields_from_contract(contract, saved_at)
                except _UNREADABLE as exc:
                    raise _unreadable_row(outbox_id, exc) from exc
    return found, pushed_rows


# A contract the writer cannot parse is a LedgerError naming its outbox row, recorded on the
# writer's state like any other, where it was a bare JSON or key error that the drain after every
# commit hit again, unnamed, while every later save waited behind it. (A try at each call, not a
# context manager: that cost 1.4 us a frame, a sweep's million delete frames.)
_UNREADABLE = (ValueError, KeyError)  # orjson's JSONDecodeError is a ValueError


def _unreadable_row(outbox_id: int, error: Exception) -> LedgerError:
    return LedgerError(
        f"outbox row {outbox_id} holds a contract the writer cannot read ({type(error).__name__}: {error}). "
        "The writer stops here so that no save is skipped silently; mend the row's contract, or delete "
        f"outbox row {outbox_id} once you have accepted that its saves will have no frame"
    )


def _fields_from_contract(contract: str, saved_at: datetime) -> list:
    """A frame's fields from a contract (or a deletion record). Raises ValueError or KeyError for
    one that is not a JSON object with them."""
    document = orjson.loads(contract)
    if not isinstance(document, dict):
        raise ValueError(f"not a JSON object: {contract[:100]!r}")
    observed_at: datetime | str = document["observed_at"]
    if not isinstance(observed_at, str):
        raise ValueError(f"observed_at is not a time: {observed_at!r}")
    if not is_deletion_record(contract):
        observed_at = datetime.fromisoformat(observed_at.replace("Z", "+00:00"))
        if observed_at.tzinfo is None:
            # An imported original contract may hold a naive time: UTC, as restore reads it.
            observed_at = observed_at.replace(tzinfo=UTC)
    # else a deletion record, whose time ``deletion_record`` wrote as the envelope writes it
    return [
        document["signal_id"],
        document["trace_id"],
        document["input_event_hash"],
        document["source_event_id"],
        document["ruleset_version"],
        observed_at,
        saved_at,
        contract,
        False,  # pushed: not in a contract (the row's is looked up: _frame_sources)
    ]


def _append_batch(end: LedgerEnd, rows: list[tuple], now: datetime) -> list[float]:
    """Frame ``rows`` after ``end`` (moving it) and insert their frame references in the caller's
    transaction; return the seconds each fsync took, one per segment."""
    _write_partition(end, now)
    sources, pushed_rows = _frame_sources(rows)
    written_at = format_timestamp(now)
    written_at_db = datetime_adapter()(now)
    # A bulk batch shares one emitted_at (and markets share observation times): format each once.
    timestamps: dict[datetime, str] = {}

    def timestamp(moment: datetime | str) -> str:
        if isinstance(moment, str):  # a deletion record's, formatted already
            return moment
        text = timestamps.get(moment)
        if text is None:
            text = timestamps[moment] = format_timestamp(moment)
        return text

    partition = str(end.partition)
    max_frames, max_bytes = settings.LEDGER_SEGMENT_MAX_FRAMES, settings.LEDGER_SEGMENT_MAX_BYTES
    # (ordinal, size and frame count where the chunk starts, payloads): one chunk per segment.
    chunks: list[tuple[int, int, int, list[bytes]]] = [(end.ordinal, end.size, end.segment_frames, [])]
    segment = segment_name(end.ordinal)
    # One per frame, in FRAME_REF_COLUMNS order, built from what is at hand (not read back).
    refs: list[tuple] = []
    for outbox_id, operation, signal_pk, signal_id, contract, saved_at in _saves(rows):
        if operation == Operation.CREATE and contract is None:
            fields = sources.get(signal_pk)
            if fields is None:
                raise LedgerError(
                    f"outbox row {outbox_id} records the creation of {signal_id} (pk {signal_pk}), but that "
                    "signal is gone and no delete kept its contract: it was deleted around the ORM (raw SQL or "
                    "QuerySet.update/delete without receivers). The writer stops here so that no save is "
                    "skipped silently; restore the row, or delete outbox row "
                    f"{outbox_id} once you have accepted that this save will have no frame"
                )
        else:
            try:
                fields = _fields_from_contract(contract, saved_at)
            except _UNREADABLE as exc:
                raise _unreadable_row(outbox_id, exc) from exc
        sid, trace_id, input_hash, source_event_id, ruleset, observed_at, emitted_at, contract_json, pushed = fields
        if contract is not None and operation != Operation.DELETE:
            pushed = signal_pk in pushed_rows
        if end.segment_frames >= max_frames or end.size >= max_bytes:
            end.move_to(end.partition, end.ordinal + 1)
            chunks.append((end.ordinal, 0, 0, []))
            segment = segment_name(end.ordinal)
        sequence = ledger_sequence(end.ordinal, end.segment_frames + 1)
        payload = build_payload(
            prev_hash=end.head,
            ledger_sequence=sequence,
            outbox_id=outbox_id,
            operation=operation,
            signal_id=sid,
            trace_id=trace_id,
            input_event_hash=input_hash,
            source_event_id=source_event_id,
            ruleset_version=ruleset,
            observed_at=timestamp(observed_at),
            emitted_at=timestamp(emitted_at),
            ledger_written_at=written_at,
            ledger_partition=partition,
            contract_json=contract_json,
            pushed=pushed,
        )
        chunks[-1][3].append(payload)
        end.head = payload_hash(payload)
        refs.append((sid, operation, partition, segment, end.size, len(payload), sequence, end.head, written_at_db))
        end.last_sequence = sequence
        end.segment_frames += 1
        end.size += 8 + len(payload)
        end.frames_written += 1

    fsync_seconds = []
    for ordinal, size, frames, payloads in chunks:
        if payloads:
            position = LedgerEnd(end.root, end.partition, ordinal, size, frames, 0, end.head, 0)
            writer = _segment_writer(position)
            try:
                writer.append(payloads)
            except LedgerWriteError:
                _drop_unproven(writer, size)
                raise
            fsync_seconds.append(writer.last_fsync_seconds)
    frame_refs_record(refs)
    return fsync_seconds


def _saves(rows: list[tuple]) -> Iterator[tuple]:
    """One (outbox id, operation, signal pk, signal id, contract, saved_at) per frame to write: a
    bulk delete's row gives one per deletion record, each with the row's id and the record's
    signal (no pk: a delete frame needs none)."""
    for outbox_id, operation, signal_pk, signal_id, contract, saved_at, saves in rows:
        if saves == 1:
            yield outbox_id, operation, signal_pk, signal_id, contract, saved_at
        else:
            try:
                records = bulk_records(contract)
            except _UNREADABLE as exc:
                raise _unreadable_row(outbox_id, exc) from exc
            for record, signal_id in records:
                yield outbox_id, operation, None, signal_id, record, saved_at


def _drop_unproven(writer: SegmentWriter, size: int) -> None:
    """After a failed write or fsync, cut what this append wrote: nothing proves it reached the
    disk (after a failed fsync, Linux may report the next one clean), so the next run must
    rewrite those rows from the outbox, not adopt bytes it found in the page cache."""
    global _open_segment
    writer.close()
    _open_segment = None
    try:
        fd = os.open(writer.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        log.exception("ledger: could not cut the unproven append from %s at %d", writer.path, size)


# --------------------------------------------------------------------------- the drain


def _pending_rows(limit: int) -> list[tuple]:
    """The oldest outbox rows holding up to ``limit`` saves (at least one row, however many it
    holds): (id, operation, signal_pk, signal_id, contract, saved_at, saves).

    Creates (nearly every single row) need only the first four columns; the contract and time of
    an update, a delete, or a create whose signal changed before this run (the rows with a
    contract) are read in a second query, by the id range (a list of ids would be a statement
    of a thousand placeholders).
    """
    table = connection.ops.quote_name(LedgerOutbox._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, operation, signal_pk, signal_id, contract IS NOT NULL, saves FROM {table} "
            "ORDER BY id LIMIT %s",
            [limit],
        )
        heads = cursor.fetchall()
    taken, saves = 0, 0
    for head in heads:
        if taken and saves + head[5] > limit:
            break
        taken, saves = taken + 1, saves + head[5]
    heads = heads[:taken]
    others = [row[0] for row in heads if row[4]]
    details = dict(
        (outbox_id, (contract, saved_at))
        for outbox_id, contract, saved_at in LedgerOutbox.objects.filter(
            id__gte=others[0], id__lte=others[-1], contract__isnull=False
        ).values_list("id", "contract", "saved_at")
    ) if others else {}  # fmt: skip
    return [(*head[:4], *details.get(head[0], (None, None)), head[5]) for head in heads]


def _outbox_has_rows() -> bool:
    # By the primary key's index, as the batch read goes: the heap of an outbox just drained is
    # mostly dead rows, which a plain EXISTS would scan.
    return LedgerOutbox.objects.order_by("id").values_list("id").first() is not None


def _delete_outbox_rows(ids: list[int]) -> None:
    table = connection.ops.quote_name(LedgerOutbox._meta.db_table)
    with connection.cursor() as cursor:
        for condition, params in in_list("id", ids):
            cursor.execute(f"DELETE FROM {table} WHERE {condition}", params)


def ledger_drain(*, batch_size: int | None = None, wait: bool = True, now=None) -> DrainResult:
    """Frame every outbox row, a batch per transaction, until the outbox is empty.

    ``wait=False`` returns at once (``busy``) when another writer holds the lock. Raises
    ``LedgerCorruption`` (an operator must act), ``LedgerStorageError`` (the disk failed; the
    next drain retries) and ``LedgerWriteError`` (nothing was marked); each is recorded on the
    writer state until a drain succeeds.
    """
    batch_size = batch_size or settings.LEDGER_BATCH_FRAMES
    result = DrainResult()
    try:
        while True:
            with locked_ledger(wait=wait, result=result) as (state, end):
                rows = _pending_rows(batch_size)
                if not rows:
                    if state.last_error:
                        _clear_error(state)
                    return result
                fsync_seconds = _append_batch(end, rows, now or timezone.now())
                _delete_outbox_rows([row[0] for row in rows])
                state.last_error, state.last_error_at = "", None
                state.fsync_count += len(fsync_seconds)
                state.fsync_seconds += sum(fsync_seconds)
                state.last_fsync_seconds = fsync_seconds[-1]
                end.save_to(state)
            framed = sum(row[6] for row in rows)
            result.frames += framed
            result.batches += 1
            if framed < batch_size and not _outbox_has_rows():
                # The outbox was emptied. Another round would be a transaction of its own only to
                # find that out, and its row lock makes its commit wait for a WAL flush (10 ms a
                # drain on a slow disk); the check above is a plain read. Rows committed while this
                # batch was framed are found by it, and framed in the next round.
                return result
    except LedgerBusy:
        result.busy = True
        return result
    except (OSError, LedgerError) as exc:
        # A failed append raises LedgerWriteError from its OSError: both are the disk's failure.
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        failure = LedgerStorageError(cause) if isinstance(cause, OSError) else exc
        _record_error(failure)
        if failure is exc:
            raise
        raise failure from exc
    finally:
        forget_committed()


def _clear_error(state: LedgerWriterState) -> None:
    state.last_error, state.last_error_at = "", None
    state.save(update_fields=["last_error", "last_error_at"])


def _record_error(error: LedgerError) -> None:
    """Record why the drain stopped, in a transaction of its own (the drain's rolled back)."""
    try:
        LedgerWriterState.objects.update_or_create(
            pk=1, defaults={"last_error": str(error), "last_error_at": timezone.now()}
        )
    except DatabaseError:  # the database is what failed: the error raised says enough
        log.warning("ledger: could not record the drain's failure: %s", error)
