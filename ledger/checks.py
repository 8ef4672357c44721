"""System checks for the ledger's directories: a ledger that cannot be written breaks OMEN's promise."""

from django.conf import settings
from django.core.checks import Error, register

from utilities.checks import writable_directory_errors


@register()
def check_ledger_dir(app_configs=None, **kwargs) -> list[Error]:
    """ledger.E001: the ledger directory exists (or can be created) and this process can write it."""
    return writable_directory_errors("LEDGER_DIR", settings.LEDGER_DIR, "ledger.E001")


@register()
def check_ledger_archive_dir(app_configs=None, **kwargs) -> list[Error]:
    """ledger.E002: cold partitions move here after LEDGER_COLD_AFTER_DAYS; found out now, not a month later."""
    return writable_directory_errors("LEDGER_ARCHIVE_DIR", settings.LEDGER_ARCHIVE_DIR, "ledger.E002")


@register()
def check_ledger_long_term_dir(app_configs=None, **kwargs) -> list[Error]:
    """ledger.E003: partitions move here after LEDGER_LONG_TERM_AFTER_DAYS, and purged ones leave
    their tombstones here; found out now, not a year later."""
    return writable_directory_errors("LEDGER_LONG_TERM_DIR", settings.LEDGER_LONG_TERM_DIR, "ledger.E003")
