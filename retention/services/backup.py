"""Backups: the database at one moment, the ledger's manifests and writer state beside it, a
checksum of every file, and a proof: the dump restored into a scratch database and counted.

``BACKUP_DIR/<started, UTC>-<id>/`` holds::

    database.pgdump | database.sqlite3   pg_dump -Fc | SQLite's online backup API
    backup.json                          backend, database, when, and each table's rows at the dump's moment
    ledger-writer-state.json             the LedgerWriterState rows at that moment
    ledger-manifests/<dir>/<partition>/  each partition's _manifest.json, _SEALED and _CURRENT
    SHA256SUMS                           every file above, as ``sha256sum -c`` reads it

The rows are counted in the snapshot the dump is made from (PostgreSQL: pg_dump imports the
snapshot the counting transaction exported; SQLite: the backup API copies through the connection
that holds the counting read transaction), so a proof can demand equal counts while ingest goes
on writing. The directory is written under a temporary name and renamed once complete and synced:
a directory named like a backup is a whole one.

A backup's own row is in its dump, still ``running``: a snapshot cannot hold its own outcome. A
restore that succeeds records it in the restored database as ``ok`` and proven (restored and
counted is a proof), so it is listed, and kept as the newest proven backup there. Backups taken
after it have no row there: their directories are pruned by age all the same
(``backups_unlisted``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import warnings
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import environ
import orjson
import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from ledger.models import LedgerWriterState
from ledger.public import (
    CURRENT_FILE,
    MANIFEST_FILE,
    SEALED_FILE,
    TOMBSTONE_SUFFIX,
    list_partitions,
    list_tombstones,
)
from retention.models import Backup
from retention.services.archive import file_sha256
from utilities.files import fsync_path

log = logging.getLogger("omen.retention")

CHECKSUMS = "SHA256SUMS"
MANIFEST = "backup.json"
WRITER_STATE = "ledger-writer-state.json"
LEDGER_MANIFESTS = "ledger-manifests"
FORMAT = 1
_LEDGER_FILES = (MANIFEST_FILE, SEALED_FILE, CURRENT_FILE)
_PARTIAL = ".partial-"
_NAME = re.compile(r"(?P<started>[0-9]{8}T[0-9]{6}Z)-(?P<id>[0-9]+)")  # <started, UTC>-<id>
_NAME_TIME = "%Y%m%dT%H%M%SZ"
# libpq connection keywords a DATABASE_URL's query string may carry (?sslmode=require); the rest
# of OPTIONS (the pool, Django's own) means nothing to pg_dump.
_LIBPQ_OPTIONS = {
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "connect_timeout", "options",
    "target_session_attrs", "application_name", "service", "passfile", "channel_binding",
}  # fmt: skip
INTERRUPTED = (
    "interrupted: no process finished it (the process was killed, or this database was restored "
    "from a backup taken while it ran)"
)


class BackupError(Exception):
    """A backup could not be made, proven or restored; the message says what and where."""


class BackupDamaged(BackupError):
    """A file of a backup is missing or does not match SHA256SUMS."""


class RestoreRefused(BackupError):
    """The target database is not empty, or not of the backup's backend."""


class BackupRunning(Exception):
    """Another backup holds BACKUP_DIR's lock."""


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, int]
    writer_state: list[dict]


@dataclass(frozen=True)
class Restored:
    manifest: dict  # backup.json
    target: str
    tables: dict[str, int]
    unrecorded: str = ""  # why the backup's row could not be recorded proven in the target; blank if it was


def backup_root() -> Path:
    return Path(settings.BACKUP_DIR)


# --------------------------------------------------------------------------- making and proving


