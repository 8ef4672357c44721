"""Backups: made at one moment, checksummed and proven; restored into an empty database with every row
and contract, the ledger verifying against it; a damaged one refused; pruned by the retention table."""

import errno
import fcntl
import hashlib
import logging
import os
import re
import resource
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast

from ledger.models import LedgerWriterState
from ledger.services.seal import partition_seal
from retention.models import Backup
from retention.services.backup import BackupError, _Postgres, _Sqlite, backup_create, backup_prove
from retention.services.status import policy_status
from retention.services.sweep import sweep
from signals.models import Signal
from tests.support.factories import SignalFactory
from tests.support.ledger_days import frames_when_drained, write_day
from tests.support.processes import admin_connection, child_env, manage, query

pytestmark = pytest.mark.django_db(transaction=True)

DAY = datetime(2026, 3, 10, 12, tzinfo=UTC)

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="of SQLite's copy, or an SQLite dump edited")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listed_checksums(directory: Path) -> dict[str, str]:
    lines = (directory / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ") for line in lines)}


def dump_of(backup: Backup) -> Path:
    (dump,) = [path for path in backup.directory.iterdir() if path.name.startswith("database.")]
    return dump


# Tables a dump holds: not SQLite's own, not a session's temporary ones (PostgreSQL's pg_temp_N).
TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
}


def tables_in(url: str) -> list[str]:
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    return sorted(name for (name,) in query(url, TABLES["sqlite" if url.startswith("sqlite") else "postgresql"]))


def counts_in(url: str, tables: list[str]) -> dict[str, int]:
    return dict(query(url, " UNION ALL ".join(f"SELECT '{table}', count(*) FROM \"{table}\"" for table in tables)))


def counts_here() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(TABLES[connection.vendor])
        counts = {}
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def storage_report_text() -> str:
    out = StringIO()
    call_command("storage_report", stdout=out)
    return out.getvalue()


def test_a_backup_restored_into_an_empty_database_has_every_row_and_contract_and_the_ledger_verifies(
    settings, fresh_database_url, tmp_path
):
    frames_when_drained(settings)
    sealed = write_day(DAY, signals=4)
    partition_seal(sealed, now=DAY + timedelta(days=1, hours=3))
    open_partition = write_day(DAY + timedelta(days=1), signals=2)
    out = StringIO()

    call_command("backup", stdout=out)

    backup = Backup.objects.get()
    assert backup.proven and str(backup.directory) in out.getvalue()
    here = counts_here()
    assert backup.proof == here and here["signals_signal"] == 6
    files = listed_checksums(backup.directory)
    assert set(files) == {
        path.relative_to(backup.directory).as_posix() for path in backup.directory.rglob("*") if path.is_file()
    } - {"SHA256SUMS"}
    assert files[dump_of(backup).name] == backup.sha256
    ledger_dir = Path(settings.LEDGER_DIR)
    for copied in (f"{sealed}/_manifest.json", f"{sealed}/_SEALED", f"{open_partition}/_CURRENT"):
        assert files[f"ledger-manifests/ledger/{copied}"] == sha256(ledger_dir / copied), copied
    (writer_state,) = orjson.loads((backup.directory / "ledger-writer-state.json").read_bytes())
    assert writer_state["chain_head"] == LedgerWriterState.objects.get().chain_head
    assert writer_state["frames_written"] == 6

    url = fresh_database_url()
    call_command("restore", str(backup.directory), "--database-url", url, stdout=StringIO())

    assert tables_in(url) == sorted(here)
    assert counts_in(url, sorted(here)) == here
    contracts = query(url, "SELECT signal_id, CAST(contract AS TEXT) FROM signals_signal")
    assert dict(contracts) == dict(Signal.objects.values_list("signal_id", Cast("contract", TextField())))
    env = child_env(
        url, tmp_path / "var", LEDGER_DIR=str(ledger_dir), LEDGER_ARCHIVE_DIR=str(settings.LEDGER_ARCHIVE_DIR)
    )
    assert "6 signals" in manage(env, "ledger", "verify", "--contents")  # exit 0: intact, reconciled
    with pytest.raises(CommandError, match="is not empty"):
        call_command("restore", str(backup.directory), "--database-url", url)


