"""The ledger's system checks: a directory the ledger cannot write, or a webhook lock a live delivery
can outlast, is an error that names the setting."""

from pathlib import Path

import pytest

from ledger.checks import check_ledger_archive_dir, check_ledger_dir, check_ledger_long_term_dir, check_webhook_lock


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


@pytest.mark.parametrize(
    ("setting", "check", "check_id"),
    [
        ("LEDGER_ARCHIVE_DIR", check_ledger_archive_dir, "ledger.E002"),
        ("LEDGER_LONG_TERM_DIR", check_ledger_long_term_dir, "ledger.E003"),
    ],
)
def test_a_tier_dir_that_cannot_be_created_is_an_error_naming_the_setting(settings, tmp_path, setting, check, check_id):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    setattr(settings, setting, blocker / "tier")

    (error,) = check()

    assert error.id == check_id
    assert f"{setting} {blocker / 'tier'} cannot be created" in error.msg


def test_the_default_webhook_lock_outlasts_a_try_and_the_longest_wait():
    assert check_webhook_lock() == []


@pytest.mark.parametrize(
    ("lock", "timeout", "minimum"),
    [
        (15, 5.0, 16),  # one try (5 s) and the longest wait (10 s): exactly that is not enough
        (1, 5.0, 16),  # the lock the webhook worker test once ran with
        (30, 20.5, 31),
    ],
)
def test_a_webhook_lock_a_live_delivery_can_outlast_is_ledger_e004_naming_both_settings_and_the_minimum(
    settings, lock, timeout, minimum
):
    settings.WEBHOOK_LOCK_SECONDS, settings.WEBHOOK_TIMEOUT_SECONDS = lock, timeout

    (error,) = check_webhook_lock()

    assert error.id == "ledger.E004"
    assert f"WEBHOOK_LOCK_SECONDS ({lock})" in error.msg
    assert f"WEBHOOK_TIMEOUT_SECONDS, {timeout:g}" in error.msg
    assert f"Set WEBHOOK_LOCK_SECONDS to {minimum} or more" in error.hint
    settings.WEBHOOK_LOCK_SECONDS = minimum
    assert check_webhook_lock() == []  # the minimum it names is enough
