"""Daily archive files of expired signals: written whole, verified, recorded, and only then trusted.

``RETENTION_ARCHIVE_DIR/signals/YYYY-MM-DD.jsonl.gz`` holds the signals generated that day (UTC)
that left the database, one JSON object per line: ``signal_id``, ``generated_at``,
``created_at``, ``source``, ``event`` (the source event's source and external id, as a legal hold
names it) and ``contract`` (the stored contract text, byte for byte). A sweep that expires more
signals of a day that has a file writes it again: the new lines, as a gzip member of their own,
then the file's bytes as they were (``DayFile``). gzip readers that follow the format (Python's
``gzip``, ``zcat``) read every member; zlib's one-shot inflate stops after the first.

Each write goes: the new file beside the old one (``.new``), its SHA-256 taken of the bytes as
they were written, fsynced and read back against that checksum; then the manifest row
(``SignalArchive``) takes it; then the rename and the directory's fsync. A day
whose file matches neither its manifest nor a ``.new`` that does is damaged: nothing of that day
is deleted until an operator looks (``ArchiveDamaged`` says where).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone
from isal import isal_zlib

from retention.models import SignalArchive
from utilities.bulk_sql import AnyOf
from utilities.files import fsync_path

SUBDIRECTORY = "signals"
T = TypeVar("T")
_READ_CHUNK = 1 << 20


class ArchiveDamaged(Exception):
    """An archive file does not match the checksum its manifest recorded."""


class SweepRunning(Exception):
    """Another sweep holds the archive directory's lock."""


class ArchiveUnwritable(OSError):
    """A day file could not be written (a full disk, a permission); the message names the file and
    RETENTION_ARCHIVE_DIR. An OSError still, for whoever catches those."""


@dataclass(frozen=True, slots=True)
class ArchivedSignal:
    signal_id: str
    generated_at: datetime
    created_at: datetime
    source: str
    event_source: str  # the source event's natural key, as a hold names it
    event_external_id: str
    contract: str  # the stored text
    pushed: bool = False  # a partner pushed it: not in the contract, so the line says it

    def line(self) -> bytes:
        # orjson writes an aware datetime as isoformat() does ("2026-03-10T01:00:00.000120+00:00").
        return archive_line(
            self.signal_id,
            self.generated_at,
            self.created_at,
            self.source,
            self.event_source,
            self.event_external_id,
            self.contract,
            pushed=self.pushed,
        )

    @classmethod
    def parse(cls, line: bytes) -> ArchivedSignal:
        fields = orjson.loads(line)
        event_source, external_id = fields["event"]
        return cls(
            fields["signal_id"],
            datetime.fromisoformat(fields["generated_at"]),
            datetime.fromisoformat(fields["created_at"]),
            fields["source"],
            event_source,
            external_id,
            fields["contract"],
            fields.get("pushed") is True,  # lines written before it was recorded: not pushed
        )

    def held(self, holds) -> bool:
        """Whether an active hold names this signal, its source event or its source (``sweep.Holds``)."""
        return (
            self.signal_id in holds.signal_ids
            or self.source in holds.sources
            or (self.event_source, self.event_external_id) in holds.event_keys
        )


def archive_line(
    signal_id: str,
    generated_at: datetime,
    created_at: datetime,
    source: str,
    event_source: str,
    event_external_id: str,
    contract: str,
    *,
    pushed: bool = False,
) -> bytes:
    """One line of a day's file (``ArchivedSignal``), built in one call: the sweep makes a million.

    ``"pushed": true`` only on a partner's signal: its policy (partner_signals) is not in the
    contract, and a restore must give it back.
    """
    fields = {
        "signal_id": signal_id,
        "generated_at": generated_at,
        "created_at": created_at,
        "source": source,
        "event": (event_source, event_external_id),
        "contract": contract,
    }
    if pushed:
        fields["pushed"] = True
    return orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)


def archive_root() -> Path:
    return Path(settings.RETENTION_ARCHIVE_DIR)