def backup_create() -> Backup:
    """Make a backup of the database and prove it; the row returned says how it went.

    ``ok`` only when proven. Every failure is recorded on the row (``failed``, the error), so the
    admin and the storage report show it; only ``BackupRunning`` is raised, when another backup
    is being made.
    """
    started = timezone.now()
    try:
        engine = _engine(connection.settings_dict)
        lock = _lock()
    except BackupError as exc:
        return Backup.objects.create(
            started_at=started, finished_at=timezone.now(), backend=connection.vendor, status=Backup.Status.FAILED,
            error=str(exc),
        )  # fmt: skip
    try:
        # Under the lock no other backup runs: one still marked running, or a partial directory,
        # is what a killed run left.
        Backup.objects.filter(status=Backup.Status.RUNNING).update(
            status=Backup.Status.FAILED, finished_at=started, error=INTERRUPTED
        )
        for leftover in backup_root().glob(f"{_PARTIAL}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        backup = Backup.objects.create(started_at=started, backend=engine.backend)
        try:
            _write(backup, engine)
        except BackupError as exc:
            # Expected (pg_dump missing, BACKUP_DIR full...): the message says it all; no traceback.
            log.error("backup %s failed: %s", backup.pk, exc)
            return _failed(backup, f"not written: {_describe(exc)}")
        except Exception as exc:
            log.exception("backup %s failed", backup.pk)
            return _failed(backup, f"not written: {_describe(exc)}")
        except KeyboardInterrupt:
            _interrupted(backup)  # its partial directory is gone already (_write)
            raise
        try:
            return backup_prove(backup)
        except KeyboardInterrupt:
            _interrupted(backup)  # a whole directory, not proven: pruned with its row, by age
            raise
    finally:
        os.close(lock)  # closing releases the flock


def backup_prove(backup: Backup) -> Backup:
    """Check the backup's files against SHA256SUMS, restore its dump into a scratch database (SQLite:
    open the copy and check its integrity), and count every table against the counts taken with the
    dump; record the outcome."""
    try:
        if backup.directory is None:
            raise BackupError("it has no directory")
        manifest = checksums_verify(backup.directory)
        engine = _engine(connection.settings_dict)
        if manifest["backend"] != engine.backend:
            raise BackupError(f"it is a {manifest['backend']} backup; this database is {engine.backend}")
        restored = engine.prove(backup.directory / manifest["dump"], backup.pk)
        _compare(manifest["tables"], restored)
    except Exception as exc:
        log.warning("backup %s is not proven: %s", backup.pk, _describe(exc))
        return _failed(backup, f"not proven: {_describe(exc)}")
    now = timezone.now()
    Backup.objects.filter(pk=backup.pk).update(
        status=Backup.Status.OK, proven_at=now, proof=restored, error="", finished_at=now
    )
    backup.refresh_from_db()
    return backup


def _write(backup: Backup, engine: _Postgres | _Sqlite) -> None:
    root = backup_root()
    name = f"{backup.started_at.astimezone(UTC):{_NAME_TIME}}-{backup.pk}"
    partial = root / f"{_PARTIAL}{name}"
    try:
        partial.mkdir()
    except OSError as exc:
        raise _unwritable(root, exc) from None
    # Named on the row before the directory takes the name: a kill after the rename leaves a row
    # (marked interrupted next time, then pruned with its directory), never a directory no row names.
    Backup.objects.filter(pk=backup.pk).update(path=name)
    try:
        snapshot = engine.dump(partial / engine.dump_name)
        _write_json(partial / WRITER_STATE, snapshot.writer_state)
        _copy_ledger_manifests(partial / LEDGER_MANIFESTS)
        _write_json(
            partial / MANIFEST,
            {
                "format": FORMAT,
                "backup": backup.pk,
                "backend": engine.backend,
                "database": engine.label,
                "started_at": backup.started_at.isoformat(),
                "dump": engine.dump_name,
                "tables": snapshot.tables,
                "ledger_dirs": {label: str(root) for label, root in _ledger_dirs()},
            },
        )
        digests = _write_checksums(partial)
        _fsync_tree(partial)
        os.rename(partial, root / name)
        fsync_path(root)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        Backup.objects.filter(pk=backup.pk).update(path="")
        if _in_backup_dir(root, exc):
            raise _unwritable(root, exc) from None
        raise
    Backup.objects.filter(pk=backup.pk).update(bytes=_size(root / name), sha256=digests[engine.dump_name])
    backup.refresh_from_db()


# A write that fails naming no file (write(2), fsync(2)) for want of space: of BACKUP_DIR, the
# only place a backup writes.
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# SQLite's dump failing to write its copy (in BACKUP_DIR): the live database is only read.
_SQLITE_WRITE_FAILED = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_FSYNC}
_ADVICE = {
    errno.ENOSPC: "free space on its file system, or point BACKUP_DIR at a larger one",
    errno.EDQUOT: "raise the disk quota of the user OMEN runs as",
    errno.EACCES: "make it a directory this process can write",
    errno.EPERM: "make it a directory this process can write",
    errno.EROFS: "mount it read-write",
}


