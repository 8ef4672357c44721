"""``ledger verify``: the ledger is whole, chained, sealed as its manifests say, and matches the database.

Checks, in one streaming pass over every segment in write order (hot, warm, cold and long-term):

* frames: lengths and CRCs (``ledger.wal``); a bad frame is reported at partition/segment/offset;
* order: ``ledger_sequence`` is (segment ordinal << 32) | index, and each ``prev_hash`` is the
  SHA-256 of the previous payload, so a removed, inserted, edited or swapped frame is found at
  the first frame after the change;
* seals: a sealed partition's manifest lists exactly its segments, with their counts, sizes,
  checksums, sequences and chain ends;
* segments: each partition's segments are numbered 1, 2, 3... with none missing;
* purged partitions: each is a gap its tombstone spans: the tombstone starts the chain where the
  frame before it ended, the next frame continues from the tombstone's chain head, its sequences
  start at segment 1's first frame (the next partition's start there again, as always), and it
  says what its row says; a partition the database records that is neither on disk nor purged
  is missing. The deletes a tombstone names count as delete frames, so a signal created in a
  kept partition and deleted in a purged one is not taken for one deleted around the ledger;
* reconciliation: every save of the outbox (a row, or one deletion record of a bulk delete's
  row: an outbox id and a signal) was framed at most once; every signal in the database has
  exactly one live create frame (or is still waiting in the outbox); every frame's signal exists
  unless a later delete frame (or a delete waiting in the outbox) explains its absence; nothing
  lies past the writer's recorded end;
  each partition has as many frame references (``ledger.services.frame_refs``) as frames before
  the recorded end. Counts only, from one grouped query: a missing or extra reference (a ledger
  written before them, a database restored from a backup) is found and ``ledger reindex`` named;
  a reference's offset or hash is what ``frame_verify`` checks, frame by frame;
* the end: the newest recorded frame ends exactly where the writer state says, with its
  sequence, and hashes to the chain head it recorded (so an edit of the newest frame, CRC
  recomputed, is found before another frame is chained to it);
* with ``contents``: every column that copies the contract (title, probability, ids, times...)
  equals the contract, and the contract equals its latest frame's;
* the writer's health (``VerifyReport.stalled``): saves waiting longer than
  LEDGER_STALL_AFTER_SECONDS, a failed last drain, frames past the end that this database's
  outbox did not write (another database shares LEDGER_DIR).

Verify runs beside live writers. It first takes a snapshot of the database under the writer's
lock -- where the ledger ends, the outbox, every signal id (as 8-byte digests) -- so no batch is
half done while it reads; then it reads the files without the lock and reconciles only the frames
up to that recorded end. Frames past it belong to a batch committed later (or to a run that died
after its fsync, which the next drain records): they are counted, not reconciled. A torn tail or
damage past the recorded end is the writer's to cut, so it is a note, not a problem.

Memory stays flat in the ledger's size: one segment is read at a time, and per frame only 8-byte
numbers are kept (outbox ids and a 64-bit digest of the signal id), in arrays.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Count, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ledger.envelope import GENESIS_HASH, EnvelopeError, payload_hash, read_head
from ledger.layout import SEALED_FILE, PartitionName, read_manifest, read_tombstone, segment_ordinal, tombstone_path
from ledger.models import LedgerFrameRef, LedgerOutbox, LedgerPartition, Operation, Tier
from ledger.problems import ProblemLog
from ledger.reading import (
    SegmentRead,
    SegmentRef,
    is_tombstone,
    ledger_partitions,
    ledger_segments,
    read_located,
    read_segment,
)
from ledger.selectors import WriterHealth, writer_health
from ledger.services.purge import CHAINED_FIELDS
from ledger.services.restore import ContractError, restore_signal
from ledger.services.writer import lock_writer_state
from ledger.wal import CleanEnd, LedgerError, TornTail, ledger_sequence
from signals.models import Signal
from signals.public import SignalRow

__all__ = ["VerifyReport", "ledger_verify"]

Progress = Callable[[int, int], None]
MAX_UNEXPLAINED = 10_000  # frames past the recorded end checked one by one; the rest only counted


@dataclass
class VerifyReport(ProblemLog):
    partitions: int = 0
    segments: int = 0
    frames: int = 0
    bytes: int = 0
    signals: int = 0
    purged: int = 0  # partitions purged, each a tombstone
    purged_frames: int = 0
    pending: int = 0  # outbox rows not framed yet (the writer has not run since their commit)
    unrecorded: int = 0  # frames past the end recorded when verify started
    foreign: int = 0  # of those, frames this database's outbox did not write
    notes: list[str] = field(default_factory=list)
    # Why the writer is not keeping up, one sentence each: verify exits 3 on these alone.
    stalled: list[str] = field(default_factory=list)


def _digest(signal_id: str) -> int:
    return _digest_bytes(signal_id.encode())


def _save_key(outbox_id: int, signal_id: str) -> int:
    """One save of the outbox: a row's id and the signal one of its frames names."""
    return _digest_bytes(f"{outbox_id}:{signal_id}".encode())