def day_path(day: date) -> Path:
    return archive_root() / SUBDIRECTORY / f"{day.isoformat()}.jsonl.gz"


# pg_try_advisory_lock's key for sweeps: any constant no other lock of this database uses.
_SWEEP_ADVISORY_KEY = 0x0E3E_5EEB


@contextmanager
def sweep_lock() -> Iterator[None]:
    """One sweep at a time per archive directory and per database; both locks go with the process
    if it dies (the flock with its file, PostgreSQL's advisory lock with its connection).

    The database's lock matters as much as the directory's: a sweep marks every run left
    "running" as interrupted, which is only true when no other host's sweep (with an archive
    directory of its own) works on the same database. SQLite is one host's file: the directory's
    lock covers it.
    """
    root = archive_root()
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "_LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepRunning(f"another retention sweep holds {root / '_LOCK'}") from None
        with _database_lock():
            yield
    finally:
        os.close(fd)  # closing releases the flock


@contextmanager
def _database_lock() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_SWEEP_ADVISORY_KEY])
        if not cursor.fetchone()[0]:
            raise SweepRunning("another retention sweep holds this database's sweep lock (on another host)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_SWEEP_ADVISORY_KEY])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verified_file(day: date) -> Path | None:
    """The day's archive file, checked against its manifest (finishing a write a kill interrupted);
    None when the day has none. Raises ArchiveDamaged when neither the file nor a pending one matches."""
    final = day_path(day)
    pending = final.with_name(final.name + ".new")
    manifest = SignalArchive.objects.filter(day=day).first()
    if manifest is None:
        if final.exists():
            raise ArchiveDamaged(f"{final} has no manifest entry: restore the entry or move the file aside")
        return None
    if final.exists() and file_sha256(final) == manifest.sha256:
        return final
    if pending.exists() and file_sha256(pending) == manifest.sha256:
        # Killed between the manifest and the rename: the new file is the one recorded.
        os.replace(pending, final)
        fsync_path(final.parent)
        return final
    if not final.exists():
        raise ArchiveDamaged(
            f"{final} is missing: its manifest entry records {manifest.rows:,} signal(s) of {day}; nothing of {day} "
            "is deleted until the file is put back (from a backup) or the entry is removed"
        )
    raise ArchiveDamaged(
        f"{final} does not match the SHA-256 its manifest recorded ({manifest.sha256}); nothing of "
        f"{day} is deleted until it does"
    )


def read_day(day: date) -> Iterator[ArchivedSignal]:
    """The day's archived signals, from its verified file. Raises ArchiveDamaged naming the file
    and the line for a line that is not an archived signal."""
    path = verified_file(day)
    if path is None:
        return
    for signal, _ in _parsed_lines(path, ArchivedSignal.parse):
        yield signal


class DayFile:
    """A day's archive file as one sweep adds to it, a part of the day's expired signals at a time.

    Each addition writes the file again (``.new``, then the rename, as the module says): the new
    lines as a gzip member of their own, then the file's bytes as they were, copied. The lines
    already there are not inflated or compressed again, as they were when each part rewrote the
    whole day: a day of a million expired signals in ten parts had cost the compression of 5.5
    million lines. (Each part still hashes and copies the file's bytes: a part of a crowded day
    costs more than the one before it, but in bytes copied, not lines compressed.)

    Each signal keeps one line, its newest. A signal the file already holds, one restored from it
    and swept again, one a killed sweep archived but did not delete, or one put back (``ledger
    import``) after an earlier part deleted it, makes its part read the old lines and leave that
    signal's out. To know them, the first addition reads the ids of the file as this sweep found
    it, and each addition remembers a hash of the ids it added. When the sweep says which rows its
    later parts will add (``later``), the first part that meets the file's earlier lines also
    leaves out the old line of every signal among them: a restored day swept again costs one more
    rewrite, not one per part. Until its own part adds its new line, such a signal is in the
    database and not in the file, and nothing deletes it; a row its part then passes over (its
    source event newer than the sweep's read of the events) waits there for the next sweep.
    """

    def __init__(self, day: date) -> None:
        self.day = day
        self._before: set[str] | None = None  # the ids the file held when this sweep first read it
        # hash() of the ids the earlier parts added: a few bytes each where a day holds a million.
        # A collision only costs a part the slower path.
        self._added: set[int] = set()

    def add(self, lines: Iterable[tuple[str, bytes]], later: QuerySet | None = None) -> set[str]:
        """Add ``lines`` ((signal id, ``ArchivedSignal`` line) pairs), each signal once; return the
        ids of ``lines`` the verified file now holds. ``later``: the signals the next additions
        of this sweep will bring (the rest of the day), or None."""
        final = day_path(self.day)
        final.parent.mkdir(parents=True, exist_ok=True)
        pending = final.with_name(final.name + ".new")
        kept = verified_file(self.day)
        if self._before is None:
            self._before = {signal_id for signal_id, _ in _read_lines(kept)} if kept is not None else set()
        try:
            written, replaced, rows, digest = self._write_pending(lines, later, pending, kept)
        except OSError as exc:
            # Disk full, say: before the manifest names it, the partial file is nobody's; it goes,
            # and the error says which file and which setting.
            pending.unlink(missing_ok=True)
            raise ArchiveUnwritable(
                exc.errno, f"cannot write {pending} (RETENTION_ARCHIVE_DIR={archive_root()}): {exc.strerror or exc}"
            ) from exc
        if not written:
            return written
        SignalArchive.objects.update_or_create(
            day=self.day,
            defaults={
                "path": str(final.relative_to(archive_root())),
                "rows": rows,
                "bytes": pending.stat().st_size,
                "sha256": digest,
                "written_at": timezone.now(),
            },
        )
        os.replace(pending, final)
        fsync_path(final.parent)
        self._before -= replaced
        self._added.update(hash(signal_id) for signal_id in written)
        return written

    def _write_pending(
        self, lines: Iterable[tuple[str, bytes]], later: QuerySet | None, pending: Path, kept: Path | None
    ) -> tuple[set[str], set[str], int, str]:
        """The ``.new`` file, written, fsynced and read back: (ids written, ids whose old line it
        left out, its rows, its SHA-256). Nothing written: no file, and no rows."""
        written: set[str] = set()
        replaced: set[str] = set()
        digest = hashlib.sha256()
        with pending.open("wb") as file:
            # The new lines first: they hold the signals as the database has them now.
            with _Gzip(file, digest) as out:
                for signal_id, line in lines:
                    if signal_id not in written:
                        out.write(line)
                        written.add(signal_id)
            if not written:
                file.close()
                pending.unlink()
                return written, replaced, 0, ""
            rows = len(written)
            if kept is not None:
                replaced = {i for i in written if i in self._before or hash(i) in self._added}
                if later is not None and replaced & self._before:
                    self._coming_again(later, replaced)
                if replaced:
                    with _Gzip(file, digest) as out:
                        for signal_id, line in _read_lines(kept):
                            if signal_id not in replaced:
                                out.write(line)
                                rows += 1
                else:
                    rows += SignalArchive.objects.get(day=self.day).rows
                    _copy(kept, file, digest)
            file.flush()
            os.fsync(file.fileno())
        fsync_path(pending.parent)  # the .new file's entry is durable before the manifest names its checksum
        if file_sha256(pending) != digest.hexdigest():
            raise ArchiveDamaged(f"{pending} did not read back as written: the disk lost or changed it")
        return written, replaced, rows, digest.hexdigest()

    def _coming_again(self, later: QuerySet, replaced: set[str]) -> None:
        """Add to ``replaced`` the ids the file held before this sweep that ``later`` brings again."""
        earlier = list(self._before - replaced)
        for start in range(0, len(earlier), _IDS_PER_QUERY):
            chunk = earlier[start : start + _IDS_PER_QUERY]
            replaced.update(later.filter(AnyOf(F("signal_id"), chunk)).values_list("signal_id", flat=True))


_IDS_PER_QUERY = 10_000


def _read_lines(path: Path) -> Iterator[tuple[str, bytes]]:
    """A day file's lines with their signal ids, every gzip member in turn. Raises ArchiveDamaged
    for a line that names no signal."""
    return _parsed_lines(path, _signal_id)


def _signal_id(line: bytes) -> str:
    signal_id = orjson.loads(line)["signal_id"]
    if not isinstance(signal_id, str):
        raise TypeError(f"signal_id is {signal_id!r}, not a string")
    return signal_id


def _parsed_lines(path: Path, parse: Callable[[bytes], T]) -> Iterator[tuple[T, bytes]]:
    """``parse`` of each line of a day file, with the line. A line it cannot parse is ArchiveDamaged
    naming the file and the line: a file its checksum vouches for, written by something else."""
    for number, line in _numbered_lines(path):
        try:
            parsed = parse(line)
        except (ValueError, KeyError, TypeError) as exc:  # orjson's JSONDecodeError is a ValueError
            raise ArchiveDamaged(
                f"{path}, line {number}, is not an archived signal ({type(exc).__name__}: {exc}); nothing of "
                "its day is deleted or restored until it is mended or the file is moved aside"
            ) from None
        yield parsed, line


def _numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The lines of a day file, numbered from 1. A file that is not whole gzip (cut short, written
    over, then its checksum recorded to match) is ArchiveDamaged naming it, as a bad line is."""
    with gzip.open(path, "rb") as lines:
        number = 0
        while True:
            try:
                line = lines.readline()
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise ArchiveDamaged(
                    f"{path} is not whole gzip after line {number} ({type(exc).__name__}: {exc}); nothing of its "
                    "day is deleted or restored until it is mended or the file is moved aside"
                ) from None
            if not line:
                return
            number += 1
            yield number, line


def _copy(path: Path, file, digest) -> None:
    """Append the bytes of ``path`` to ``file``, hashing them as they are written."""
    with path.open("rb") as source:
        while chunk := source.read(_READ_CHUNK):
            digest.update(chunk)
            file.write(chunk)


def remove_day(day: date) -> None:
    """Delete a day's file and its manifest entry (its policy expired it)."""
    final = day_path(day)
    for path in (final, final.with_name(final.name + ".new")):
        path.unlink(missing_ok=True)
    fsync_path(final.parent)
    SignalArchive.objects.filter(day=day).delete()


class _Gzip:
    """Gzip lines into a file as one gzip member (mtime 0), a chunk at a time, hashing the bytes as
    they are written (into ``digest``, which may hash what the file held before them)."""

    CHUNK_BYTES = 1 << 20
    # ISA-L's deflate at its level 1 (of 0-3): 2.8 µs a 5.7 KB line against zlib's 15-20 at its
    # level 3, for files 5 % larger (13.2 against 13.9 times smaller than the lines), measured on
    # a day file of bench/retention.py. The sweep's rate is the point; an archive is read rarely,
    # by any gzip reader (the stream is standard gzip). So fast that a second thread compressing
    # beside the reads (as zlib needed) cost more in hand-overs than it saved.
    LEVEL = 1

    def __init__(self, file, digest=None) -> None:
        self.file = file
        self.sha256 = hashlib.sha256() if digest is None else digest
        self._deflate = isal_zlib.compressobj(self.LEVEL, isal_zlib.DEFLATED, 31)  # 31: the gzip wrapper
        self._lines: list[bytes] = []
        self._size = 0

    def write(self, line: bytes) -> None:
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.CHUNK_BYTES:
            self._put(self._deflate.compress(b"".join(self._lines)))
            self._lines, self._size = [], 0

    def _put(self, compressed: bytes) -> None:
        self.sha256.update(compressed)
        self.file.write(compressed)

    def __enter__(self) -> _Gzip:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self._put(self._deflate.compress(b"".join(self._lines)))
            self._put(self._deflate.flush())
