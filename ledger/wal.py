"""The WAL frame codec and the segment reader / writer.

Standard library only: no Django import, so the codec can be used by tools, tests and
recovery without settings.

Frame (the format the original OMEN wrote; its ledgers must stay readable)::

    [u32 big-endian payload length][u32 big-endian zlib.crc32(payload)][payload: UTF-8 JSON]

A payload is never empty (an envelope is a JSON object) and never longer than
``MAX_FRAME_BYTES``. A length field is never trusted for an allocation: it is checked against
the cap and against the bytes actually present before anything is read, so a reader never
allocates more than the data it was given.

How the end of a scan is classified
-----------------------------------
Reading stops at the first *bad frame*: a short header, a zero length, a length above the cap,
a length larger than the bytes left (short payload), or a CRC mismatch. What it means depends on
what follows it:

* **Clean end** -- the data ends exactly at a frame boundary.
* **Corruption** -- a length above ``MAX_FRAME_BYTES``, wherever it is (our writer can never
  produce one, and a torn write only shortens what was written, it does not change a header);
  or any other bad frame that is followed, at any later offset, by bytes that parse as a valid
  frame (length 1..cap that fits, CRC matches). Valid data after a bad frame proves the bad frame
  is not the remains of the last write, so truncating there would destroy frames: recovery
  refuses and an operator acts.
* **Torn tail** -- any other bad frame: nothing valid follows it. This covers the last write cut
  at any byte (short header / short payload), a CRC mismatch on the last frame, and a last write
  whose pages reached the disk as zeros (a zero length is never a valid frame, so a zero-filled
  tail never "parses"). Recovery copies those bytes aside and truncates to the last good frame.

A valid frame header starts with 0x00 (or 0x01 for a payload of exactly the cap), and JSON text
never contains those bytes, so the search for a later valid frame jumps across JSON in C
(``re``) and cannot mistake a piece of a torn JSON payload for a frame. Its worst case is
quadratic only on adversarial binary data.

What the codec cannot see: a whole frame removed, frames reordered or duplicated all leave
valid frames behind. Those are found by the envelope's ``ledger_sequence`` and ``prev_hash``
chain, one layer up.
"""

from __future__ import annotations

import enum
import os
import re
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "MAX_FRAME_BYTES",
    "CleanEnd",
    "Corruption",
    "FileIO",
    "Frame",
    "FrameFault",
    "FrameReader",
    "LedgerCorruption",
    "LedgerError",
    "LedgerNeedsRecovery",
    "LedgerWriteError",
    "OsFileIO",
    "RecoveryResult",
    "Scan",
    "ScanEnd",
    "SegmentWriter",
    "TornTail",
    "cut_tail",
    "encode_frame",
    "encode_frames",
    "ledger_sequence",
    "read_frames",
    "recover",
    "split_ledger_sequence",
]

HEADER = struct.Struct(">II")
HEADER_SIZE = HEADER.size  # 8
MAX_FRAME_BYTES = 16 * 1024 * 1024  # 16 MiB: payload length cap

_SEQUENCE_PART_MAX = 0xFFFFFFFF
# Every valid header starts with 0x00 (length < 2**24) or 0x01 (length == 2**24 == the cap).
_HEADER_START = re.compile(rb"[\x00\x01]")
assert MAX_FRAME_BYTES <= 0x01000000, "the resync search assumes the cap fits in 0x01000000"


# --------------------------------------------------------------------------- errors


class LedgerError(Exception):
    """Base of every ledger failure."""


class LedgerCorruption(LedgerError):
    """A bad frame that is not a torn tail: the segment is left untouched for an operator."""

    def __init__(self, path: Path | str | None, offset: int, reason: str) -> None:
        self.path = Path(path) if path is not None else None
        self.offset = offset
        self.reason = str(reason)
        super().__init__(f"ledger corruption in {self.path} at offset {offset}: {self.reason}")


class LedgerNeedsRecovery(LedgerError):
    """A segment ends in a torn tail; run ``recover`` before appending to it."""

    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        self.path = Path(path)
        self.offset = offset
        self.reason = str(reason)
        super().__init__(f"{self.path} has a torn tail at offset {offset} ({self.reason}): recover it first")


class LedgerWriteError(LedgerError):
    """A write or fsync failed (or an earlier one did): nothing from this writer can be trusted further."""


# --------------------------------------------------------------------------- frames


