"""System checks for settings that would let one source hold up the others."""

from django.conf import settings
from django.core.checks import Warning, register

from signals.sources.registry import SOURCES


@register()
def check_worker_slots(app_configs=None, **kwargs) -> list[Warning]:
    """signals.W001: a worker slot per source plus one for the ledger's tasks."""
    needed = len(SOURCES) + 1
    slots = settings.CELERY_WORKER_CONCURRENCY
    if slots is not None and slots < needed:
        return [
            Warning(
                f"CELERY_WORKER_CONCURRENCY is {slots}, fewer worker slots than the {len(SOURCES)} sources "
                "plus one for the ledger: a source that hangs can hold a slot another source's poll needs.",
                hint=f"Set CELERY_WORKER_CONCURRENCY={needed}; or, when polls run on several workers, "
                "set SILENCED_SYSTEM_CHECKS=signals.W001.",
                id="signals.W001",
            )
        ]
    return []


@register()
def check_poll_time_limit(app_configs=None, **kwargs) -> list[Warning]:
    """signals.W002: a poll that hangs is stopped before the next poll of its source is due."""
    limit, period = settings.SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS, settings.SOURCE_POLL_INTERVAL_SECONDS
    if limit >= period:
        return [
            Warning(
                f"SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS ({limit}) is not shorter than SOURCE_POLL_INTERVAL_SECONDS "
                f"({period}): a source that hangs keeps its worker slot past its next poll.",
                hint="Set SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS below the poll interval.",
                id="signals.W002",
            )
        ]
    return []