def test_restore_refuses_a_damaged_backup_naming_the_file_and_leaves_the_target_empty(fresh_database_url):
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    dump = dump_of(backup)
    damaged = bytearray(dump.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    dump.write_bytes(damaged)
    url = fresh_database_url()

    with pytest.raises(CommandError, match="does not match SHA256SUMS") as refused:
        call_command("restore", str(backup.directory), "--database-url", url)

    assert str(dump) in str(refused.value) and refused.value.returncode == 2
    assert tables_in(url) == []


@pytest.mark.parametrize(
    "url", ["junk", "", "postgres://omen:s3cret@127.0.0.1:notaport/omen", "postgres://omen:s3cret@[::1/omen"]
)
def test_restore_refuses_a_database_url_it_cannot_read_in_one_line_without_the_password(url):
    """The fault probe's `--database-url postgres://u@h:notaport/db` ended in urllib's ValueError traceback."""
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error

    with pytest.raises(CommandError) as refused:
        call_command("restore", str(backup.directory), "--database-url", url)

    assert str(refused.value).startswith("--database-url: not a database URL")
    assert "s3cret" not in str(refused.value) and refused.value.returncode == 1


@sqlite_only
def test_an_sqlite_restore_stopped_midway_leaves_no_file_under_the_targets_name_and_a_rerun_finishes(
    tmp_path, monkeypatch
):
    """The fault probe killed `restore` after SQLite's copy: the next one said "not empty", or, with
    the copy's hot journal left, "attempt to write a readonly database", and a half-done restore
    sat under the target's name."""
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    target = tmp_path / "restored.sqlite3"
    url = f"sqlite:///{target}"

    def stopped(self):
        raise KeyboardInterrupt  # Ctrl-C between the copy and its count

    with monkeypatch.context() as patched:
        patched.setattr(_Sqlite, "counts", stopped)
        with pytest.raises(KeyboardInterrupt):
            call_command("restore", str(backup.directory), "--database-url", url)
    assert not target.exists()

    call_command("restore", str(backup.directory), "--database-url", url, stdout=StringIO())

    assert Signal._meta.db_table in tables_in(url)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["restored.sqlite3"]  # nothing staged is left


@sqlite_only
def test_an_sqlite_restore_into_a_symlink_fills_the_file_it_points_at(tmp_path):
    """Restored in place, a target named by a symlink (the database file on a volume of its own) was
    the file it points at; renamed onto the link, the restored copy replaced the link, beside it,
    and the file the link pointed at stayed empty."""
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    (tmp_path / "volume").mkdir()
    real = tmp_path / "volume" / "omen.sqlite3"
    link = tmp_path / "omen.sqlite3"
    link.symlink_to(real)

    call_command("restore", str(backup.directory), "--database-url", f"sqlite:///{link}", stdout=StringIO())

    assert link.is_symlink()
    assert Signal._meta.db_table in tables_in(f"sqlite:///{real}")
    assert sorted(path.name for path in (tmp_path / "volume").iterdir()) == ["omen.sqlite3"]


@sqlite_only
def test_an_sqlite_restore_keeps_the_mode_of_the_empty_file_it_fills(tmp_path):
    """An operator who made the target readable by its owner only (it will hold the users' password
    hashes and the API keys' digests) had it replaced by a copy any user could read."""
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    target = tmp_path / "omen.sqlite3"
    target.touch()
    target.chmod(0o600)

    call_command("restore", str(backup.directory), "--database-url", f"sqlite:///{target}", stdout=StringIO())

    assert Signal._meta.db_table in tables_in(f"sqlite:///{target}")
    assert target.stat().st_mode & 0o777 == 0o600


@sqlite_only
def test_a_second_restore_into_the_same_sqlite_target_while_one_runs_is_refused(tmp_path, monkeypatch):
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    target = tmp_path / "restored.sqlite3"
    url = f"sqlite:///{target}"
    refusals = []
    counts = _Sqlite.counts

    def counts_while_another_restore_starts(self):
        if not refusals:  # the first restore has copied; a second one, into the same file, starts now
            refusals.append("")
            with pytest.raises(CommandError) as refused:
                call_command("restore", str(backup.directory), "--database-url", url, stdout=StringIO())
            refusals[0] = str(refused.value)
        return counts(self)

    monkeypatch.setattr(_Sqlite, "counts", counts_while_another_restore_starts)
    call_command("restore", str(backup.directory), "--database-url", url, stdout=StringIO())

    assert refusals == [f"sqlite:{target}: another restore into it is running"]
    assert Signal._meta.db_table in tables_in(url)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["restored.sqlite3"]


def another_databases_journal(directory: Path, suffix: str) -> bytes:
    """The -wal (or hot -journal) of a database with one table, "stale", left as a crash leaves it."""
    source = directory / "other.sqlite3"
    with closing(sqlite3.connect(source, isolation_level=None)) as other:
        if suffix == "-wal":
            other.execute("PRAGMA journal_mode=WAL")
            other.execute("PRAGMA wal_autocheckpoint=0")
            other.execute("CREATE TABLE stale (x)")
            other.execute("INSERT INTO stale VALUES (1)")
            journal = Path(f"{source}-wal").read_bytes()  # still open: the frames are not checkpointed
        else:
            other.execute("CREATE TABLE stale (x)")
            other.executemany("INSERT INTO stale VALUES (randomblob(3000))", [()] * 50)
            other.execute("PRAGMA cache_size=1")  # the transaction spills: its journal is synced, hot
            other.execute("BEGIN")
            other.execute("DROP TABLE stale")
            other.execute("CREATE TABLE newer (x)")
            other.executemany("INSERT INTO newer VALUES (randomblob(3000))", [()] * 100)
            journal = Path(f"{source}-journal").read_bytes()  # mid-transaction: a hot journal
            other.execute("ROLLBACK")
    for path in directory.glob("other.sqlite3*"):
        path.unlink()
    return journal


@sqlite_only
@pytest.mark.parametrize("suffix", ["-wal", "-journal"])
@pytest.mark.parametrize("target_exists", [False, True], ids=["deleted", "emptied"])
def test_an_sqlite_restore_beside_another_databases_journal_is_refused_naming_it(tmp_path, suffix, target_exists):
    """The fault probe's operator deleted (or emptied) the database file and not its -wal: the restore
    said it succeeded, and the next connection laid the old database's frames over the restored copy
    (a database holding the old one's tables, not the backup's). SQLite pairs a journal with a file
    by name alone."""
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    target = tmp_path / "omen.sqlite3"
    if target_exists:
        target.touch()
    journal = Path(f"{target}{suffix}")
    journal.write_bytes(another_databases_journal(tmp_path, suffix))
    url = f"sqlite:///{target}"

    with pytest.raises(CommandError) as refused:
        call_command("restore", str(backup.directory), "--database-url", url, stdout=StringIO())

    message = str(refused.value)
    assert message.startswith(f"sqlite:{target}: {journal} holds ") and f"remove {journal.name} and" in message
    assert journal.exists() and target.exists() == target_exists  # left for the operator to judge
    journal.unlink()
    call_command("restore", str(backup.directory), "--database-url", url, stdout=StringIO())
    assert "stale" not in tables_in(url) and Signal._meta.db_table in tables_in(url)


@pytest.mark.parametrize("stage", ["dump", "prove"])
def test_a_backup_stopped_by_ctrl_c_is_recorded_failed_at_once_and_leaves_no_directory(settings, monkeypatch, stage):
    """The fault probe's Ctrl-C left the row `running` (storage_report: NOT PROVEN, "still running")
    until the next backup."""
    SignalFactory()

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_Sqlite if connection.vendor == "sqlite" else _Postgres, stage, stopped)
    with pytest.raises(KeyboardInterrupt):
        backup_create()

    (backup,) = Backup.objects.all()
    assert backup.status == "failed" and backup.error == "interrupted: stopped by Ctrl-C"
    assert backup.finished_at is not None and backup.proven_at is None
    if stage == "dump":  # the partial directory is removed; a whole, unproven one stays for the prune
        assert [path.name for path in Path(settings.BACKUP_DIR).iterdir()] == ["_LOCK"]


