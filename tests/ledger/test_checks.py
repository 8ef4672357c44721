"""The ledger's system checks: a directory the ledger cannot write is an error that names the setting."""

from pathlib import Path

from ledger.checks import check_ledger_archive_dir, check_ledger_dir


def test_a_ledger_dir_that_can_be_created_passes(settings, tmp_path):
    settings.LEDGER_DIR = tmp_path / "new" / "ledger"

    assert check_ledger_dir() == []
    assert settings.LEDGER_DIR.is_dir()


def test_a_ledger_dir_under_a_file_is_ledger_e001_naming_the_setting(settings):
    settings.LEDGER_DIR = Path("/etc/hostname/ledger")

    (error,) = check_ledger_dir()

    assert error.id == "ledger.E001"
    assert "LEDGER_DIR /etc/hostname/ledger cannot be created" in error.msg
    assert "Set LEDGER_DIR" in error.hint


def test_an_archive_dir_that_cannot_be_created_is_ledger_e002(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.LEDGER_ARCHIVE_DIR = blocker / "archive"

    (error,) = check_ledger_archive_dir()

    assert error.id == "ledger.E002"
    assert f"LEDGER_ARCHIVE_DIR {blocker / 'archive'} cannot be created" in error.msg