def _in_backup_dir(root: Path, exc: BaseException) -> bool:
    """Whether ``exc`` is BACKUP_DIR failing a write (full, unwritable), not a bug or another
    directory (a ledger file that cannot be read is named, and outside it)."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) in _SQLITE_WRITE_FAILED
    if not isinstance(exc, OSError):
        return False
    named = [Path(os.fsdecode(name)) for name in (exc.filename, exc.filename2) if name is not None]
    if named:
        return all(path.is_relative_to(root) for path in named)
    return exc.errno in _FULL


def _unwritable(root: Path, exc: BaseException) -> BackupError:
    """One line naming BACKUP_DIR and what the system said (an OSError, or SQLite's error writing
    its copy): expected, so logged without a traceback."""
    if not isinstance(exc, OSError):
        return BackupError(f"cannot write BACKUP_DIR {root}: SQLite could not write its copy: {exc}; check free space")
    advice = _ADVICE.get(exc.errno, "check BACKUP_DIR and the disk under it")
    where = f" ({os.fsdecode(exc.filename)})" if exc.filename is not None else ""
    return BackupError(f"cannot write BACKUP_DIR {root}: {exc.strerror or exc} (errno {exc.errno}){where}; {advice}")


def _failed(backup: Backup, error: str) -> Backup:
    Backup.objects.filter(pk=backup.pk).update(
        status=Backup.Status.FAILED, error=error, proven_at=None, proof={}, finished_at=timezone.now()
    )
    backup.refresh_from_db()
    return backup


def _interrupted(backup: Backup) -> None:
    """Ctrl-C: the row says so now, rather than "running" (NOT PROVEN, "still running") until the
    next backup marks it."""
    try:
        _failed(backup, "interrupted: stopped by Ctrl-C")
    except Exception:  # the interrupt broke the connection mid-query: the next backup marks it
        log.warning("backup %s left running; the next backup marks it interrupted", backup.pk)


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"


def _compare(expected: dict[str, int], found: dict[str, int]) -> None:
    differ = [
        f"{table} {expected.get(table, 'absent')} at the backup, {found.get(table, 'absent')} restored"
        for table in sorted(expected.keys() | found.keys())
        if expected.get(table) != found.get(table)
    ]
    if differ:
        raise BackupError(f"the restored tables differ from the database at the backup: {'; '.join(differ[:10])}")


def _lock() -> int:
    """BACKUP_DIR's lock, as an open descriptor: one backup at a time; it goes with a dead process."""
    root = backup_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / "_LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BackupError(
            f"cannot write BACKUP_DIR {root}: {exc.strerror or exc}; make it a directory this process can write"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BackupRunning(f"another backup holds {root / '_LOCK'}") from None
    return fd


# --------------------------------------------------------------------------- the files


def _write_json(path: Path, value) -> None:
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def _ledger_dirs() -> list[tuple[str, Path]]:
    return [
        ("ledger", Path(settings.LEDGER_DIR)),
        ("ledger-archive", Path(settings.LEDGER_ARCHIVE_DIR)),
        ("ledger-long-term", Path(settings.LEDGER_LONG_TERM_DIR)),
    ]


def _copy_ledger_manifests(destination: Path) -> None:
    """Each partition's bookkeeping files, from the ledger directory and its cold and long-term
    tiers, and the tombstones of purged partitions: what to hold a ledger directory against after
    a restore (the segments themselves stay on their volume)."""
    for label, root in _ledger_dirs():
        for partition in list_partitions(root):
            for name in _LEDGER_FILES:
                try:
                    data = (root / str(partition) / name).read_bytes()
                except FileNotFoundError:
                    continue  # an open partition has no manifest yet; a moved one is read in the next tier
                _write_copy(destination / label / str(partition) / name, data)
        for partition in list_tombstones(root):
            name = f"{partition}{TOMBSTONE_SUFFIX}"
            _write_copy(destination / label / name, (root / name).read_bytes())


def _write_copy(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _files(directory: Path) -> list[str]:
    return sorted(
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and path.name != CHECKSUMS
    )


def _write_checksums(directory: Path) -> dict[str, str]:
    digests = {name: file_sha256(directory / name) for name in _files(directory)}
    (directory / CHECKSUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in digests.items()))
    return digests


def checksums_verify(directory: Path) -> dict:
    """Every file SHA256SUMS lists is there and matches; return the backup's manifest (backup.json).
    Raises BackupDamaged naming the first file that does not."""
    listing = directory / CHECKSUMS
    listed = _listed_checksums(directory)
    for name, digest in listed.items():
        path = directory / name
        if not path.is_file():
            raise BackupDamaged(f"{path} is missing (SHA256SUMS lists it)")
        actual = file_sha256(path)
        if actual != digest:
            raise BackupDamaged(f"{path} does not match SHA256SUMS (SHA-256 {actual}, listed {digest}): it is damaged")
    if MANIFEST not in listed:
        raise BackupDamaged(f"{listing} does not list {MANIFEST}")
    try:
        manifest = orjson.loads((directory / MANIFEST).read_bytes())
    except orjson.JSONDecodeError:
        manifest = None  # written over with SHA256SUMS to match: refused below like a wrong manifest
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("dump") not in listed:
        raise BackupDamaged(f"{directory / MANIFEST}: not a format-{FORMAT} backup manifest naming a listed dump")
    return manifest