def _digest_bytes(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def _framed_contract(payload: bytes) -> bytes:
    """The stored contract text a frame carries: the writer puts ``"signal"`` last, after the
    envelope's own fields, so it is everything from there to the closing brace."""
    start = payload.index(b',"signal":', payload.index(b'"ledger_partition":')) + len(b',"signal":')
    return payload[start:-1]


@dataclass
class _Frames:
    """What reconciliation needs of every frame, as flat arrays."""

    outbox_ids: array = field(default_factory=lambda: array("q"))
    # One per frame, beside outbox_ids: the save it frames (a bulk delete's row holds several).
    save_keys: array = field(default_factory=lambda: array("q"))
    creates: array = field(default_factory=lambda: array("q"))
    deletes: array = field(default_factory=lambda: array("q"))
    # With ``contents``: signal digest -> digest of the contract its latest create/update frame holds.
    contracts: dict[int, int] | None = None


@dataclass
class _Snapshot:
    """The database's side, read at one instant under the writer's lock."""

    end: tuple[PartitionName, int, int] | None  # (partition, segment ordinal, offset) recorded
    chain_head: str
    last_sequence: int
    pending: list[tuple[int, str, str]]  # the outbox's saves: (row id, operation, signal_id)
    signals: array  # digests of every signal id
    health: WriterHealth
    frame_refs: dict[str, int]  # frame references per partition
    put_back: list[str]  # signals in the table while their delete waits, with no save that put them back


def _database_snapshot() -> _Snapshot:
    with transaction.atomic():
        state = lock_writer_state(wait=True)  # no writer batch is half done while this is read
        end = None
        if state.segment:
            end = (PartitionName.parse(state.partition), segment_ordinal(state.segment), state.offset)
        # The signals first, then the outbox. Each is its own statement (READ COMMITTED on
        # PostgreSQL), and the writer's lock keeps out drains, not saves: a save committed between
        # the two reads is then in the outbox read and not in the signals read, which reconciles
        # (a create waiting, a delete leaving). The other way round, such a save is a signal gone
        # around the ledger, or one with no create frame, until the next run.
        signals = array(
            "q", (_digest(sid) for sid in Signal.objects.values_list("signal_id", flat=True).iterator(10_000))
        )
        try:
            pending = list(LedgerOutbox.objects.all().saves())
        except ValueError as exc:  # the writer is stopped at the same row, and says so too
            raise LedgerError(f"{exc}: mend the row or delete it, then verify again") from exc
        put_back = _put_back_around_the_ledger(pending)
        health = writer_health()
        frame_refs = dict(LedgerFrameRef.objects.order_by().values_list("partition").annotate(Count("id")))
    return _Snapshot(end, state.chain_head, state.last_sequence, pending, signals, health, frame_refs, put_back)


def _put_back_around_the_ledger(pending: list[tuple[int, str, str]]) -> list[str]:
    """Signals in the table now whose delete waits in the outbox, with no other save of theirs
    waiting: put back around the ledger. Read under the writer's lock, which keeps drains out, so
    a save that put one back (a restore, an import, the same event ingested again) is still in
    the outbox when it is looked for, after the table. Rows of ids a delete waits for, read by id,
    only when some wait."""
    leaving = sorted({signal_id for _, operation, signal_id in pending if operation == Operation.DELETE})
    back = set()
    for start in range(0, len(leaving), _IDS_PER_QUERY):
        chunk = leaving[start : start + _IDS_PER_QUERY]
        back.update(Signal.objects.filter(signal_id__in=chunk).values_list("signal_id", flat=True))
    if not back:
        return []
    saved_again = {signal_id for _, operation, signal_id in pending if operation != Operation.DELETE}
    ids = sorted(back - saved_again)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start : start + _IDS_PER_QUERY]
        saved_again.update(
            LedgerOutbox.objects.filter(signal_id__in=chunk)
            .exclude(operation=Operation.DELETE)
            .values_list("signal_id", flat=True)
        )
    return sorted(back - saved_again)