class FrameFault(enum.StrEnum):
    SHORT_HEADER = "short_header"
    SHORT_PAYLOAD = "short_payload"  # length larger than the bytes left
    CRC_MISMATCH = "crc_mismatch"
    LENGTH_OVER_CAP = "length_over_cap"
    ZERO_LENGTH = "zero_length"


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    length: int
    crc: int
    payload: bytes

    @property
    def end(self) -> int:
        """Offset of the byte right after this frame."""
        return self.offset + HEADER_SIZE + self.length


@dataclass(frozen=True, slots=True)
class CleanEnd:
    """The data ends exactly after the last good frame."""

    offset: int


@dataclass(frozen=True, slots=True)
class TornTail:
    """A bad frame at ``offset`` with nothing valid after it: the remains of the last write."""

    offset: int
    reason: FrameFault
    torn_bytes: int  # bytes from ``offset`` to the end of the data


@dataclass(frozen=True, slots=True)
class Corruption:
    """A bad frame at ``offset`` that is not a torn tail."""

    offset: int
    reason: FrameFault
    resumes_at: int | None  # offset of the first valid frame found after it, if any

    def describe(self) -> str:
        after = f"; a valid frame follows at offset {self.resumes_at}" if self.resumes_at is not None else ""
        return f"{self.reason.value}{after}"


ScanEnd = CleanEnd | TornTail | Corruption


@dataclass(frozen=True, slots=True)
class Scan:
    frames: tuple[Frame, ...]
    end: ScanEnd

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def good_size(self) -> int:
        """Offset right after the last good frame (where a recovery truncates)."""
        return self.end.offset


def encode_frame(payload: bytes | bytearray | memoryview) -> bytes:
    """One frame: header + payload. Refuses an empty payload or one above the cap."""
    payload = bytes(payload)
    length = len(payload)
    if length == 0:
        raise ValueError("a frame payload cannot be empty")
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"frame payload of {length} bytes exceeds MAX_FRAME_BYTES ({MAX_FRAME_BYTES})")
    return HEADER.pack(length, zlib.crc32(payload)) + payload


def encode_frames(payloads: Iterable[bytes], *, base_offset: int = 0) -> tuple[bytes, list[int]]:
    """All frames as one buffer, and the offset each starts at (counted from ``base_offset``).

    Headers and payloads are joined once, not concatenated per frame: on a batch of thousands
    of frames that halves the encoding time, which is most of an append when fsync is fast.
    """
    parts: list[bytes] = []
    offsets: list[int] = []
    position = base_offset
    pack, crc32 = HEADER.pack, zlib.crc32
    for payload in payloads:
        payload = bytes(payload)
        length = len(payload)
        if length == 0 or length > MAX_FRAME_BYTES:
            encode_frame(payload)  # raises the same error a single frame would
        offsets.append(position)
        parts.append(pack(length, crc32(payload)))
        parts.append(payload)
        position += HEADER_SIZE + length
    return b"".join(parts), offsets


def _check_header(length: int, available: int) -> FrameFault | None:
    """A fault decided from the header alone; ``available`` = bytes present after the header."""
    if length > MAX_FRAME_BYTES:
        return FrameFault.LENGTH_OVER_CAP
    if length == 0:
        return FrameFault.ZERO_LENGTH
    if length > available:
        return FrameFault.SHORT_PAYLOAD
    return None


def _next_valid_frame(view: memoryview, begin: int) -> int | None:
    """Offset of the first position >= ``begin`` where a valid frame starts, or None."""
    size = len(view)
    for match in _HEADER_START.finditer(view, begin):
        position = match.start()
        if size - position < HEADER_SIZE + 1:
            return None
        length, crc = HEADER.unpack_from(view, position)
        start = position + HEADER_SIZE
        if _check_header(length, size - start) is None and zlib.crc32(view[start : start + length]) == crc:
            return position
    return None


def _classify(view: memoryview, offset: int, fault: FrameFault) -> TornTail | Corruption:
    """Apply the torn-tail rule (module docstring) to a bad frame at ``offset``."""
    resumes_at = _next_valid_frame(view, offset + 1)
    if fault is FrameFault.LENGTH_OVER_CAP or resumes_at is not None:
        return Corruption(offset, fault, resumes_at)
    return TornTail(offset, fault, len(view) - offset)