def _listed_checksums(directory: Path) -> dict[str, str]:
    """SHA256SUMS read: {file in the backup: its SHA-256}. Raises BackupDamaged naming a line that
    is not one, or the file when it is missing."""
    listing = directory / CHECKSUMS
    if not listing.is_file():
        raise BackupDamaged(f"{listing} is missing: {directory} is not a whole backup")
    raw = listing.read_bytes()
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        number = raw.count(b"\n", 0, exc.start) + 1
        raise BackupDamaged(f"{listing}, line {number}: not '<sha256>  <file in the backup>' (not UTF-8)") from None
    listed: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, _, name = line.partition("  ")
        relative = PurePosixPath(name)
        if len(digest) != 64 or not name or relative.is_absolute() or ".." in relative.parts:
            raise BackupDamaged(f"{listing}, line {number}: not '<sha256>  <file in the backup>'")
        listed[name] = digest
    return listed


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):  # files before the directories holding them
        fsync_path(path)
    fsync_path(directory)


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


# --------------------------------------------------------------------------- restoring


def backup_restore(directory: Path, database_url: str) -> Restored:
    """Restore a backup into the empty database ``database_url`` names, after checking every file
    against SHA256SUMS; the restored tables must hold the rows the backup counted.

    Raises BackupDamaged for a file that does not match, RestoreRefused for a target that is not
    empty or of another backend, BackupError when the restore itself fails. A restore whose
    backup's row cannot then be recorded proven in the target has still succeeded: ``unrecorded``
    says why (and it is logged as a warning).
    """
    manifest = checksums_verify(directory)
    unreadable = RestoreRefused(
        "--database-url: not a database URL; write postgres://USER@HOST:5432/NAME or sqlite:////path/to/file"
    )  # never the URL itself: it may hold the password
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # django-environ warns of a scheme it does not know; refused below
        try:
            target = environ.Env.db_url_config(database_url)
        except ValueError:  # urllib's own refusals: a port that is no number, a broken [IPv6] host
            raise unreadable from None
    if not target.get("ENGINE"):
        raise unreadable
    engine = _engine(target)
    if engine.backend != manifest["backend"]:
        raise RestoreRefused(
            f"the backup is of a {manifest['backend']} database; {engine.label} is {engine.backend}: "
            "restore it into a database of its own kind"
        )
    with engine.exclusive():
        try:
            engine.refuse_foreign_journal()
            existing = engine.tables()
            if existing:
                raise RestoreRefused(
                    f"{engine.label} is not empty ({len(existing)} tables: {', '.join(existing[:3])}...): "
                    "restore into a new, empty database"
                )
        except (psycopg.Error, sqlite3.Error) as exc:
            raise BackupError(f"{engine.label}: {_one_line(exc)}") from None
        try:
            try:
                engine.restore(directory / manifest["dump"])
                restored = engine.counts()
            except (psycopg.Error, sqlite3.Error) as exc:
                raise BackupError(f"{engine.label}: {_one_line(exc)}") from None
            _compare(manifest["tables"], restored)
            try:
                _record_restored(engine, directory, manifest, restored)
                unrecorded = ""
            except BackupError as exc:
                # The data is in and counted: the restore has succeeded. Only its bookkeeping is missing,
                # which the caller is told of rather than failed by.
                log.warning("%s", exc)
                unrecorded = str(exc)
            engine.finish()
        except BaseException:
            engine.discard()  # a failed or stopped restore leaves the target as it found it
            raise
    return Restored(manifest=manifest, target=engine.label, tables=restored, unrecorded=unrecorded)


def _one_line(exc: Exception) -> str:
    """A driver's message on one line: libpq adds its hint ("Is the server running...?") on a second."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _record_restored(engine: _Postgres | _Sqlite, directory: Path, manifest: dict, restored: dict[str, int]) -> None:
    """In the restored database, the backup's own row (``running`` in its snapshot) becomes ``ok``
    and proven: restored and counted is a proof. Left running, the next backup there would mark it
    interrupted and the retention policy could prune the very backup the database came from."""
    now = timezone.now()
    listed = _listed_checksums(directory)  # checked with the files before the restore
    values = {
        "status": Backup.Status.OK.value, "proven_at": now, "finished_at": now, "error": "",
        "path": directory.name, "bytes": _size(directory), "sha256": listed[manifest["dump"]], "proof": restored,
    }  # fmt: skip
    columns = {Backup._meta.get_field(name).column: value for name, value in values.items()}
    try:
        updated = engine.update_row(Backup._meta.db_table, Backup._meta.pk.column, manifest["backup"], columns)
    except (psycopg.Error, sqlite3.Error) as exc:
        raise BackupError(
            f"{engine.label}: restored, but backup {manifest['backup']} not recorded proven: {_one_line(exc)}"
        ) from None
    if updated != 1:
        raise BackupError(f"{engine.label}: restored, but it holds no row of backup {manifest['backup']}")


# --------------------------------------------------------------------------- pruning


def backups_expired(cutoff: datetime) -> QuerySet[Backup]:
    """Backups started before ``cutoff``, but the newest proven one, however old, and any running."""
    newest_proven = (
        Backup.objects.filter(status=Backup.Status.OK, proven_at__isnull=False)
        .order_by("-started_at", "-id")
        .values("pk")[:1]
    )
    return (
        Backup.objects.filter(started_at__lt=cutoff).exclude(status=Backup.Status.RUNNING).exclude(pk__in=newest_proven)
    )


def backup_remove(backup: Backup) -> None:
    """Delete a backup's directory, then its row: a kill in between leaves a row the next prune finishes."""
    directory = backup.directory
    if directory is not None and directory.exists():
        shutil.rmtree(directory)
        fsync_path(directory.parent)
    Backup.objects.filter(pk=backup.pk).delete()