_IDS_PER_QUERY = 10_000


class _Verifier:
    def __init__(self, report: VerifyReport, progress: Progress | None, total: int, snapshot: _Snapshot | None) -> None:
        self.report = report
        self.snapshot = snapshot
        self.progress = progress
        self.total = total
        self.done = 0
        self.head = GENESIS_HASH
        self.frames = _Frames()
        self.recorded_frames: Counter[str] = Counter()  # per partition, before the recorded end
        self.last: tuple[SegmentRef, int] | None = None  # the newest segment read, and where it ends
        self.previous: SegmentRef | None = None
        # The newest frame before the recorded end: (segment, offset, end offset, sequence, hash).
        self.newest_recorded: tuple[SegmentRef, int, int, int, str] | None = None
        self.pending = set(snapshot.pending) if snapshot else set()
        # Frames past the recorded end whose outbox row was not pending at the snapshot: a batch
        # committed since, or another database's frames; told apart after the scan.
        self.unexplained: list[tuple[SegmentRef, int, int, str, str]] = []

    def recorded(self, ref: SegmentRef, offset: int) -> bool:
        """Whether the frame at ``ref:offset`` lies before the end the snapshot recorded."""
        end = self.snapshot.end if self.snapshot else None
        return end is not None and (ref.partition, ref.ordinal, offset) < end

    def segment(self, ref: SegmentRef, read: SegmentRead) -> None:
        report = self.report
        report.segments += 1
        report.bytes += read.size
        where = str(ref)
        self._check_numbering(ref)
        index = 0
        for frame in read.frames:
            index += 1
            at = f"{where}@{frame.offset}"
            try:
                head = read_head(frame.payload)
            except EnvelopeError as exc:
                report.add_problem(at, f"not an envelope: {exc}")
                self.head = payload_hash(frame.payload)
                continue
            expected = ledger_sequence(ref.ordinal, index)
            if head.ledger_sequence != expected:
                report.add_problem(at, f"ledger_sequence {head.ledger_sequence}, expected {expected} (frame {index})")
            if head.prev_hash != self.head:
                report.add_problem(
                    at,
                    "prev_hash does not match the previous frame: a frame was removed, inserted, "
                    "edited or moved before this one",
                )
            self.head = payload_hash(frame.payload)
            if head.outbox_id is None or head.operation is None:
                report.add_problem(at, "envelope lacks outbox_id/operation (not written by this ledger's writer)")
                continue
            if self.snapshot is None:
                continue
            if not self.recorded(ref, frame.offset):
                report.unrecorded += 1
                if (
                    head.outbox_id,
                    head.operation,
                    head.signal_id,
                ) not in self.pending and len(self.unexplained) < MAX_UNEXPLAINED:
                    self.unexplained.append((ref, frame.offset, head.outbox_id, head.operation, head.signal_id))
                continue
            self.newest_recorded = (ref, frame.offset, frame.end, head.ledger_sequence, self.head)
            self.recorded_frames[str(ref.partition)] += 1
            self.frames.outbox_ids.append(head.outbox_id)
            self.frames.save_keys.append(_save_key(head.outbox_id, head.signal_id))
            if head.operation == Operation.CREATE:
                self.frames.creates.append(_digest(head.signal_id))
            elif head.operation == Operation.DELETE:
                self.frames.deletes.append(_digest(head.signal_id))
            if self.frames.contracts is not None and head.operation != Operation.DELETE:
                try:
                    contract = _framed_contract(frame.payload)
                except ValueError:
                    report.add_problem(at, "envelope has no signal contract after its own fields")
                    continue
                self.frames.contracts[_digest(head.signal_id)] = _digest_bytes(contract)
        report.frames += index
        if not isinstance(read.end, CleanEnd):
            damage = (
                f"torn tail ({read.end.reason}, {read.end.torn_bytes} bytes)"
                if isinstance(read.end, TornTail)
                else read.end.describe()
            )
            if self.snapshot is not None and not self.recorded(ref, read.end.offset):
                report.notes.append(
                    f"{where}@{read.end.offset}: {damage} past the recorded end: an unacknowledged write, "
                    "which the next drain copies aside and cuts"
                )
            else:
                report.add_problem(f"{where}@{read.end.offset}", damage)
        self.last = (ref, read.end.offset)
        self.previous = ref
        self.done += _size(ref)  # 0 for a segment moved since it was read: a progress bar, not a fault
        if self.progress:
            self.progress(self.done, self.total)

    def gap(self, partition: PartitionName, path: Path, rows: dict[str, dict] | None) -> None:
        """A purged partition: its tombstone carries the chain across, and its deletes count."""
        report = self.report
        report.purged += 1
        where = f"{partition} (purged)"
        try:
            tombstone = read_tombstone(path)
            if tombstone.partition != partition:
                raise ValueError(f"it names partition {tombstone.partition}")
        except ValueError as exc:
            report.add_problem(str(path), f"not a tombstone ({exc}): the chain cannot be followed across {partition}")
            return
        report.purged_frames += tombstone.frames
        if tombstone.frames:
            if tombstone.chain_start != self.head:
                report.add_problem(
                    where,
                    f"its tombstone's chain_start {tombstone.chain_start[:12]} is not the hash of the frame before "
                    f"it, {self.head[:12]}: a partition before it was changed, or the tombstone was",
                )
            if tombstone.first_sequence != ledger_sequence(1, 1):
                report.add_problem(where, f"its tombstone's first_sequence {tombstone.first_sequence} is not segment "
                                          "1's first frame")  # fmt: skip
            self.head = tombstone.chain_head
        if self.snapshot is not None:
            self.frames.deletes.extend(_digest(signal_id) for signal_id in tombstone.deletes)
        if rows is None:
            return
        row = rows.get(str(partition))
        if row is None:
            report.notes.append(f"{where}: its tombstone has no row in this database to be checked against")
            return
        differ = [f"{key} {getattr(tombstone, key)!r} (row: {row[key]!r})" for key in CHAINED_FIELDS
                  if getattr(tombstone, key) != row[key]]  # fmt: skip
        if differ:
            report.add_problem(where, f"its tombstone disagrees with its row: {'; '.join(differ)}")

    def _check_numbering(self, ref: SegmentRef) -> None:
        """Segments are numbered from 1 in each partition: a gap is a segment that was removed."""
        previous = self.previous
        expected = previous.ordinal + 1 if previous is not None and previous.partition == ref.partition else 1
        if ref.ordinal > expected:
            missing = ", ".join(f"signals-{n:03d}.wal" for n in range(expected, min(ref.ordinal, expected + 5)))
            more = "..." if ref.ordinal - expected > 5 else ""
            self.report.add_problem(
                f"{ref.partition}/{missing}{more}", f"segment missing: the partition goes on with {ref.path.name}"
            )


