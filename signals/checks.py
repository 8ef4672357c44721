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


@register()
def check_poll_deadline(app_configs=None, **kwargs) -> list[Warning]:
    """signals.W003: a slow source fails its own run at the deadline, before the time limit stops it."""
    deadline, limit = settings.SOURCE_POLL_DEADLINE_SECONDS, settings.SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS
    if deadline >= limit:
        return [
            Warning(
                f"SOURCE_POLL_DEADLINE_SECONDS ({deadline:g}) is not shorter than SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS "
                f"({limit}): a slow source runs into the time limit instead of failing at its deadline.",
                hint="Set SOURCE_POLL_DEADLINE_SECONDS below the soft time limit, leaving time to ingest.",
                id="signals.W003",
            )
        ]
    return []


@register()
def check_poll_lock(app_configs=None, **kwargs) -> list[Warning]:
    """signals.W004: a live poll's lock is never taken to be stale."""
    lock = settings.SOURCE_POLL_LOCK_SECONDS
    hard_limit = settings.CELERY_TASK_ANNOTATIONS["signals.tasks.source_poll"]["time_limit"]
    if lock <= hard_limit:
        return [
            Warning(
                f"SOURCE_POLL_LOCK_SECONDS ({lock}) is not longer than a poll may run ({hard_limit} s, the hard time "
                "limit): a second poll of a source could start while the first still runs.",
                hint=f"Set SOURCE_POLL_LOCK_SECONDS above {hard_limit}.",
                id="signals.W004",
            )
        ]
    return []