@dataclass(frozen=True)
class Unlisted:
    """A directory of BACKUP_DIR that is recognisably a backup OMEN made, which no row names."""

    path: Path
    started_at: datetime
    partial: bool  # a ``.partial-`` directory: a backup being written, or what a killed one left


# What a backup writes into its directory (SQLite's copy keeps a journal while it is written):
# a partial directory holding anything else is not taken for one.
_BACKUP_ENTRIES = {
    "database.pgdump", "database.sqlite3", "database.sqlite3-journal", MANIFEST, WRITER_STATE, LEDGER_MANIFESTS,
    CHECKSUMS,
}  # fmt: skip


def backups_unlisted() -> list[Unlisted]:
    """The directories of BACKUP_DIR that are backups OMEN made but no row names, oldest first.

    They are those taken after the backup this database was restored from (its rows are in the
    dump, not theirs), those whose rows were deleted by hand, and a killed backup's partial
    directory. Recognised by name and contents: a whole one by its ``backup.json``, whose backup
    and start time must be the name's, and which gives its age (the instant the row's
    ``started_at`` would hold; the name alone could be anyone's copy, and a file's mtime changes
    with every copy of the volume); a partial one, which may have no manifest yet, by its name,
    which gives its age, and by holding nothing a backup does not write. Anything else is left.
    """
    root = backup_root()
    try:
        entries = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []  # no backup made yet
    except OSError as exc:
        # The status page reads this too: it says so rather than fails. (A backup fails on it.)
        log.warning("cannot list BACKUP_DIR %s: %s", root, exc.strerror or exc)
        return []
    named = set(Backup.objects.exclude(path="").values_list("path", flat=True))
    found = []
    for entry in entries:
        partial = entry.name.startswith(_PARTIAL)
        name = entry.name.removeprefix(_PARTIAL)
        match = _NAME.fullmatch(name)
        if match is None or (name in named and not partial) or entry.is_symlink() or not entry.is_dir():
            continue
        started = _partial_started(entry, match) if partial else _manifest_started(entry, match)
        if started is not None:
            found.append(Unlisted(path=entry, started_at=started, partial=partial))
    return sorted(found, key=lambda unlisted: unlisted.started_at)