@dataclass(frozen=True, slots=True)
class _SegmentSummary:
    name: str
    frames: int
    size: int
    sha256: str


def _check_manifest(
    report: VerifyReport, partition: PartitionName, directory: Path, reads: list[_SegmentSummary]
) -> None:
    sealed = (directory / SEALED_FILE).exists()
    manifest = read_manifest(directory)
    if manifest is None:
        if sealed:
            report.add_problem(str(partition), "sealed, but _manifest.json is missing")
        return
    if not sealed:
        report.add_problem(
            str(partition), "has a manifest but no _SEALED marker: sealing was interrupted; run `ledger seal`"
        )
    listed = {entry.get("file"): entry for entry in manifest.get("segments", [])}
    present = {read.name: read for read in reads}
    for name in sorted(listed.keys() - present.keys()):
        report.add_problem(f"{partition}/{name}", "listed in the manifest but missing")
    for name in sorted(present.keys() - listed.keys()):
        report.add_problem(f"{partition}/{name}", "present but not in the manifest (appended after sealing?)")
    for name in sorted(listed.keys() & present.keys()):
        entry, read = listed[name], present[name]
        expected = (entry.get("record_count"), entry.get("size_bytes"), str(entry.get("checksum", "")))
        actual = (read.frames, read.size, f"sha256:{read.sha256}")
        if expected != actual:
            report.add_problem(
                f"{partition}/{name}",
                f"does not match its manifest: frames/bytes/checksum {actual}, manifest says {expected}",
            )
    if manifest.get("total_records") != sum(read.frames for read in reads):
        report.add_problem(
            str(partition), f"manifest total_records {manifest.get('total_records')} does not match the frames"
        )