def read_frames(data: bytes | bytearray | memoryview, *, start: int = 0) -> Scan:
    """Decode every good frame from ``start`` on and say how the data ends. Never raises on bad data."""
    view = memoryview(data).cast("B")
    size = len(view)
    if not 0 <= start <= size:
        raise ValueError(f"start {start} outside the data (0..{size})")
    frames: list[Frame] = []
    offset = start
    while True:
        if offset == size:
            return Scan(tuple(frames), CleanEnd(offset))
        if size - offset < HEADER_SIZE:
            return Scan(tuple(frames), _classify(view, offset, FrameFault.SHORT_HEADER))
        length, crc = HEADER.unpack_from(view, offset)
        body = offset + HEADER_SIZE
        fault = _check_header(length, size - body)
        if fault is None:
            payload = view[body : body + length]  # bounded by the bytes present (checked above)
            if zlib.crc32(payload) != crc:
                fault = FrameFault.CRC_MISMATCH
        if fault is not None:
            return Scan(tuple(frames), _classify(view, offset, fault))
        frames.append(Frame(offset, length, crc, bytes(payload)))
        offset = body + length


class FrameReader:
    """Stream frames from a binary, seekable file; after iteration ``end`` holds the typed result.

    The file's size is taken when the reader is created: bytes appended later are not read.
    A payload is read only after its length was checked against the cap and the bytes present.
    """

    def __init__(self, file: BinaryIO, *, start: int = 0) -> None:
        self._file = file
        self._size = file.seek(0, os.SEEK_END)
        if not 0 <= start <= self._size:
            raise ValueError(f"start {start} outside the file (0..{self._size})")
        self._offset = start
        file.seek(start)
        self._end: ScanEnd | None = None

    @property
    def end(self) -> ScanEnd:
        if self._end is None:
            raise RuntimeError("the reader has not reached the end yet")
        return self._end

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        if self._end is not None:
            raise StopIteration
        offset = self._offset
        left = self._size - offset
        if left == 0:
            self._end = CleanEnd(offset)
            raise StopIteration
        header = self._file.read(HEADER_SIZE) if left >= HEADER_SIZE else b""
        if len(header) < HEADER_SIZE:
            return self._stop(offset, FrameFault.SHORT_HEADER)
        length, crc = HEADER.unpack(header)
        fault = _check_header(length, left - HEADER_SIZE)
        payload = b""
        if fault is None:
            payload = self._file.read(length)
            if len(payload) < length:  # the file shrank under us
                fault = FrameFault.SHORT_PAYLOAD
            elif zlib.crc32(payload) != crc:
                fault = FrameFault.CRC_MISMATCH
        if fault is not None:
            return self._stop(offset, fault)
        self._offset = offset + HEADER_SIZE + length
        return Frame(offset, length, crc, payload)

    def _stop(self, offset: int, fault: FrameFault) -> Frame:
        # Classifying needs the rest of the file: real bytes, so bounded by the file size.
        self._file.seek(offset)
        rest = self._file.read(self._size - offset)
        end = _classify(memoryview(rest), 0, fault)
        if isinstance(end, TornTail):
            self._end = TornTail(offset, end.reason, end.torn_bytes)
        else:
            resumes = None if end.resumes_at is None else offset + end.resumes_at
            self._end = Corruption(offset, end.reason, resumes)
        raise StopIteration

    def read_all(self) -> Scan:
        frames = tuple(self)
        return Scan(frames, self.end)


# --------------------------------------------------------------------------- sequences


def ledger_sequence(segment_ordinal: int, index: int) -> int:
    """(ordinal << 32) | index; index counts from 1, so frame 1 of signals-001.wal is 4294967297."""
    if not 1 <= segment_ordinal <= _SEQUENCE_PART_MAX:
        raise ValueError(f"segment ordinal {segment_ordinal} outside 1..{_SEQUENCE_PART_MAX}")
    if not 1 <= index <= _SEQUENCE_PART_MAX:
        raise ValueError(f"frame index {index} outside 1..{_SEQUENCE_PART_MAX}")
    return (segment_ordinal << 32) | index


def split_ledger_sequence(sequence: int) -> tuple[int, int]:
    """The inverse of ``ledger_sequence``: (segment ordinal, frame index)."""
    ordinal, index = sequence >> 32, sequence & _SEQUENCE_PART_MAX
    if not 1 <= ordinal <= _SEQUENCE_PART_MAX or index == 0:
        raise ValueError(f"{sequence} is not a ledger sequence")
    return ordinal, index