def _name_started(match: re.Match) -> datetime | None:
    try:
        return datetime.strptime(match["started"], _NAME_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None  # 20261399T...: not a time, so no name OMEN gave


def _partial_started(directory: Path, match: re.Match) -> datetime | None:
    try:
        entries = {entry.name for entry in directory.iterdir()}
    except OSError:
        return None
    return _name_started(match) if entries <= _BACKUP_ENTRIES else None


def _manifest_started(directory: Path, match: re.Match) -> datetime | None:
    try:
        manifest = orjson.loads((directory / MANIFEST).read_bytes())
        started = datetime.fromisoformat(manifest["started_at"])
    except (OSError, orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        return None
    if (
        manifest.get("format") != FORMAT
        or manifest.get("backup") != int(match["id"])
        or started.tzinfo is None
        or started.astimezone(UTC).strftime(_NAME_TIME) != match["started"]
    ):
        return None
    return started


def backups_unlisted_expired(cutoff: datetime, unlisted: list[Unlisted] | None = None) -> list[Unlisted]:
    """The unlisted backups (``backups_unlisted()``, unless the caller read them already) started
    before ``cutoff``, oldest first. While no row is a proven backup, the newest whole one stays:
    it may be the only backup left to restore (a directory cannot say whether it was proven)."""
    unlisted = list(backups_unlisted() if unlisted is None else unlisted)
    if not Backup.objects.filter(status=Backup.Status.OK, proven_at__isnull=False).exists():
        whole = [backup for backup in unlisted if not backup.partial]
        if whole:
            unlisted.remove(whole[-1])
    return [backup for backup in unlisted if backup.started_at < cutoff]


def backup_running() -> bool:
    """Whether a backup holds BACKUP_DIR's lock now (so a partial directory may be its own)."""
    try:
        fd = os.open(backup_root() / "_LOCK", os.O_RDWR)
    except FileNotFoundError:
        return False  # no backup ever ran here
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # at once: a backup starting now must find the lock free
    return False


def backup_directory_remove(unlisted: Unlisted) -> None:
    """Delete an unlisted backup's directory (gone already: a backup starting removed a partial one)."""
    try:
        shutil.rmtree(unlisted.path)
    except FileNotFoundError:
        return
    fsync_path(unlisted.path.parent)


# --------------------------------------------------------------------------- the backends


def _engine(db: dict) -> _Postgres | _Sqlite:
    if db["ENGINE"].endswith("postgresql"):
        return _Postgres(db)
    if db["ENGINE"].endswith("sqlite3"):
        return _Sqlite(db)
    raise BackupError(f"{db['ENGINE']}: backups are made of PostgreSQL and SQLite databases only")


def _rows(cursor, query) -> list[dict]:
    cursor.execute(query)
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed: install PostgreSQL's client programs") from None
    if result.returncode != 0:
        raise BackupError(f"{command[0]} exited with {result.returncode}: {result.stderr.strip()[-2000:]}")


class _Postgres:
    backend = Backup.Backend.POSTGRESQL
    dump_name = "database.pgdump"

    def __init__(self, db: dict):
        params = {"dbname": db["NAME"], "user": db.get("USER"), "host": db.get("HOST"), "port": db.get("PORT")}
        params |= {key: value for key, value in (db.get("OPTIONS") or {}).items() if key in _LIBPQ_OPTIONS}
        self.params = {key: str(value) for key, value in params.items() if value not in (None, "")}
        # The password goes to the programs through their environment, never their command line.
        self.password = db.get("PASSWORD") or ""
        self.name = str(db["NAME"])
        self.label = f"postgresql://{self.params.get('host', 'localhost')}:{self.params.get('port', 5432)}/{self.name}"

    def conninfo(self, dbname: str | None = None) -> str:
        return make_conninfo(**(self.params | ({"dbname": dbname} if dbname else {})))

    def connect(self, dbname: str | None = None, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(dbname), password=self.password or None, **kwargs)

    def run(self, *command: str) -> None:
        _run(list(command), os.environ | ({"PGPASSWORD": self.password} if self.password else {}))

    def dump(self, path: Path) -> Snapshot:
        with self.connect() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            exported = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            writer_state = sql.SQL("SELECT * FROM {} ORDER BY 1").format(
                sql.Identifier(LedgerWriterState._meta.db_table)
            )
            with conn.cursor() as cursor:
                snapshot = Snapshot(tables=_pg_counts(conn), writer_state=_rows(cursor, writer_state))
            # pg_dump can import the snapshot only while the transaction that exported it is open.
            self.run(
                "pg_dump", "--format=custom", "--no-password", f"--snapshot={exported}", f"--file={path}",
                f"--dbname={self.conninfo()}",
            )  # fmt: skip
            conn.rollback()
        return snapshot

    def scratch_name(self, backup_id: int) -> str:
        """``<database>_proof_<id>``, within PostgreSQL's 63 bytes: a longer database name is cut and
        a hash of it whole added, so two databases sharing a prefix do not share a scratch name."""
        suffix = f"_proof_{backup_id}"
        if len(self.name.encode()) + len(suffix) <= 63:
            return self.name + suffix
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:8]
        prefix = self.name.encode()[: 63 - len(suffix) - 9].decode(errors="ignore")
        return f"{prefix}_{digest}{suffix}"

    def scratch_mark(self, backup_id: int | str = "") -> str:
        # The comment a proof puts on the scratch database it created: what it may drop later.
        return f"omen backup proof: scratch copy of {self.name}, backup {backup_id}"

    def prove(self, dump: Path, backup_id: int) -> dict[str, int]:
        # A scratch database of the backup's own name, marked as this database's proof copy once
        # created; only a marked one is ever dropped. Any other database of that name is the
        # operator's: the proof fails naming it.
        scratch = self.scratch_name(backup_id)
        with self.connect(autocommit=True) as conn:
            encoding, collate, ctype = conn.execute(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                "WHERE datname = current_database()"
            ).fetchone()
            self._drop_left_scratch(conn, backup_id)
            taken = (
                f"the scratch database {scratch} exists and is not a proof's copy: a proof drops no "
                "database it did not create; rename or drop it"
            )
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch]).fetchone():
                raise BackupError(taken)
            # template0 and the live database's encoding and locale: what the dump was made in.
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                        sql.Identifier(scratch), sql.Literal(encoding), sql.Literal(collate), sql.Literal(ctype)
                    )
                )
            except psycopg.errors.DuplicateDatabase:
                raise BackupError(taken) from None
            try:
                conn.execute(
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        sql.Identifier(scratch), sql.Literal(self.scratch_mark(backup_id))
                    )
                )
            except BaseException:
                self._drop(conn, scratch)
                raise
        try:
            self._restore(dump, scratch)
            with self.connect(scratch) as conn:
                return _pg_counts(conn)
        finally:
            with self.connect(autocommit=True) as conn:
                self._drop(conn, scratch)

    def _drop_left_scratch(self, conn: psycopg.Connection, backup_id: int) -> None:
        """Drop the scratch copies killed proofs of this database left: marked so, owned by this
        user, and of this backup (an earlier proof of it) or of one no process is running."""
        mark = self.scratch_mark()
        left = conn.execute(
            "SELECT datname, substr(shobj_description(oid, 'pg_database'), %s) FROM pg_database "
            "WHERE starts_with(shobj_description(oid, 'pg_database'), %s) "
            "AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
            [len(mark) + 1, mark],
        ).fetchall()
        running = {str(pk) for pk in Backup.objects.filter(status=Backup.Status.RUNNING).values_list("pk", flat=True)}
        for name, of_backup in left:
            if of_backup == str(backup_id) or of_backup not in running:
                self._drop(conn, name)

    @staticmethod
    def _drop(conn: psycopg.Connection, name: str) -> None:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _restore(self, dump: Path, dbname: str) -> None:
        # One transaction: a restore that fails leaves the target as empty as it was. Objects are
        # owned by the restoring user, so a backup restores under another role than made it.
        self.run(
            "pg_restore", "--no-password", "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges",
            f"--dbname={self.conninfo(dbname)}", str(dump),
        )  # fmt: skip

    def refuse_foreign_journal(self) -> None:
        pass  # the server keeps its own write-ahead log, with the database it belongs to

    def tables(self) -> list[str]:
        with self.connect() as conn:
            return [_pg_key(schema, table) for schema, table in _pg_tables(conn)]

    def restore(self, dump: Path) -> None:
        self._restore(dump, self.name)

    @contextmanager
    def exclusive(self):
        # A second pg_restore into the same database fails on the first table the other made, and
        # its one transaction rolls back: nothing to hold.
        yield

    def finish(self) -> None:
        pass  # pg_restore committed its one transaction

    def discard(self) -> None:
        pass  # nothing is staged: a pg_restore that failed rolled back

    def counts(self) -> dict[str, int]:
        with self.connect() as conn:
            return _pg_counts(conn)

    def update_row(self, table: str, key: str, pk: int, columns: dict) -> int:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()) for column in columns
        )
        values = [Jsonb(value) if isinstance(value, dict) else value for value in columns.values()]
        with self.connect() as conn:
            return conn.execute(
                sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
                    sql.Identifier(table), assignments, sql.Identifier(key)
                ),
                [*values, pk],
            ).rowcount