def _reconcile(
    report: VerifyReport, frames: _Frames, snapshot: _Snapshot, last: tuple | None, newest: tuple | None
) -> set[int]:
    """Add the reconciliation's problems; return the digests of framed signals the database lacks."""
    keys = sorted(frames.save_keys)
    doubled = {a for a, b in zip(keys, keys[1:], strict=False) if a == b}
    if doubled:  # rare: name the rows, by a second look at the frames in order
        rows = {outbox_id for outbox_id, key in zip(frames.outbox_ids, frames.save_keys, strict=True) if key in doubled}
        for outbox_id in sorted(rows):
            report.add_problem("ledger", f"a save of outbox row {outbox_id} is framed more than once")
    report.pending = len(snapshot.pending)
    for outbox_id, _, signal_id in snapshot.pending:
        key = _save_key(outbox_id, signal_id)
        position = bisect.bisect_left(keys, key)
        if position < len(keys) and keys[position] == key:
            report.add_problem("outbox", f"row {outbox_id} ({signal_id}) is framed before the recorded end but "
                                         "still pending")  # fmt: skip
    del keys

    creates, deletes = array("q", sorted(frames.creates)), array("q", sorted(frames.deletes))
    waiting = {_digest(signal_id) for _, operation, signal_id in snapshot.pending if operation == Operation.CREATE}
    # A delete committed but not framed yet: its signal is gone from the table, not around the ledger.
    leaving = {_digest(signal_id) for _, operation, signal_id in snapshot.pending if operation == Operation.DELETE}

    def live(digest: int) -> int:
        return _count(creates, digest) - _count(deletes, digest)

    report.signals = len(snapshot.signals)
    unframed: set[int] = set()
    matched = 0
    for digest in snapshot.signals:
        count = live(digest)
        if count == 1 and digest not in leaving:  # counted on both sides alike (framed_live)
            matched += 1
        elif not (count == 0 and digest in waiting or count == 1 and digest in leaving):
            # (a create not framed yet; a delete committed after the signals were read, or a
            # delete and the save that put it back, both waiting; a row put back around the
            # ledger while its delete waits is ``snapshot.put_back``)
            unframed.add(digest)
    for signal_id in snapshot.put_back:
        report.add_problem(
            f"signal {signal_id}",
            "is in the database while its delete waits in the outbox and no save put it back: it was "
            "inserted around the ledger",
        )
    if unframed:  # name them: a second pass over the table, only when something is wrong
        for signal_id in Signal.objects.values_list("signal_id", flat=True).iterator(10_000):
            digest = _digest(signal_id)
            if digest in unframed:
                count = live(digest)
                what = "has no create frame" if count <= 0 else f"has {count} live create frames"
                report.add_problem(f"signal {signal_id}", what)
    framed_live = sum(1 for digest, _ in groupby(creates) if live(digest) == 1 and digest not in leaving)
    _check_recorded_end(report, snapshot, last, newest)
    if framed_live <= matched:
        return set()
    # Only when something is wrong: which ones, for ``_name_missing`` to find in the frames.
    stored = array("q", sorted(snapshot.signals))
    return {
        digest
        for digest, _ in groupby(creates)
        if live(digest) == 1 and digest not in leaving and _count(stored, digest) == 0
    }