def cut_the_dump_in_half(backup: Backup) -> Path:
    dump = dump_of(backup)
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    return dump


def count_a_signal_the_dump_lacks(backup: Backup) -> Path:
    manifest = backup.directory / "backup.json"
    fields = orjson.loads(manifest.read_bytes())
    fields["tables"]["signals_signal"] += 1
    manifest.write_bytes(orjson.dumps(fields))
    return manifest


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (cut_the_dump_in_half, "not proven: "),
        (count_a_signal_the_dump_lacks, "not proven: the restored tables differ from the database at the backup: "
                                        "signals_signal 2 at the backup, 1 restored"),
    ],
)  # fmt: skip
def test_a_backup_whose_proof_fails_is_recorded_failed_and_shown(admin_client, damage, error):
    SignalFactory()
    backup = backup_create()
    assert "the newest backup is proven" in storage_report_text()
    # Damaged past what the checksums know (they are rewritten to match): the proof itself must fail.
    damaged = damage(backup)
    listing = backup.directory / "SHA256SUMS"
    name = damaged.relative_to(backup.directory).as_posix()
    listing.write_text(listing.read_text().replace(listed_checksums(backup.directory)[name], sha256(damaged)))

    backup = backup_prove(backup)

    assert (backup.status, backup.proven_at, backup.proof) == ("failed", None, {})
    assert backup.error.startswith(error)
    report = storage_report_text()
    assert "Backups:     the newest backup FAILED: not proven: " in report and "not proven, " in report
    page = admin_client.get("/admin/retention/backup/", {"status__exact": "failed"}).content.decode()
    assert backup.path in page and "not proven: " in page