# --------------------------------------------------------------------------- file I/O


class FileIO(Protocol):
    """The file operations the ledger needs; tests supply a fake that loses unsynced bytes."""

    def open(self, path: Path, mode: Literal["append", "create"]) -> Any:
        """'append': write-only, created if missing, every write at the end.
        'create': write-only, a new file (FileExistsError if it exists)."""

    def write(self, handle: Any, data: bytes) -> None:
        """Write all of ``data`` or raise OSError."""

    def fsync(self, handle: Any) -> None: ...

    def truncate(self, handle: Any, size: int) -> None: ...

    def close(self, handle: Any) -> None: ...

    def read(self, path: Path) -> bytes:
        """The whole file (FileNotFoundError if missing)."""

    def fsync_dir(self, path: Path) -> None:
        """Make the directory's entries (creations, renames) durable."""

    def remove(self, path: Path) -> None:
        """Delete the file (FileNotFoundError if missing)."""


class OsFileIO:
    """FileIO on the real file system (POSIX descriptors)."""

    def open(self, path: Path, mode: Literal["append", "create"]) -> int:
        if mode == "append":
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        elif mode == "create":
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)

    def write(self, handle: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(handle, view)
            if written <= 0:
                raise OSError("write returned 0 bytes")
            view = view[written:]

    def fsync(self, handle: int) -> None:
        os.fsync(handle)

    def truncate(self, handle: int, size: int) -> None:
        os.ftruncate(handle, size)

    def close(self, handle: int) -> None:
        os.close(handle)

    def read(self, path: Path) -> bytes:
        return Path(path).read_bytes()

    def fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, path: Path) -> None:
        os.unlink(path)


# --------------------------------------------------------------------------- segments


class SegmentWriter:
    """Appends frames to one segment: one write and one fsync per ``append`` (group commit).

    Opening scans the segment: it must end cleanly (a torn tail raises ``LedgerNeedsRecovery``,
    corruption raises ``LedgerCorruption``), so frames never land after garbage. One writer per
    segment at a time is the caller's lock to hold. After any failed write or fsync the writer
    refuses every further append: what reached the disk is unknown, so only ``recover`` on a
    fresh open may decide.
    """

    def __init__(
        self, path: Path | str, *, io: FileIO | None = None, verified_size: int = 0, verified_frames: int = 0
    ) -> None:
        """``verified_size`` / ``verified_frames``: a prefix the caller already knows to be good
        frames (the writer's recorded position), so only what follows it is scanned."""
        self.path = Path(path)
        self._io: FileIO = io if io is not None else OsFileIO()
        self._handle: Any = self._io.open(self.path, "append")
        try:
            self._io.fsync_dir(self.path.parent)  # the segment's name survives a crash
            data = self._io.read(self.path)
            if verified_size > len(data):
                raise LedgerCorruption(
                    self.path, len(data), f"segment is shorter than its recorded {verified_size} bytes"
                )
            scan = read_frames(data, start=verified_size)
            if isinstance(scan.end, TornTail):
                raise LedgerNeedsRecovery(self.path, scan.end.offset, scan.end.reason)
            if isinstance(scan.end, Corruption):
                raise LedgerCorruption(self.path, scan.end.offset, scan.end.describe())
        except BaseException:
            self._io.close(self._handle)
            raise
        self.size: int = scan.end.offset
        self.frame_count: int = verified_frames + len(scan.frames)
        # How long the last append's fsync took: the disk's share of a group commit (/metrics).
        self.last_fsync_seconds: float = 0.0
        self._failed: BaseException | None = None
        self._closed = False

    @property
    def failed(self) -> bool:
        return self._failed is not None

    def append(self, payloads: list[bytes]) -> list[int]:
        """Write every payload as a frame, fsync once, return each frame's offset."""
        if self._closed:
            raise LedgerWriteError(f"{self.path}: writer is closed")
        if self._failed is not None:
            raise LedgerWriteError(f"{self.path}: writer refused, an earlier write failed ({self._failed!r})")
        if not payloads:
            return []
        buffer, offsets = encode_frames(payloads, base_offset=self.size)  # ValueError before any I/O
        try:
            self._io.write(self._handle, buffer)
            started = time.perf_counter()
            self._io.fsync(self._handle)
            self.last_fsync_seconds = time.perf_counter() - started
        except OSError as exc:
            self._failed = _name_file(exc, self.path)
            raise LedgerWriteError(f"{self.path}: write/fsync failed, writer stopped: {exc}") from exc
        except BaseException as exc:  # interrupted mid-write: the disk state is unknown
            self._failed = exc
            raise
        self.size += len(buffer)
        self.frame_count += len(payloads)
        return offsets

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._io.close(self._handle)

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    path: Path
    action: Literal["clean", "truncated"]
    frames: int  # good frames kept
    size: int  # segment size after recovery
    torn: TornTail | None = None
    aside: Path | None = field(default=None)