def _name_missing(
    report: VerifyReport, missing: set[int], refs: list[SegmentRef], directories: tuple[Path, ...]
) -> None:
    """Name each framed signal that is gone from the database with no delete frame: a second
    read of the frames, only when there are some."""
    named: dict[int, tuple[str, str]] = {}
    for ref in refs:
        ref, read = _read_moving(ref, directories)
        for frame in read.frames:
            try:
                head = read_head(frame.payload)
            except EnvelopeError:
                continue
            digest = _digest(head.signal_id) if head.signal_id else None
            if digest in missing and head.operation == Operation.CREATE:
                named[digest] = (head.signal_id, f"{ref}@{frame.offset}")
    for signal_id, at in sorted(named.values()):
        report.add_problem(
            f"signal {signal_id}",
            f"is framed (created at {at}) but missing from the database, with no delete frame to explain it: "
            "it was deleted around the ledger",
        )


def _count(values, value: int) -> int:
    return bisect.bisect_right(values, value) - bisect.bisect_left(values, value)


def _check_recorded_end(report: VerifyReport, snapshot: _Snapshot, last: tuple | None, newest: tuple | None) -> None:
    """The newest recorded frame ends where the writer state says, with its sequence and chain head."""
    files_end = (last[0].partition, last[0].ordinal, last[1]) if last else None
    if snapshot.end is not None and (files_end is None or files_end < snapshot.end):
        shown = f"{snapshot.end[0]}/signals-{snapshot.end[1]:03d}.wal@{snapshot.end[2]}"
        report.add_problem("writer state", f"records frames up to {shown}, but the files end before that")
    elif snapshot.end is not None:
        if newest is None:
            report.add_problem("writer state", "records an end, but no frame lies before it")
        else:
            ref, offset, end_offset, sequence, head = newest
            at = f"{ref}@{offset}"
            if (ref.partition, ref.ordinal, end_offset) != snapshot.end:
                report.add_problem(
                    "writer state",
                    f"records the end at {snapshot.end[0]}/signals-{snapshot.end[1]:03d}.wal@{snapshot.end[2]}, "
                    f"which is not where a frame ends (the newest before it ends at {ref}@{end_offset})",
                )
            elif head != snapshot.chain_head:
                report.add_problem(
                    at,
                    f"the newest frame hashes to {head[:12]}, but the writer recorded chain head "
                    f"{snapshot.chain_head[:12]}: it was changed after it was written",
                )
            elif sequence != snapshot.last_sequence:
                report.add_problem(
                    at, f"the newest frame has sequence {sequence}, the writer recorded {snapshot.last_sequence}"
                )
    if report.unrecorded:
        report.notes.append(
            f"{report.unrecorded} frame(s) past the end recorded when verify started: a batch committed since, "
            "or one a dead writer appended, which the next drain records"
        )


def _check_frame_refs(
    report: VerifyReport,
    refs: dict[str, int],
    frames: Counter[str],
    listed: list[tuple[PartitionName, Path]],
    long_term: Path,
    rows: dict[str, dict],
) -> None:
    """Each partition has one frame reference per recorded frame. A purged one is left out: a
    purge committed since the snapshot deleted its references with it. So is one whose purge
    committed (its row purged, its tombstone written, its references gone) and stopped before it
    removed the directory, which is read meanwhile: the next ledger sweep finishes it. (A
    tombstone whose row is not purged is a purge that never committed: its references stay.)"""
    purged = {str(partition) for partition, path in listed if is_tombstone(path)}
    for partition, path in listed:
        row = rows.get(str(partition))
        committed = row is not None and row["tier"] == Tier.PURGED
        if not is_tombstone(path) and committed and tombstone_path(long_term, partition).exists():
            purged.add(str(partition))
            report.notes.append(
                f"{partition}: purged (its tombstone is written) but its directory {path} is still there, "
                "from a purge that stopped before removing it: the next ledger sweep removes it"
            )
    for name in sorted((refs.keys() | frames.keys()) - purged):
        if refs.get(name, 0) != frames[name]:
            report.add_problem(
                f"frame references of {name}",
                f"{refs.get(name, 0)} in the database for {frames[name]} recorded frame(s): the signal pages' "
                "index of frames disagrees with the ledger; run `manage.py ledger reindex`",
            )