def test_a_backup_that_cannot_be_written_fails_the_command_and_is_recorded(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "a-file"
    settings.BACKUP_DIR.write_text("not a directory")

    with pytest.raises(CommandError, match="cannot write BACKUP_DIR"):
        call_command("backup")

    (backup,) = Backup.objects.all()
    assert backup.status == "failed" and "cannot write BACKUP_DIR" in backup.error


def fsync_on_a_full_disk(fd: int) -> None:
    # What fsync(2) reports when the file system filled before the data written reached it.
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_backup_dir_fails_the_command_in_one_line_naming_the_directory_and_is_recorded(
    settings, monkeypatch, caplog
):
    SignalFactory()
    monkeypatch.setattr(os, "fsync", fsync_on_a_full_disk)
    full = f"cannot write BACKUP_DIR {settings.BACKUP_DIR}: No space left on device (errno 28); free space on its"

    with caplog.at_level(logging.ERROR, logger="omen.retention"), pytest.raises(CommandError, match=re.escape(full)):
        call_command("backup")

    (backup,) = Backup.objects.all()
    assert backup.status == "failed" and backup.error.startswith(f"not written: {full}")
    (record,) = [record for record in caplog.records if record.name == "omen.retention"]
    assert record.getMessage() == f"backup {backup.pk} failed: {backup.error.removeprefix('not written: ')}"
    assert record.exc_info is None  # expected: the line says it all
    assert [path.name for path in Path(settings.BACKUP_DIR).iterdir()] == ["_LOCK"]  # no partial left


@sqlite_only
def test_a_backup_dir_that_cannot_take_sqlites_copy_fails_the_backup_in_one_line(settings, caplog):
    SignalFactory()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # No file may grow past 16 KiB: a write past it fails (EFBIG; Python ignores SIGXFSZ), as on a
    # full disk, and SQLite's copy is the first file to grow. The suite's own database is in memory.
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, hard))
    try:
        with caplog.at_level(logging.ERROR, logger="omen.retention"):
            backup = backup_create()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    assert backup.status == "failed"
    assert backup.error.startswith(f"not written: cannot write BACKUP_DIR {settings.BACKUP_DIR}: SQLite could not ")
    (record,) = [record for record in caplog.records if record.name == "omen.retention"]
    assert record.exc_info is None


