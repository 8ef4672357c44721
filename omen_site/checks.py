"""System checks for settings that cannot keep OMEN's durability promise."""

import os

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_ledger_dir_writable(app_configs=None, **kwargs):
    """The ledger directory must exist (or be creatable) and be writable."""
    ledger_dir = settings.LEDGER_DIR
    try:
        ledger_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [
            Error(
                f"LEDGER_DIR {ledger_dir} cannot be created: {exc.strerror}.",
                hint="Set LEDGER_DIR to a directory this process can write, or fix its permissions.",
                id="omen.E001",
            )
        ]
    if not os.access(ledger_dir, os.W_OK | os.X_OK):
        return [
            Error(
                f"LEDGER_DIR {ledger_dir} is not writable by this process.",
                hint="Set LEDGER_DIR to a directory this process can write, or fix its permissions.",
                id="omen.E001",
            )
        ]
    return []