def _check_foreign(report: VerifyReport, unexplained: list[tuple[SegmentRef, int, int, str, str]]) -> None:
    """Frames past the recorded end that this database's writer neither recorded since the
    snapshot nor can adopt (their outbox row is not pending here) were written for another
    database: its writer will refuse to go on until they are explained."""
    if not unexplained:
        return
    with transaction.atomic():
        state = lock_writer_state(wait=True)
        end = (
            (PartitionName.parse(state.partition), segment_ordinal(state.segment), state.offset)
            if state.segment
            else None
        )
        pending = set(LedgerOutbox.objects.filter(id__in=[row[2] for row in unexplained]).saves())
    foreign = [
        row
        for row in unexplained
        if not (end is not None and (row[0].partition, row[0].ordinal, row[1]) < end) and tuple(row[2:]) not in pending
    ]
    report.foreign = len(foreign)
    if foreign:
        ref, offset, outbox_id, operation, signal_id = foreign[0]
        report.stalled.append(
            f"{len(foreign)} frame(s) in LEDGER_DIR past this database's recorded end were not written for its "
            f"outbox (the first at {ref}@{offset}: outbox row {outbox_id}, {operation} {signal_id}): another "
            "database's writer shares LEDGER_DIR, or this database was recreated. The writer refuses to go on: "
            "point LEDGER_DIR at this database's own ledger, or rebuild a new database with `ledger replay`"
        )


class _PurgedMeanwhile(Exception):
    """A partition listed as on disk was purged (its tombstone written, its files removed) before
    verify read it: its frames, chain and references are no longer what was listed."""

    def __init__(self, partition: PartitionName) -> None:
        super().__init__(str(partition))
        self.partition = partition


# Retention's sweep purges the partitions past the cutoff one after another; a verify that met one
# of them starts again (with a new snapshot), and each start meets fewer.
_STARTS = 5


def ledger_verify(
    root: Path | None = None,
    archive: Path | None = None,
    long_term: Path | None = None,
    *,
    reconcile: bool = True,
    contents: bool = False,
    progress: Progress | None = None,
) -> VerifyReport:
    """``contents`` also compares every signal's stored contract with its latest frame's (it reads
    every contract from the database, outside the writer's lock: an update committed meanwhile
    is reported, and passes on the next run)."""
    directories = (
        Path(root or settings.LEDGER_DIR),
        Path(archive or settings.LEDGER_ARCHIVE_DIR),
        Path(long_term or settings.LEDGER_LONG_TERM_DIR),
    )
    purged_meanwhile: list[str] = []
    for start in range(1, _STARTS + 1):
        try:
            report = _verify(directories, reconcile, contents, progress)
        except _PurgedMeanwhile as exc:
            if start == _STARTS:
                raise FileNotFoundError(
                    errno.ENOENT,
                    f"partitions were purged while verify read them ({', '.join(purged_meanwhile)}, "
                    f"{exc.partition}); run it again once the retention sweep is done",
                    str(exc.partition),
                ) from None
            purged_meanwhile.append(str(exc.partition))
            continue
        report.notes[:0] = [f"{name}: purged while verify read it: verify started again" for name in purged_meanwhile]
        return report
    raise AssertionError("unreachable")


def _verify(
    directories: tuple[Path, Path, Path], reconcile: bool, contents: bool, progress: Progress | None
) -> VerifyReport:
    report = VerifyReport()
    snapshot = _database_snapshot() if reconcile else None
    # Read before the files are listed: a partition a row names was on disk (or purged) by then.
    rows = _partition_rows() if reconcile else None
    refs = ledger_segments(*directories)
    verifier = _Verifier(report, progress, sum(_size(ref) for ref in refs), snapshot)
    if snapshot is not None and contents:
        verifier.frames.contracts = {}
    listed = ledger_partitions(*directories, tombstones=True)
    for partition, directory in listed:
        report.partitions += 1
        if is_tombstone(directory):
            verifier.gap(partition, directory, rows)
            continue
        summaries = []
        for ref in (ref for ref in refs if ref.partition == partition):
            ref, read = _read_moving(ref, directories)
            verifier.segment(ref, read)
            summaries.append(_SegmentSummary(ref.name, len(read.frames), read.size, read.sha256))
            del read  # one segment in memory at a time
        directory = _where_now(partition, directory, directories)
        _check_manifest(report, partition, directory, summaries)
        if report.ok and (directory / SEALED_FILE).exists():
            LedgerPartition.objects.filter(name=str(partition)).update(verified_at=timezone.now())
    if rows is not None:
        _check_missing_partitions(report, rows, {str(partition) for partition, _ in listed})
    if snapshot is not None:
        missing = _reconcile(report, verifier.frames, snapshot, verifier.last, verifier.newest_recorded)
        if missing:
            _name_missing(report, missing, refs, directories)
        _check_frame_refs(report, snapshot.frame_refs, verifier.recorded_frames, listed, directories[2], rows)
        if verifier.frames.contracts is not None:
            _compare_contents(report, verifier.frames.contracts)
        _check_foreign(report, verifier.unexplained)
        report.stalled[:0] = snapshot.health.reasons
    return report