def _pg_tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    # "pg_" schemas are the system's (a user's cannot be named so): the catalog, and every
    # session's temporary tables (pg_temp_N), which no dump holds.
    return conn.execute(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema' ORDER BY 1, 2"
    ).fetchall()


def _pg_key(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


def _pg_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {
        _pg_key(schema, table): conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        ).fetchone()[0]
        for schema, table in _pg_tables(conn)
    }


class _Sqlite:
    backend = Backup.Backend.SQLITE
    dump_name = "database.sqlite3"

    def __init__(self, db: dict):
        self.name = str(db["NAME"])
        self.label = f"sqlite:{self.name}"
        self._staged_fd: int | None = None  # held by ``exclusive`` while a restore runs

    def dump(self, path: Path) -> Snapshot:
        # Through the live connection: it reads a file database and the suite's in-memory one alike.
        connection.ensure_connection()
        live = connection.connection
        own_transaction = not live.in_transaction
        if own_transaction:
            live.execute("BEGIN")  # deferred: a read snapshot from the first count on; writers go on
        try:
            writer_state = f"SELECT * FROM {_quoted(LedgerWriterState._meta.db_table)} ORDER BY 1"
            with closing(live.cursor()) as cursor:
                snapshot = Snapshot(tables=_sqlite_counts(live), writer_state=_rows(cursor, writer_state))
            with closing(sqlite3.connect(path)) as copy:
                live.backup(copy)
                # A copy in WAL mode needs a -wal and -shm beside it to be read; with a rollback
                # journal it is one self-contained file.
                copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            if own_transaction:
                live.execute("COMMIT")
        return snapshot

    def prove(self, dump: Path, backup_id: int) -> dict[str, int]:
        with closing(_read_only(dump)) as copy:
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{dump.name}: the integrity check found {'; '.join(problems[:5])}")
            return _sqlite_counts(copy)

    def _path(self) -> Path:
        if self.name == ":memory:" or "mode=memory" in self.name:
            raise RestoreRefused(f"{self.label} lives in memory: restore into a file")
        # The file a symlink names (a database on a volume of its own): the restore is staged beside
        # it and renamed onto it, and renamed onto the link it would replace the link instead.
        return Path(os.path.realpath(self.name))

    def refuse_foreign_journal(self) -> None:
        """Refuse a target beside a -wal that holds frames, or a -journal that holds anything:
        SQLite pairs them with a database file by name alone, so once the restored copy is renamed
        onto the target, the first connection would lay their pages over it (another database's,
        left when one was deleted or emptied without them, or the target's own, still open)."""
        path = self._path()
        for suffix, empty_size in (("-wal", _WAL_HEADER_BYTES), ("-journal", 0)):
            journal = path.with_name(f"{path.name}{suffix}")
            try:
                size = journal.stat().st_size
            except FileNotFoundError:
                continue
            if size > empty_size:
                raise RestoreRefused(
                    f"{self.label}: {journal} holds {size:,} bytes of writes that SQLite would lay over the "
                    "restored copy (left by a database deleted or emptied without it, or one still open): stop "
                    f"whatever uses {path.name}, remove {journal.name} and {path.name}-shm, then restore again"
                )

    def tables(self) -> list[str]:
        path = self._path()
        if not path.exists():
            return []
        with closing(_read_only(path)) as conn:
            return list(_sqlite_tables(conn))

    def _staged(self) -> Path:
        path = self._path()
        return path.with_name(f".{path.name}.restoring")

    @contextmanager
    def exclusive(self):
        """One restore into this target at a time: an flock on the staged file, which goes with a
        dead process (SQLite's own locks are fcntl locks, apart from it). A second restore would
        otherwise remove the first one's staged copy, or rename its own onto it."""
        staged = self._staged()
        try:
            fd = os.open(staged, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BackupError(f"{self.label}: cannot write {staged}: {exc.strerror or exc}") from None
        locked = False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RestoreRefused(f"{self.label}: another restore into it is running") from None
            locked = True
            self._staged_fd = fd
            yield
        finally:
            self._staged_fd = None
            if locked and _same_file(fd, staged) and os.fstat(fd).st_size == 0:
                staged.unlink()  # refused before anything was staged (a target not empty): no trace left
            os.close(fd)

    def restore(self, dump: Path) -> None:
        # Into a file beside the target, renamed onto it once counted and recorded (``finish``):
        # restored in place, a restore stopped midway left a copy the next one called "not empty",
        # or a hot journal it could not open. What a killed restore staged is its own: emptied here,
        # in the locked file, rather than removed (a new file would not be locked).
        os.ftruncate(self._staged_fd, 0)
        self._staged().with_name(f"{self._staged().name}-journal").unlink(missing_ok=True)
        with closing(_read_only(dump)) as source, closing(sqlite3.connect(self._staged())) as target:
            source.backup(target)

    def finish(self) -> None:
        try:
            # Restored in place, the target kept its mode (an operator's 0600 on a file that will
            # hold password hashes); renamed onto it, the staged copy brings its own.
            os.chmod(self._staged(), stat.S_IMODE(self._path().stat().st_mode))
        except FileNotFoundError:
            pass  # a new target: SQLite's own mode, as it would have made it
        fsync_path(self._staged())
        os.replace(self._staged(), self._path())
        fsync_path(self._path().parent)

    def discard(self) -> None:
        staged = self._staged()
        for path in (staged, staged.with_name(f"{staged.name}-journal")):
            path.unlink(missing_ok=True)

    def counts(self) -> dict[str, int]:
        with closing(_read_only(self._staged())) as conn:
            return _sqlite_counts(conn)

    def update_row(self, table: str, key: str, pk: int, columns: dict) -> int:
        values = [_sqlite_value(value) for value in columns.values()]
        assignments = ", ".join(f"{_quoted(column)} = ?" for column in columns)
        with closing(sqlite3.connect(self._staged())) as conn, conn:  # commits on leaving
            return conn.execute(
                f"UPDATE {_quoted(table)} SET {assignments} WHERE {_quoted(key)} = ?", [*values, pk]
            ).rowcount


# A -wal no longer than its header holds no frames: what a database opened and closed leaves.
_WAL_HEADER_BYTES = 32


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not renamed away, nor made anew)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _sqlite_value(value):
    # As Django stores them in SQLite: datetimes naive in UTC, JSON as text.
    if isinstance(value, datetime):
        return str(value.astimezone(UTC).replace(tzinfo=None))
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return value


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )
    return [name for (name,) in rows]


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0] for table in _sqlite_tables(conn)
    }