def test_backups_older_than_the_policy_are_pruned_but_the_newest_proven_one_stays(settings):
    def backup_aged(days: int, status: str) -> Backup:
        started = DAY - timedelta(days=days)
        directory = Path(settings.BACKUP_DIR) / f"{days}d"
        directory.mkdir(parents=True)
        (directory / "SHA256SUMS").write_text("")
        proven_at = started if status == "ok" else None
        return Backup.objects.create(
            started_at=started, backend="sqlite", path=directory.name, status=status, proven_at=proven_at
        )

    backup_aged(45, "ok")
    newest_proven = backup_aged(40, "ok")  # older than 30 days, but nothing newer is proven
    backup_aged(31, "failed")
    recent = backup_aged(29, "failed")
    (status,) = [row for row in policy_status(now=DAY) if row.policy.name == "backups"]
    assert status.expired == 2

    (run,) = sweep(["backups"], now=DAY)

    assert (run.status, run.counted, run.deleted) == ("ok", 2, 2)
    assert set(Backup.objects.values_list("pk", flat=True)) == {newest_proven.pk, recent.pk}
    assert sorted(path.name for path in Path(settings.BACKUP_DIR).iterdir()) == ["29d", "40d"]


def entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_backup_directories_no_row_names_are_pruned_by_age_but_nothing_omen_did_not_make(settings):
    SignalFactory()
    root = Path(settings.BACKUP_DIR)
    listed = backup_create()
    unlisted = backup_create()
    assert listed.proven and unlisted.proven, (listed.error, unlisted.error)
    Backup.objects.filter(pk=unlisted.pk).delete()  # as the admin may: its directory stays
    now = datetime.now(UTC)
    # What a killed backup left: its directory under the temporary name, the dump half written.
    crashed = root / f".partial-{now:%Y%m%dT%H%M%SZ}-{unlisted.pk + 1}"
    crashed.mkdir()
    (crashed / "database.pgdump").write_bytes(b"PGDMP")
    # Not OMEN's, or not recognisably: a directory of the operator's, one named like a backup
    # without a manifest, a backup copied aside under another name (its manifest disagrees), a
    # partial-looking directory holding another file, and a file.
    (root / "notes").mkdir()
    (root / "20260101T000000Z-99").mkdir()
    renamed = root / f"20260101T000000Z-{unlisted.pk}"
    shutil.copytree(unlisted.directory, renamed)
    foreign_partial = root / f".partial-{now:%Y%m%dT%H%M%SZ}-1000"
    foreign_partial.mkdir()
    (foreign_partial / "notes.txt").write_text("mine")
    (root / f"{now:%Y%m%dT%H%M%SZ}-1001").write_text("a file")
    before = entries(root)
    later = now + timedelta(days=40)
    (status,) = [row for row in policy_status(now=later) if row.policy.name == "backups"]
    assert status.expired == 2  # the unlisted backup and the partial one; the listed one is the newest proven

    (recent,) = sweep(["backups"], now=now + timedelta(days=29))
    (dry,) = sweep(["backups"], now=later, dry_run=True)

    assert (recent.counted, recent.deleted, dry.status, dry.counted, dry.deleted) == (0, 0, "ok", 2, 0)
    assert entries(root) == before
    with (root / "_LOCK").open("r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a backup is running: the partial directory may be its own

        (while_running,) = sweep(["backups"], now=later)

    assert (while_running.status, while_running.counted, while_running.deleted) == ("ok", 1, 1)
    assert not unlisted.directory.exists() and crashed.exists()

    (run,) = sweep(["backups"], now=later)

    assert (run.status, run.counted, run.deleted) == ("ok", 1, 1)
    assert sorted(set(before) - set(entries(root))) == sorted([unlisted.path, crashed.name])
    assert Backup.objects.get().pk == listed.pk and listed.directory.is_dir()


def test_while_no_row_is_a_proven_backup_the_newest_directory_no_row_names_stays(settings):
    SignalFactory()
    older, newer = backup_create(), backup_create()
    Backup.objects.all().delete()  # it may be the only backup left to restore

    (run,) = sweep(["backups"], now=datetime.now(UTC) + timedelta(days=40))

    assert (run.status, run.counted, run.deleted) == ("ok", 1, 1)
    assert not older.directory.exists() and newer.directory.is_dir()


def test_backups_taken_after_the_one_a_database_was_restored_from_are_pruned_there(
    settings, fresh_database_url, tmp_path
):
    SignalFactory()
    restored_from = backup_create()
    taken_after = backup_create()
    assert restored_from.proven and taken_after.proven, (restored_from.error, taken_after.error)
    url = fresh_database_url()
    call_command("restore", restored_from.path, "--database-url", url, stdout=StringIO())
    # The restored database, on the same BACKUP_DIR, 40 days on: it has no row of the later
    # backup, whose directory goes by its manifest's age; the one it came from is its newest proven.
    code = (
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from retention.services.sweep import sweep\n"
        "(run,) = sweep(['backups'], now=timezone.now() + timedelta(days=40))\n"
        "print(run.status, run.counted, run.deleted)\n"
    )
    env = child_env(url, tmp_path / "var", BACKUP_DIR=str(settings.BACKUP_DIR))

    assert manage(env, "shell", "-c", code).splitlines()[-1] == "ok 1 1"  # the unlisted one, counted and deleted
    assert entries(Path(settings.BACKUP_DIR)) == [restored_from.path, "_LOCK"]
    assert query(url, "SELECT id, status FROM retention_backup") == [(restored_from.pk, "ok")]


def test_a_restored_database_holds_its_backup_proven_and_keeps_it_through_a_failing_backup_and_a_prune(
    fresh_database_url, tmp_path
):
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    url = fresh_database_url()

    call_command("restore", backup.path, "--database-url", url, stdout=StringIO())

    (row,) = query(
        url, f"SELECT status, proven_at IS NOT NULL, path, bytes, sha256 FROM retention_backup WHERE id = {backup.pk}"
    )
    assert row == ("ok", True, backup.path, backup.bytes, backup.sha256)
    # In the restored database: a backup that fails (pg_dump gone), then the sweep 40 days on. The
    # restored-from backup is the newest proven one there, so it stays; the failed one goes.
    code = (
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from retention.services import backup\n"
        "from retention.services.sweep import sweep\n"
        "def no_pg_dump(self, path):\n"
        "    raise backup.BackupError('pg_dump is not installed')\n"
        "backup._Postgres.dump = backup._Sqlite.dump = no_pg_dump\n"
        "assert backup.backup_create().status == 'failed'\n"
        "sweep(['backups'], now=timezone.now() + timedelta(days=40))\n"
    )
    manage(child_env(url, tmp_path / "var"), "shell", "-c", code)

    assert query(url, "SELECT id, status FROM retention_backup") == [(backup.pk, "ok")]


def name_a_backup_the_dump_lacks(backup: Backup) -> Path:
    manifest = backup.directory / "backup.json"
    fields = orjson.loads(manifest.read_bytes())
    fields["backup"] += 1000
    manifest.write_bytes(orjson.dumps(fields))
    return manifest


def refuse_updates_of_backup_rows(backup: Backup) -> Path:
    # A trigger is no table: the restore counts the same tables and rows, then the update fails.
    dump = dump_of(backup)
    with closing(sqlite3.connect(dump)) as conn, conn:
        conn.execute(
            "CREATE TRIGGER refuse_update BEFORE UPDATE ON retention_backup "
            "BEGIN SELECT RAISE(ABORT, 'retention_backup is read-only here'); END"
        )
    return dump


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (name_a_backup_the_dump_lacks, ": restored, but it holds no row of backup "),
        pytest.param(
            refuse_updates_of_backup_rows, " not recorded proven: retention_backup is read-only here", marks=sqlite_only
        ),
    ],
)
def test_a_restore_that_cannot_record_its_backup_proven_succeeds_with_a_warning_saying_why(
    fresh_database_url, damage, reason
):
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    damaged = damage(backup)
    listing = backup.directory / "SHA256SUMS"
    name = damaged.relative_to(backup.directory).as_posix()
    listing.write_text(listing.read_text().replace(listed_checksums(backup.directory)[name], sha256(damaged)))
    url = fresh_database_url()
    out, err = StringIO(), StringIO()

    call_command("restore", str(backup.directory), "--database-url", url, stdout=out, stderr=err)  # exit 0

    assert counts_in(url, sorted(backup.proof)) == backup.proof
    assert out.getvalue().startswith("restored backup ")
    warning = err.getvalue()
    assert warning.startswith("warning: ") and reason in warning and "does not list backup" in warning