# The columns that copy the contract, compared with the row ``ledger.services.restore`` makes
# of it (the one rule by which import and replay turn a contract into columns). ``created_at``
# and ``pushed`` say how the row came to be, not what the contract says.
_COPIED_COLUMNS = tuple(name for name in SignalRow._fields if name not in {"created_at", "contract", "pushed"})


def _compare_contents(report: VerifyReport, framed: dict[int, int]) -> None:
    """Each signal's stored contract is byte for byte the one its latest frame holds, and every
    column that copies the contract says what the contract says."""
    rows = Signal.objects.values_list("signal_id", Cast("contract", output_field=TextField()), *_COPIED_COLUMNS)
    for signal_id, contract, *columns in rows.iterator(chunk_size=2_000):
        expected = framed.get(_digest(signal_id))
        if expected is not None and expected != _digest_bytes(contract.encode()):
            report.add_problem(f"signal {signal_id}", "its stored contract differs from the one its latest frame "
                                                      "holds: it was changed around the ledger")  # fmt: skip
        try:
            row = restore_signal({"signal": orjson.loads(contract), "emitted_at": _ANY_TIME}).row
        except (ContractError, orjson.JSONDecodeError) as exc:
            report.add_problem(f"signal {signal_id}", f"its stored contract cannot be read: {exc}")
            continue
        for name, stored in zip(_COPIED_COLUMNS, columns, strict=True):
            if stored != getattr(row, name):
                report.add_problem(
                    f"signal {signal_id}",
                    f"column {name} is {_show(stored)}, its contract says {_show(getattr(row, name))}: "
                    "it was changed around the ledger",
                )


_ANY_TIME = "1970-01-01T00:00:00+00:00"  # created_at is the row's own, not the contract's


def _show(value) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _size(ref: SegmentRef) -> int:
    try:
        return ref.path.stat().st_size
    except FileNotFoundError:
        return 0


def _partition_rows() -> dict[str, dict]:
    return {row["name"]: row for row in LedgerPartition.objects.values("name", "tier", *CHAINED_FIELDS)}


def _check_missing_partitions(report: VerifyReport, rows: dict[str, dict], listed: set[str]) -> None:
    """Every partition the database records is on disk, or purged with a tombstone."""
    for name in sorted(rows.keys() - listed, key=PartitionName.parse):
        row = rows[name]
        report.add_problem(
            name,
            f"recorded ({row['tier']}, {row['frames']} frames), but in none of LEDGER_DIR, LEDGER_ARCHIVE_DIR "
            "and LEDGER_LONG_TERM_DIR, and no tombstone says it was purged",
        )


def _where_now(partition: PartitionName, directory: Path, directories: tuple[Path, ...]) -> Path:
    """Where a partition listed in ``directory`` is now: a tier move since then put its copy, manifest
    and marker included, in an older tier before it removed this one (else its manifest goes unchecked)."""
    if directory.is_dir():
        return directory
    for root in directories[directories.index(directory.parent) + 1 :] if directory.parent in directories else ():
        if (root / str(partition)).is_dir():
            return root / str(partition)
    return directory


def _read_moving(ref: SegmentRef, directories: tuple[Path, ...]) -> tuple[SegmentRef, SegmentRead]:
    """Read a segment that the tier task may have compressed or moved since it was listed."""
    try:
        return ref, read_segment(ref)
    except FileNotFoundError:
        located = read_located(ref.partition, ref.name, *directories)
        if located is None:
            if tombstone_path(directories[2], ref.partition).exists():
                raise _PurgedMeanwhile(ref.partition) from None
            raise
        _tier, moved, data = located
        return moved, read_segment(moved, data)
