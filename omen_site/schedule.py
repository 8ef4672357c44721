"""The beat schedule, defined once here and copied into django-celery-beat's tables.

Operators then change an interval or pause a source in the admin
(Periodic tasks); ``beat_schedule_sync`` only adds entries that are missing,
so it never undoes their changes.
"""

from django.conf import settings


def beat_schedule() -> dict[str, dict]:
    from signals.sources.registry import SOURCES

    interval = settings.SOURCE_POLL_INTERVAL_SECONDS
    ledger_interval = settings.LEDGER_DRAIN_INTERVAL_SECONDS
    return {
        "ledger-drain": {
            "task": "ledger.drain",
            "args": [],
            "every_seconds": ledger_interval,
            "expires_seconds": max(1, ledger_interval - 5),
        },
        "ledger-seal": {
            "task": "ledger.seal_due",
            "args": [],
            "every_seconds": 3600,
            "expires_seconds": 3000,
        },
        "ledger-tiers": {
            "task": "ledger.tiers",
            "args": [],
            "every_seconds": 3600,
            "expires_seconds": 3000,
        },
    } | {
        f"poll-{source}": {
            "task": "signals.poll_source",
            "args": [source],
            "every_seconds": interval,
            # A poll not started within one period is dropped: the next one is due.
            "expires_seconds": max(1, interval - 5),
        }
        for source in SOURCES
    }


def beat_schedule_sync() -> list[str]:
    """Create the periodic tasks that do not exist yet; return their names."""
    import json

    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created = []
    for name, entry in beat_schedule().items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        every, _ = IntervalSchedule.objects.get_or_create(every=entry["every_seconds"], period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(
            name=name,
            task=entry["task"],
            args=json.dumps(entry["args"]),
            interval=every,
            expire_seconds=entry["expires_seconds"],
            # With a start time and no last run, beat runs it at once instead of one period later.
            start_time=timezone.now(),
        )
        created.append(name)
    return created
