"""System checks for the ledger: its directories (a ledger that cannot be written breaks OMEN's
promise), and a webhook lock short enough to take a live delivery's claim."""

import math

from django.conf import settings
from django.core.checks import Error, register

from ledger.services.webhooks import LONGEST_WAIT, claim_renewal_gap
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


@register()
def check_webhook_lock(app_configs=None, **kwargs) -> list[Error]:
    """ledger.E004: a live webhook delivery's claim is never taken for a dead worker's. It is renewed
    before every try, so the lock must outlast one try and the longest wait before the next."""
    lock, gap = settings.WEBHOOK_LOCK_SECONDS, claim_renewal_gap()
    if lock > gap:
        return []
    return [
        Error(
            f"WEBHOOK_LOCK_SECONDS ({lock}) is not longer than a live webhook delivery may go without renewing "
            f"its claim: {gap:g} s, one try (WEBHOOK_TIMEOUT_SECONDS, {settings.WEBHOOK_TIMEOUT_SECONDS:g} s) and the "
            f"longest wait before the next ({LONGEST_WAIT:g} s). Another worker would take over a delivery still "
            "running, and the receiver get the same signal from both.",
            hint=f"Set WEBHOOK_LOCK_SECONDS to {math.floor(gap) + 1} or more (default 240), "
            "or WEBHOOK_TIMEOUT_SECONDS lower.",
            id="ledger.E004",
        )
    ]
