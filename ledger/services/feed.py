"""The ledger as a feed: every committed frame after a position, in write order, as stored.

A downstream consumer (the REST API's ``ledger/frames/``, the webhook deliveries) keeps one
number and asks for what follows it. That number is the frame's **position**: 1 for the first
frame the ledger held, 2 for the next, with no gap but a purged partition's (below), in write
order (partition, then segment, then frame). It is not the envelope's ``ledger_sequence``, which
OMEN's format restarts in every partition (``(segment ordinal << 32) | frame index``); each
served frame carries both.

What a consumer gets:

- **committed frames only**: the ledger ends where the writer recorded its end
  (``LedgerWriterState``: partition and ``last_sequence``). Frames a dying writer appended
  past it are adopted by the next drain, and only then served, so a consumer never sees a
  frame that a crashed run might yet rewrite;
- **each frame once**: a page ends at a frame, and following ``next_after`` from 0 visits
  every frame the ledger holds exactly once. What would make it skip one stops the feed with a
  ``FeedBroken`` instead, of one of two kinds. ``FeedDamaged``: the files disagree with what was
  recorded (a frame missing inside a segment, a segment missing inside a partition, a sealed
  partition whose segments hold fewer frames than its manifest), named by partition, segment and
  offset; reading again gives the same answer. ``FeedUnavailable``: nothing says the ledger is
  damaged, but part of it cannot be read now (a recorded partition in no directory and without
  a tombstone, as when a volume is not mounted; a partition moving under every read); reading
  again later may serve it. A partition moved to another tier (or purged) while a page is read
  is looked for again: the page is read again, so it never counts a moved partition as empty;
- **the stored bytes**: the envelope text as it is in the segment, so a consumer can recompute
  the chain hashes;
- **a purged partition is skipped, its positions kept**: its frames still count (its
  tombstone's frame count, or its row's), so every later frame keeps its position, and a page
  asked for after a position before or inside the gap starts with the first frame after it. A
  consumer sees the skip as a page whose first position is more than ``after + 1`` (and a
  ``partition`` it did not see before); the frames are gone, so it cannot have them, and the
  chain goes on across the gap: the next frame's ``prev_hash`` is the tombstone's chain head
  (``ledger/partitions/`` lists it, tier ``purged``).

Positions are counted from frame counts: a sealed partition's from its ``LedgerPartition`` row
(copied from its manifest, which ``ledger verify`` checks against the files), so it is never
read unless the page starts inside it; an open partition's from an index of each segment
(sequence, offset and end of every frame), built once per process and kept while the file is
unchanged. A page therefore reads only the segments it serves.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ledger.envelope import read_head
from ledger.layout import PartitionName, list_segments, read_tombstone, segment_name, segment_ordinal
from ledger.models import LedgerPartition, LedgerWriterState
from ledger.reading import SegmentRef, is_tombstone, ledger_partitions, segment_data
from ledger.wal import HEADER_SIZE, LedgerError, read_frames, split_ledger_sequence

MAX_PAGE = 1000


class FeedBroken(LedgerError):
    """The ledger cannot be served from here on without skipping a committed frame."""


class FeedDamaged(FeedBroken):
    """The ledger's files disagree with what it recorded, at ``where`` (partition, segment and offset,
    as far as they say where): reading again gives the same answer."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}; run ledger verify")


class FeedUnavailable(FeedBroken):
    """Part of the ledger cannot be read now, and nothing says it is damaged (a volume not mounted, a
    partition moving under every read): reading again later may serve it."""


_INDEX_CACHE_SIZE = 256  # segments; at most ~10,000 frames each, 24 bytes a frame


@dataclass(frozen=True, slots=True)
class FeedFrame:
    position: int
    partition: str
    ledger_sequence: int
    payload: bytes  # the envelope, byte for byte


@dataclass(frozen=True, slots=True)
class FeedPage:
    frames: list[FeedFrame]
    after: int  # what was asked
    end: int  # the position of the last committed frame when the page was read

    @property
    def next_after(self) -> int:
        """What to ask for next: the last frame's position, or ``after`` again if none came."""
        return self.frames[-1].position if self.frames else self.after

    @property
    def has_more(self) -> bool:
        return self.next_after < self.end


@dataclass(frozen=True, slots=True)
class _SegmentIndex:
    signature: tuple[int, int]  # (size, mtime_ns) of the file it was built from
    sequences: array  # of every whole frame, in file order
    offsets: array  # where each frame starts
    ends: array  # where each frame ends


_indexes: OrderedDict[Path, _SegmentIndex] = OrderedDict()
_indexes_lock = threading.Lock()