def no_pg_dump(self, path):
    raise BackupError("pg_dump is not installed: install PostgreSQL's client programs")


def a_bug(self, path):
    raise ZeroDivisionError("division by zero")


@pytest.mark.parametrize(
    ("dump", "message", "traceback"),
    [
        (no_pg_dump, "pg_dump is not installed: install PostgreSQL's client programs", False),
        (a_bug, "", True),  # unexpected: its traceback is what to debug it by
    ],
)
def test_a_backup_that_cannot_be_written_logs_one_error_line_and_a_traceback_only_when_unexpected(
    monkeypatch, caplog, dump, message, traceback
):
    monkeypatch.setattr(_Postgres, "dump", dump)
    monkeypatch.setattr(_Sqlite, "dump", dump)

    with caplog.at_level(logging.ERROR, logger="omen.retention"):
        backup = backup_create()

    assert backup.status == "failed"
    (record,) = [record for record in caplog.records if record.name == "omen.retention"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"backup {backup.pk} failed" + (f": {message}" if message else "")
    assert (record.exc_info is not None) is traceback


postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's proof makes no database")


def create_database(name: str, comment: str | None = None) -> None:
    with admin_connection(connection.settings_dict) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if comment is not None:
            conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")


def database_exists(name: str) -> bool:
    with admin_connection(connection.settings_dict) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@pytest.fixture
def operator_databases():
    """Databases a test makes as an operator would; dropped afterwards whatever the backup did."""
    names: list[str] = []
    yield names
    with admin_connection(connection.settings_dict) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@postgresql_only
def test_a_proof_drops_no_database_it_did_not_create_and_fails_naming_one_holding_its_scratch_name(
    operator_databases,
):
    engine = _Postgres(connection.settings_dict)
    SignalFactory()
    old_scratch = f"{engine.name[:48]}_proof"  # the name every proof used to drop first
    operator_databases.append(old_scratch)
    create_database(old_scratch)

    backup = backup_create()

    assert backup.proven, backup.error
    assert database_exists(old_scratch)
    scratch = engine.scratch_name(backup.pk)
    assert scratch == f"{engine.name}_proof_{backup.pk}" and not database_exists(scratch)  # dropped after it
    operator_databases.append(scratch)
    create_database(scratch)

    backup = backup_prove(backup)

    assert backup.status == "failed" and f"the scratch database {scratch} exists" in backup.error
    assert database_exists(scratch)


@postgresql_only
def test_a_proof_drops_the_scratch_copies_killed_proofs_left(operator_databases):
    engine = _Postgres(connection.settings_dict)
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error
    # What a proof killed after creating its scratch copy leaves: of this backup, and of one long gone.
    left = [engine.scratch_name(backup.pk), engine.scratch_name(backup.pk + 1000)]
    operator_databases.extend(left)
    create_database(left[0], engine.scratch_mark(backup.pk))
    create_database(left[1], engine.scratch_mark(backup.pk + 1000))

    backup = backup_prove(backup)

    assert backup.proven, backup.error
    assert not any(database_exists(name) for name in left)


def test_a_scratch_name_holds_the_backup_id_within_postgresqls_63_bytes():
    long = {"ENGINE": "django.db.backends.postgresql", "NAME": "é" * 40}
    other = long | {"NAME": "é" * 39 + "x"}
    names = [_Postgres(db).scratch_name(123456789) for db in (long, other)]
    assert all(len(name.encode()) <= 63 and name.endswith("_proof_123456789") for name in names)
    assert names[0] != names[1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL backup, restored to a server not there")
def test_restore_into_a_server_that_is_not_there_is_one_line():
    """libpq's refusal is two lines (the reason, then "Is the server running...?"): a CommandError
    of two lines, the second indented by a tab, under the first."""
    SignalFactory()
    backup = backup_create()
    assert backup.proven, backup.error

    with pytest.raises(CommandError) as refused:
        call_command("restore", str(backup.directory), "--database-url", "postgres://omen:s3cret@127.0.0.1:1/omen")

    message = str(refused.value)
    assert "\n" not in message and "s3cret" not in message
    assert message.startswith("postgresql://127.0.0.1:1/omen: connection failed: ") and "Connection refused" in message
