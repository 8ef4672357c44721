"""A backup's SHA256SUMS and manifest that cannot be read are a damaged backup (exit 2) naming the file,
never a traceback: bytes that are not UTF-8, a manifest written over to match its checksum."""

import hashlib
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from retention.services.backup import BackupDamaged, checksums_verify


def a_listed_file(directory: Path, name: str, content: bytes) -> bytes:
    (directory / name).write_bytes(content)
    return f"{hashlib.sha256(content).hexdigest()}  {name}\n".encode()


def test_a_byte_that_is_not_utf8_in_sha256sums_names_the_file_and_its_line(tmp_path):
    listed = a_listed_file(tmp_path, "database.sqlite3", b"rows")
    (tmp_path / "SHA256SUMS").write_bytes(listed + b"\xff\xfe  backup.json\n")

    with pytest.raises(BackupDamaged, match=r"SHA256SUMS, line 2: not '<sha256>  <file in the backup>' \(not UTF-8\)"):
        checksums_verify(tmp_path)


def test_restore_of_a_backup_whose_sha256sums_is_not_utf8_exits_2_naming_it(tmp_path):
    (tmp_path / "SHA256SUMS").write_bytes(b"\x80")

    with pytest.raises(CommandError, match="SHA256SUMS, line 1: ") as refused:
        call_command("restore", str(tmp_path), "--database-url", f"sqlite:///{tmp_path / 'target.sqlite3'}")

    assert str(tmp_path / "SHA256SUMS") in str(refused.value) and refused.value.returncode == 2


@pytest.mark.parametrize("manifest", [b"\x1f\x8b not json", b"[1, 2]"], ids=["not-json", "not-an-object"])
def test_a_manifest_that_matches_its_checksum_but_is_no_manifest_is_damaged(tmp_path, manifest):
    listing = a_listed_file(tmp_path, "database.sqlite3", b"rows") + a_listed_file(tmp_path, "backup.json", manifest)
    (tmp_path / "SHA256SUMS").write_bytes(listing)

    with pytest.raises(BackupDamaged, match="backup.json: not a format-1 backup manifest"):
        checksums_verify(tmp_path)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("restore", ["0 restored", "2 a file of the backup is missing or does not match", "1 anything else"]),
        ("backup", ["0 the backup is made and proven", "1 it failed", "another backup is running"]),
    ],
)
def test_the_help_gives_every_exit_status(capsys, command, words):
    with pytest.raises(SystemExit):
        call_command(command, "--help")
    text = " ".join(capsys.readouterr().out.split())

    for word in words:
        assert word in text
