"""``ledger verify``: the ledger is whole, chained, sealed as its manifests say, and matches the database.

Checks, in one streaming pass over every segment in write order (hot, warm and cold):

* frames: lengths and CRCs (``ledger.wal``); a bad frame is reported at partition/segment/offset;
* order: ``ledger_sequence`` is (segment ordinal << 32) | index, and each ``prev_hash`` is the
  SHA-256 of the previous payload, so a removed, inserted, edited or swapped frame is found at
  the first frame after the change;
* seals: a sealed partition's manifest lists exactly its segments, with their counts, sizes,
  checksums, sequences and chain ends;
* reconciliation: every outbox row was framed at most once; every signal in the database has
  exactly one live create frame (or is still waiting in the outbox); every frame's signal exists
  unless a later delete frame explains its absence; nothing lies past the writer's recorded end.

Memory stays flat in the ledger's size: one segment is read at a time, and per frame only 8-byte
numbers are kept (outbox ids and a 64-bit digest of the signal id), in arrays.
"""

from __future__ import annotations

import bisect
import hashlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ledger.envelope import GENESIS_HASH, EnvelopeError, payload_hash, read_head
from ledger.layout import SEALED_FILE, PartitionName, read_manifest
from ledger.models import LedgerOutbox, LedgerPartition, LedgerWriterState, Operation
from ledger.problems import ProblemLog
from ledger.reading import SegmentRead, SegmentRef, ledger_partitions, ledger_segments, read_segment
from ledger.wal import Corruption, TornTail, ledger_sequence
from signals.models import Signal

__all__ = ["VerifyReport", "ledger_verify"]

Progress = Callable[[int, int], None]


@dataclass
class VerifyReport(ProblemLog):
    partitions: int = 0
    segments: int = 0
    frames: int = 0
    bytes: int = 0
    signals: int = 0
    pending: int = 0  # outbox rows not framed yet (the writer has not run since their commit)


def _digest(signal_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(signal_id.encode(), digest_size=8).digest(), "big", signed=True)


@dataclass
class _Frames:
    """What reconciliation needs of every frame, as flat arrays."""

    outbox_ids: array = field(default_factory=lambda: array("q"))
    creates: array = field(default_factory=lambda: array("q"))
    deletes: array = field(default_factory=lambda: array("q"))


class _Verifier:
    def __init__(self, report: VerifyReport, progress: Progress | None, total: int, reconcile: bool) -> None:
        self.report = report
        self.reconcile = reconcile
        self.progress = progress
        self.total = total
        self.done = 0
        self.head = GENESIS_HASH
        self.frames = _Frames()
        self.last: tuple[SegmentRef, int, int] | None = None  # segment, end offset, frames in it

    def segment(self, ref: SegmentRef, read: SegmentRead) -> None:
        report = self.report
        report.segments += 1
        report.bytes += read.size
        where = str(ref)
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
            if not self.reconcile:
                continue
            self.frames.outbox_ids.append(head.outbox_id)
            if head.operation == Operation.CREATE:
                self.frames.creates.append(_digest(head.signal_id))
            elif head.operation == Operation.DELETE:
                self.frames.deletes.append(_digest(head.signal_id))
        report.frames += index
        if isinstance(read.end, TornTail):
            report.add_problem(
                f"{where}@{read.end.offset}",
                f"torn tail ({read.end.reason}, {read.end.torn_bytes} bytes): a "
                "write was cut; `ledger drain` copies it aside and truncates",
            )
        elif isinstance(read.end, Corruption):
            report.add_problem(f"{where}@{read.end.offset}", read.end.describe())
        self.last = (ref, read.end.offset, index)
        self.done += ref.path.stat().st_size
        if self.progress:
            self.progress(self.done, self.total)


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


def _reconcile(report: VerifyReport, frames: _Frames, last: tuple | None) -> None:
    outbox_ids = sorted(frames.outbox_ids)
    doubled = sorted({a for a, b in zip(outbox_ids, outbox_ids[1:], strict=False) if a == b})
    for outbox_id in doubled:
        report.add_problem("ledger", f"outbox row {outbox_id} is framed more than once")
    pending = list(LedgerOutbox.objects.order_by("id").values_list("id", "operation", "signal_id"))
    report.pending = len(pending)
    for outbox_id, _, signal_id in pending:
        position = bisect.bisect_left(outbox_ids, outbox_id)
        if position < len(outbox_ids) and outbox_ids[position] == outbox_id:
            report.add_problem(
                "outbox",
                f"row {outbox_id} ({signal_id}) is framed but still pending: a writer died "
                "after appending; `ledger drain` records it",
            )
    del outbox_ids

    creates, deletes = array("q", sorted(frames.creates)), array("q", sorted(frames.deletes))
    waiting = {_digest(signal_id) for _, operation, signal_id in pending if operation == Operation.CREATE}

    def live(digest: int) -> int:
        return _count(creates, digest) - _count(deletes, digest)

    matched = 0
    for (signal_id,) in Signal.objects.values_list("signal_id").iterator(chunk_size=10_000):
        report.signals += 1
        count = live(_digest(signal_id))
        if count == 1:
            matched += 1
        elif count == 0 and _digest(signal_id) in waiting:
            continue
        else:
            report.add_problem(
                f"signal {signal_id}", "has no create frame" if count <= 0 else f"has {count} live creates"
            )
    framed_live = sum(1 for digest, _ in groupby(creates) if live(digest) == 1)
    if framed_live > matched:
        report.add_problem(
            "ledger",
            f"{framed_live - matched} framed signal(s) are missing from the database, with no "
            "delete frame to explain it",
        )
    _check_writer_end(report, last)


def _count(values: list[int], value: int) -> int:
    return bisect.bisect_right(values, value) - bisect.bisect_left(values, value)


def _check_writer_end(report: VerifyReport, last: tuple | None) -> None:
    state = LedgerWriterState.objects.filter(pk=1).first()
    recorded = (state.partition, state.segment, state.offset) if state and state.segment else None
    if last is None:
        if recorded:
            report.add_problem("writer state", f"records frames up to {recorded} but the ledger is empty")
        return
    ref, end_offset, _ = last
    actual = (str(ref.partition), ref.name, end_offset)
    if recorded != actual and not (recorded and ref.compressed):
        report.add_problem(
            "writer state",
            f"records the ledger's end at {recorded}, the files end at {actual}: "
            "frames past the recorded end are not known to the database",
        )


def ledger_verify(
    root: Path | None = None, archive: Path | None = None, *, reconcile: bool = True, progress: Progress | None = None
) -> VerifyReport:
    root = Path(root or settings.LEDGER_DIR)
    archive = Path(archive or settings.LEDGER_ARCHIVE_DIR)
    report = VerifyReport()
    refs = ledger_segments(root, archive)
    verifier = _Verifier(report, progress, sum(ref.path.stat().st_size for ref in refs), reconcile)
    for partition, directory in ledger_partitions(root, archive):
        report.partitions += 1
        summaries = []
        for ref in (ref for ref in refs if ref.partition == partition):
            read = read_segment(ref)
            verifier.segment(ref, read)
            summaries.append(_SegmentSummary(ref.name, len(read.frames), read.size, read.sha256))
            del read  # one segment in memory at a time
        _check_manifest(report, partition, directory, summaries)
        if report.ok and (directory / SEALED_FILE).exists():
            LedgerPartition.objects.filter(name=str(partition)).update(verified_at=timezone.now())
    if reconcile:
        _reconcile(report, verifier.frames, verifier.last)
    return report