# Distinct tails torn at one offset of one segment; more means something rewrites the segment.
_MAX_TORN_COPIES = 1000


def _name_file(error: BaseException, path: Path) -> BaseException:
    """A write on a descriptor fails without a file name; the operator needs to be told which file."""
    if isinstance(error, OSError) and error.filename is None:
        error.filename = str(path)
    return error


def _remove_quietly(path: Path, io: FileIO) -> None:
    try:
        io.remove(path)
    except OSError:  # the caller's own error says what went wrong
        pass


def _torn_copy_path(path: Path, offset: int, attempt: int) -> Path:
    name = path.with_suffix(path.suffix + f".torn-{offset}")
    return name if attempt == 0 else name.with_name(f"{name.name}.{attempt}")


def recover(path: Path | str, *, io: FileIO | None = None) -> RecoveryResult:
    """Make a segment end cleanly again, or refuse.

    Torn tail: the torn bytes are copied to ``<segment>.torn-<offset>`` (fsynced, directory
    fsynced) before the segment is truncated to the last good frame (fsynced, directory fsynced).
    Corruption: raises ``LedgerCorruption`` and leaves the file as it is.
    """
    path = Path(path)
    io = io if io is not None else OsFileIO()
    data = io.read(path)
    scan = read_frames(data)
    end = scan.end
    if isinstance(end, CleanEnd):
        return RecoveryResult(path, "clean", len(scan.frames), end.offset)
    if isinstance(end, Corruption):
        raise LedgerCorruption(path, end.offset, end.describe())

    aside = cut_tail(path, end.offset, io=io, data=data)
    return RecoveryResult(path, "truncated", len(scan.frames), end.offset, end, aside)


def cut_tail(path: Path | str, offset: int, *, io: FileIO | None = None, data: bytes | None = None) -> Path:
    """Copy the bytes from ``offset`` on next to the segment, then truncate it there; return the copy.

    For bytes nobody acknowledged: a torn tail (``recover``), or what a writer appended past the
    end its database recorded and the disk then damaged. The copy is fsynced before the cut.
    """
    path = Path(path)
    io = io if io is not None else OsFileIO()
    data = io.read(path) if data is None else data
    aside = _write_aside(path, offset, bytes(data[offset:]), io)
    handle = io.open(path, "append")
    try:
        io.truncate(handle, offset)
        io.fsync(handle)
    finally:
        io.close(handle)
    io.fsync_dir(path.parent)
    return aside


def _write_aside(path: Path, offset: int, tail: bytes, io: FileIO) -> Path:
    """Copy the torn bytes next to the segment, one copy per offset and tail.

    An earlier copy of the same bytes is reused (made durable again). A copy holding only a
    prefix of them -- one whose write failed, on a full disk say -- is rewritten in place, and
    a copy that fails now is removed: drains retried while the disk is full leave nothing
    behind, and the first one with space back completes the copy. A different tail torn at the
    same offset earlier is kept, and this one takes the next name.
    """
    for attempt in range(_MAX_TORN_COPIES):
        aside = _torn_copy_path(path, offset, attempt)
        try:
            handle = io.open(aside, "create")
        except FileExistsError:
            try:
                existing = io.read(aside)
            except FileNotFoundError:
                existing = None
            if existing is None or not tail.startswith(existing):
                continue
            handle = io.open(aside, "append")
            if existing == tail:  # an earlier recovery copied it, then stopped: make it durable
                try:
                    io.fsync(handle)
                finally:
                    io.close(handle)
                io.fsync_dir(path.parent)
                return aside
            io.truncate(handle, 0)
        try:
            io.write(handle, tail)
            io.fsync(handle)
        except BaseException as exc:
            io.close(handle)
            _remove_quietly(aside, io)
            _name_file(exc, aside)
            raise
        io.close(handle)
        io.fsync_dir(path.parent)
        return aside
    raise LedgerError(f"{path}: too many torn copies at offset {offset}")