class _Moved(Exception):
    """A partition or segment listed for this page was moved to another tier (or purged) before it was read."""


# A tier move, compression or purge renames the new copy into place before it removes the old
# one, so reading the page again finds each partition where it now is; only a page read while
# several moves in a row pass under it needs more than a second read.
_READS = 3


def frames_after(after: int, limit: int = 100) -> FeedPage:
    """Up to ``limit`` committed frames at positions after ``after``, in write order.

    ``limit=0`` reads no frame: the page's ``end`` alone, from frame counts and indexes.
    """
    if after < 0:
        raise ValueError(f"after must be 0 or more, got {after}")
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, got {limit}")
    limit = min(limit, MAX_PAGE)
    for read in range(1, _READS + 1):
        try:
            return _page(after, limit)
        except (_Moved, FileNotFoundError) as exc:
            if read == _READS:
                if isinstance(exc, FileNotFoundError):  # listed, then gone before it was read
                    raise FeedUnavailable(
                        f"{exc.filename or exc}: gone on {_READS} reads in a row (moved to another tier?); try again"
                    ) from exc
                raise FeedUnavailable(f"{exc} on {_READS} reads in a row; try again") from None
    raise AssertionError("unreachable")


def _page(after: int, limit: int) -> FeedPage:
    state = LedgerWriterState.objects.filter(pk=1).first()
    end_partition = PartitionName.parse(state.partition) if state and state.partition else None
    if end_partition is None or not state.last_sequence:
        return FeedPage([], after, 0)
    recorded = {
        name: (frames, tier)
        for name, frames, tier in LedgerPartition.objects.filter(sealed_at__isnull=False)
        .values_list("name", "frames", "tier")
        .iterator()
    }
    sealed_frames = {name: frames for name, (frames, _tier) in recorded.items()}

    frames: list[FeedFrame] = []
    position = 0  # frames before the partition or segment being looked at
    directories = (Path(settings.LEDGER_DIR), Path(settings.LEDGER_ARCHIVE_DIR), Path(settings.LEDGER_LONG_TERM_DIR))
    listed = ledger_partitions(*directories, tombstones=True)
    # Rows are read before the directories are listed, and a move or purge puts the new copy (or
    # the tombstone) in place before it removes the old: a recorded partition found nowhere is
    # missing (an unmounted volume, a directory setting changed), not moving. Counted as empty,
    # every later frame would be served at a lower position: consumers would skip that many.
    missing = sorted(recorded.keys() - {str(partition) for partition, _ in listed})
    if missing:
        frames_then, tier = recorded[missing[0]]
        raise FeedUnavailable(
            f"{missing[0]} is recorded ({tier}, {frames_then} frames), but in none of LEDGER_DIR, "
            "LEDGER_ARCHIVE_DIR and LEDGER_LONG_TERM_DIR, and no tombstone says it was purged: the positions "
            "after it are unknown (is a volume missing?); run ledger verify"
        )
    end_ordinal, end_index = split_ledger_sequence(state.last_sequence)
    ended = False  # whether the segment of the writer's recorded end was read
    for partition, directory in listed:
        if partition > end_partition:
            break  # the writer moved there but has not recorded a frame in it yet
        name = str(partition)
        if is_tombstone(directory):  # purged: its positions are skipped, never reused
            position += sealed_frames[name] if name in sealed_frames else _purged_frames(directory)
            ended = ended or partition == end_partition
            continue
        counted = sealed_frames.get(name) if partition != end_partition else None
        if counted is not None and (position + counted <= after or len(frames) == limit):
            position += counted  # wholly before the page, or after it: only its count matters
            continue
        before_partition = position
        where = name  # the end of the partition's last whole frame, once a segment is read
        for expected_ordinal, path in enumerate(list_segments(directory), start=1):
            ref = SegmentRef(partition, segment_ordinal(path.name), path)
            if ref.ordinal != expected_ordinal:
                raise FeedDamaged(f"{name}/{segment_name(expected_ordinal)}", f"missing (found {path.name})")
            index = _index(ref)
            where = _end_of(ref, index)
            whole = _committed_count(ref, index, state.last_sequence if partition == end_partition else None)
            ended = ended or (partition == end_partition and ref.ordinal == end_ordinal)
            first = max(after - position, 0)  # index in this segment of the first frame to serve
            wanted = min(whole, first + limit - len(frames))
            if first < wanted:
                frames.extend(_read(ref, index, first, wanted, position))
            position += whole
            if partition == end_partition and whole < len(index.sequences):
                break  # the recorded end lies in this segment
        if counted is not None and position - before_partition != counted:
            # Served on, every later frame would carry a wrong position: the consumer would skip
            # some and be given others twice.
            if not directory.is_dir():
                raise _Moved(f"{name} left {directory.parent} while the page was read")
            raise FeedDamaged(
                where,
                f"the partition's frames end here, after {position - before_partition}; its manifest counts {counted}",
            )
    if not ended:
        # A sealed partition found nowhere stopped the page above; the writer's, open, has no row
        # and is looked for here. Counted short of its recorded end, the page's end would be too
        # low: a consumer's cursor past it would look like one this ledger never gave.
        found = next((directory for partition, directory in listed if partition == end_partition), None)
        if found is None:
            raise FeedUnavailable(
                f"{end_partition}, where the writer recorded the ledger's end, is in none of LEDGER_DIR, "
                "LEDGER_ARCHIVE_DIR and LEDGER_LONG_TERM_DIR: where the ledger ends is unknown (is a volume "
                "missing?); run ledger verify"
            )
        if not found.is_dir():
            raise _Moved(f"{end_partition} left {found.parent} while the page was read")
        raise FeedDamaged(
            f"{end_partition}/{segment_name(end_ordinal)}",
            f"missing, though the writer recorded the ledger's end in it (frame {end_index})",
        )
    return FeedPage(frames, after, position)


