"""The beat schedule, defined once here and copied into django-celery-beat's tables.

Operators then change an interval or pause a source in the admin (Periodic tasks);
``beat_schedule_sync`` adds the entries that are missing and keeps the task (and arguments) each
entry runs in step with the code, but never touches what operators own: the interval, and
whether it is on.
"""

from django.conf import settings


def beat_schedule() -> dict[str, dict]:
    from signals.public import SOURCE_NAMES

    interval = settings.SOURCE_POLL_INTERVAL_SECONDS
    ledger_interval = settings.LEDGER_DRAIN_INTERVAL_SECONDS
    return {
        "ledger-drain": {
            "task": "ledger.tasks.ledger_drain",
            "args": [],
            "every_seconds": ledger_interval,
            "expires_seconds": max(1, ledger_interval - 5),
        },
        "webhooks-dispatch": {
            "task": "ledger.tasks.webhooks_dispatch",
            "args": [],
            "every_seconds": settings.WEBHOOK_DISPATCH_INTERVAL_SECONDS,
            "expires_seconds": max(1, settings.WEBHOOK_DISPATCH_INTERVAL_SECONDS - 1),
        },
        "ledger-seal": {
            "task": "ledger.tasks.partitions_seal_due",
            "args": [],
            "every_seconds": 3600,
            "expires_seconds": 3000,
        },
        "ledger-tiers": {
            "task": "ledger.tasks.partitions_move_due",
            "args": [],
            "every_seconds": 3600,
            "expires_seconds": 3000,
        },
        # Once a day: every retention policy, in batches (retention/services/sweep.py).
        "retention-sweep": {
            "task": "retention.tasks.retention_sweep",
            "args": [],
            "every_seconds": 86400,
            "expires_seconds": 3600,
        },
        # Once a day: a backup, proven by a restore into a scratch database (retention/services/backup.py).
        "backup": {
            "task": "retention.tasks.backup_create",
            "args": [],
            "every_seconds": 86400,
            "expires_seconds": 3600,
        },
    } | {
        f"poll-{source}": {
            "task": "signals.tasks.source_poll",
            "args": [source],
            "every_seconds": interval,
            # A poll not started within one period is dropped: the next one is due.
            "expires_seconds": max(1, interval - 5),
        }
        for source in SOURCE_NAMES
    }


def beat_schedule_sync() -> list[str]:
    """Create the periodic tasks that do not exist yet, point existing ones at the task the code
    names for them; return the names of the entries created or changed."""
    import json

    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    changed = []
    schedule = beat_schedule()
    existing = {task.name: task for task in PeriodicTask.objects.filter(name__in=schedule)}
    for name, entry in schedule.items():
        args = json.dumps(entry["args"])
        task = existing.get(name)
        if task is not None:
            # Which task an entry runs belongs to the code (a renamed task would never run).
            if (task.task, task.args) != (entry["task"], args):
                task.task, task.args = entry["task"], args
                task.save(update_fields=["task", "args"])
                changed.append(name)
            continue
        every, _ = IntervalSchedule.objects.get_or_create(every=entry["every_seconds"], period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(
            name=name,
            task=entry["task"],
            args=args,
            interval=every,
            expire_seconds=entry["expires_seconds"],
            # With a start time and no last run, beat runs it at once instead of one period later.
            start_time=timezone.now(),
        )
        changed.append(name)
    return changed
