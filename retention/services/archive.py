"""Daily archive files of expired signals: written whole, verified, recorded, and only then trusted.

``RETENTION_ARCHIVE_DIR/signals/YYYY-MM-DD.jsonl.gz`` holds the signals generated that day (UTC)
that left the database, one JSON object per line: ``signal_id``, ``generated_at``,
``created_at``, ``source``, ``event`` (the source event's source and external id, as a legal hold
names it) and ``contract`` (the stored contract text, byte for byte). A later sweep that
expires more signals of the same day writes the day's file again with the old lines and the new.

Each write goes: the new file beside the old one (``.new``), fsynced and read back (every line
parses, the expected signals are all there, the SHA-256 of its bytes); then the manifest row
(``SignalArchive``) takes the new checksum; then the rename and the directory's fsync. A day
whose file matches neither its manifest nor a ``.new`` that does is damaged: nothing of that day
is deleted until an operator looks (``ArchiveDamaged`` says where).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import orjson
from django.conf import settings
from django.utils import timezone

from retention.models import SignalArchive
from utilities.files import fsync_path

SUBDIRECTORY = "signals"
_READ_CHUNK = 1 << 20


class ArchiveDamaged(Exception):
    """An archive file does not match the checksum its manifest recorded."""


class SweepRunning(Exception):
    """Another sweep holds the archive directory's lock."""


@dataclass(frozen=True, slots=True)
class ArchivedSignal:
    signal_id: str
    generated_at: datetime
    created_at: datetime
    source: str
    event_source: str  # the source event's natural key, as a hold names it
    event_external_id: str
    contract: str  # the stored text

    def line(self) -> bytes:
        return (
            orjson.dumps(
                {
                    "signal_id": self.signal_id,
                    "generated_at": self.generated_at.isoformat(),
                    "created_at": self.created_at.isoformat(),
                    "source": self.source,
                    "event": [self.event_source, self.event_external_id],
                    "contract": self.contract,
                }
            )
            + b"\n"
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
        )

    def held(self, holds) -> bool:
        """Whether an active hold names this signal, its source event or its source (``sweep.Holds``)."""
        return (
            self.signal_id in holds.signal_ids
            or self.source in holds.sources
            or (self.event_source, self.event_external_id) in holds.event_keys
        )


def archive_root() -> Path:
    return Path(settings.RETENTION_ARCHIVE_DIR)


def day_path(day: date) -> Path:
    return archive_root() / SUBDIRECTORY / f"{day.isoformat()}.jsonl.gz"


@contextmanager
def sweep_lock() -> Iterator[None]:
    """One sweep at a time per archive directory; the lock goes with the process if it dies."""
    root = archive_root()
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "_LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepRunning(f"another retention sweep holds {root / '_LOCK'}") from None
        yield
    finally:
        os.close(fd)  # closing releases the flock


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
    raise ArchiveDamaged(
        f"{final} does not match the SHA-256 its manifest recorded ({manifest.sha256}); nothing of "
        f"{day} is deleted until it does"
    )


def read_day(day: date) -> Iterator[ArchivedSignal]:
    path = verified_file(day)
    if path is None:
        return
    with gzip.open(path, "rb") as lines:
        for line in lines:
            yield ArchivedSignal.parse(line)


def archive_day(day: date, signals: Iterable[ArchivedSignal]) -> set[str]:
    """Add ``signals`` to the day's file (kept lines first, a signal already there once); return the
    ids of ``signals`` the verified file now holds."""
    final = day_path(day)
    final.parent.mkdir(parents=True, exist_ok=True)
    pending = final.with_name(final.name + ".new")
    kept = verified_file(day)
    written: set[str] = set()
    added: set[str] = set()
    with pending.open("wb") as raw:
        # mtime 0: the same lines make the same bytes, so a rewrite's checksum says what changed.
        # Level 3: 14 us a signal against 48 at gzip's default 9, for files 1.6 x the size
        # (bench/retention.py; the sweep's rate is the point, an archive is read rarely).
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=3) as out:
            if kept is not None:
                with gzip.open(kept, "rb") as lines:
                    for line in lines:
                        written.add(orjson.loads(line)["signal_id"])
                        out.write(line)
            for signal in signals:
                if signal.signal_id not in written:
                    out.write(signal.line())
                    written.add(signal.signal_id)
                added.add(signal.signal_id)
        raw.flush()
        os.fsync(raw.fileno())
    fsync_path(pending.parent)  # the .new file's entry is durable before the manifest names its checksum
    rows, digest = _read_back(pending, written)
    SignalArchive.objects.update_or_create(
        day=day,
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
    return added


def remove_day(day: date) -> None:
    """Delete a day's file and its manifest entry (its policy expired it)."""
    final = day_path(day)
    for path in (final, final.with_name(final.name + ".new")):
        path.unlink(missing_ok=True)
    fsync_path(final.parent)
    SignalArchive.objects.filter(day=day).delete()


def _read_back(path: Path, expected: set[str]) -> tuple[int, str]:
    """Read the written file back: its SHA-256, and every line decompressed and naming one of the
    signals written, each once."""
    digest = hashlib.sha256()
    inflate = zlib.decompressobj(wbits=31)  # gzip framing; the file holds a single member
    found: set[str] = set()
    lines = 0
    rest = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
            text = rest + inflate.decompress(chunk)
            *complete, rest = text.split(b"\n")
            for line in complete:
                found.add(orjson.loads(line)["signal_id"])
            lines += len(complete)
    if rest + inflate.flush() or not inflate.eof or lines != len(found) or found != expected:
        raise ArchiveDamaged(f"{path} read back {len(found)} signals in {lines} lines, {len(expected)} were written")
    return lines, digest.hexdigest()