def _purged_frames(path: Path) -> int:
    try:
        return read_tombstone(path).frames
    except ValueError as exc:
        raise FeedDamaged(str(path), f"not a tombstone ({exc}): positions after it are unknown") from None


def _committed_count(ref: SegmentRef, index: _SegmentIndex, last_sequence: int | None) -> int:
    """How many of the segment's frames count: all, or those up to the writer's recorded end."""
    count = len(index.sequences)
    if last_sequence is not None:
        end_ordinal, end_index = split_ledger_sequence(last_sequence)
        if ref.ordinal > end_ordinal:
            return 0
        if ref.ordinal == end_ordinal:
            if end_index > count:
                raise FeedDamaged(
                    _end_of(ref, index), f"frame {count + 1} is not here whole; the writer recorded {end_index}"
                )
            count = end_index
    return count


def _end_of(ref: SegmentRef, index: _SegmentIndex) -> str:
    """Where the segment's last whole frame ends, as a damage report names it."""
    return f"{ref}@{index.ends[-1] if index.ends else 0}"


def _read(ref: SegmentRef, index: _SegmentIndex, start: int, stop: int, before: int) -> list[FeedFrame]:
    """Frames ``start`` to ``stop - 1`` of the segment, read from the first one needed."""
    low, high = index.offsets[start], index.ends[stop - 1]
    if ref.compressed:
        chunk = memoryview(segment_data(ref.path))[low:high]
    else:
        with open(ref.path, "rb") as segment:
            segment.seek(low)
            chunk = segment.read(high - low)
    scan = read_frames(chunk)
    if len(scan.frames) < stop - start:
        # The file changed under its index (rewritten in place): not a state to serve from.
        raise FeedDamaged(f"{ref}@{low}", "the frames no longer match what was indexed")
    return [
        FeedFrame(before + start + i + 1, str(ref.partition), index.sequences[start + i], bytes(frame.payload))
        for i, frame in enumerate(scan.frames[: stop - start])
    ]


def _index(ref: SegmentRef) -> _SegmentIndex:
    stat = ref.path.stat()
    signature = (stat.st_size, stat.st_mtime_ns)
    with _indexes_lock:
        cached = _indexes.get(ref.path)
        if cached is not None and cached.signature == signature:
            _indexes.move_to_end(ref.path)
            return cached
    sequences, offsets, ends = array("q"), array("q"), array("q")
    # A torn tail past the recorded end is the writer's to adopt or cut: the whole frames before
    # it are indexed, and only committed ones (by the recorded end) are ever served.
    for frame in read_frames(segment_data(ref.path)).frames:
        sequence = read_head(frame.payload).ledger_sequence
        expected = (ref.ordinal << 32) | (len(sequences) + 1)
        if sequence != expected:
            raise FeedDamaged(
                f"{ref}@{frame.offset}",
                f"frame {len(sequences) + 1} carries sequence {sequence}, not {expected} "
                "(a frame is missing or out of place)",
            )
        sequences.append(sequence)
        offsets.append(frame.offset)
        ends.append(frame.offset + HEADER_SIZE + frame.length)
    index = _SegmentIndex(signature, sequences, offsets, ends)
    with _indexes_lock:
        _indexes[ref.path] = index
        _indexes.move_to_end(ref.path)
        while len(_indexes) > _INDEX_CACHE_SIZE:
            _indexes.popitem(last=False)
    return index
