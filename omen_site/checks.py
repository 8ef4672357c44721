"""System checks for settings that cannot keep OMEN's durability promise."""

import os

from django.conf import settings
from django.core.checks import Error, register


def _writable_directory_errors(setting: str, directory, check_id: str) -> list[Error]:
    hint = f"Set {setting} to a directory this process can write, or fix its permissions."
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [Error(f"{setting} {directory} cannot be created: {exc.strerror}.", hint=hint, id=check_id)]
    if not os.access(directory, os.W_OK | os.X_OK):
        return [Error(f"{setting} {directory} is not writable by this process.", hint=hint, id=check_id)]
    return []


@register()
def check_ledger_dir_writable(app_configs=None, **kwargs):
    """The ledger directory must exist (or be creatable) and be writable."""
    return _writable_directory_errors("LEDGER_DIR", settings.LEDGER_DIR, "omen.E001")


@register()
def check_ledger_archive_dir_writable(app_configs=None, **kwargs):
    """Cold partitions move here after LEDGER_COLD_AFTER_DAYS: found out now, not a month later."""
    return _writable_directory_errors("LEDGER_ARCHIVE_DIR", settings.LEDGER_ARCHIVE_DIR, "omen.E002")
