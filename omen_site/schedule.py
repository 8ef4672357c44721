"""The beat schedule, defined once here and copied into django-celery-beat's tables.

An entry runs every so many seconds (``every_seconds``) or at a time of day, UTC (``at``: the
nightly backup and retention sweep). Operators then change a schedule or pause a source in the
admin (Periodic tasks); ``beat_schedule_sync`` adds the entries that are missing and keeps the
task (and arguments) each entry runs in step with the code, but never touches what operators own:
the schedule, and whether it is on. (One exception: a nightly entry still on the once-a-day
interval it had before it ran at a time of day moves to its time of day.)
"""

from django.conf import settings

# (hour, minute), UTC: the nightly entries run at a time of day, not once a day counted from the
# moment beat first started (which ran a sweep at once, in the middle of a working day).
NIGHTLY_BACKUP_AT = (2, 30)
NIGHTLY_SWEEP_AT = (3, 30)
# The interval the nightly entries had before they ran at a time of day: a row still on it was
# never changed by an operator, and moves to its time of day.
_FORMER_DAILY_SECONDS = 86400


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
        # Every night: a backup, proven by a restore into a scratch database (retention/services/backup.py),
        # then, an hour later, every retention policy in batches (retention/services/sweep.py): if a
        # sweep went wrong, the night's backup still holds what it deleted.
        "backup": {
            "task": "retention.tasks.backup_create",
            "args": [],
            "at": NIGHTLY_BACKUP_AT,
            "expires_seconds": 3600,
        },
        "retention-sweep": {
            "task": "retention.tasks.retention_sweep",
            "args": [],
            "at": NIGHTLY_SWEEP_AT,
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
            if "at" in entry and task.interval is not None and _still_once_a_day(task.interval):
                # Counted from now: beat reckons a crontab's next run from the last one, and the
                # interval's last run (at the hour beat first started) may be before today's time,
                # which would run the backup and the sweep at once, together, on the upgrade.
                task.interval, task.crontab = None, _at(*entry["at"])
                task.start_time, task.last_run_at = None, timezone.now()
                task.save(update_fields=["interval", "crontab", "start_time", "last_run_at"])
                changed.append(name)
            continue
        if "at" in entry:
            # No start time: with one and no last run, beat takes the entry as overdue and runs it
            # at once; without, the first run is at the next time of day.
            PeriodicTask.objects.create(
                name=name,
                task=entry["task"],
                args=args,
                crontab=_at(*entry["at"]),
                expire_seconds=entry["expires_seconds"],
            )
            changed.append(name)
            continue
        interval = {"every": entry["every_seconds"], "period": IntervalSchedule.SECONDS}
        # Not get_or_create, as for crontabs (_at): the same interval may be there twice.
        every = IntervalSchedule.objects.filter(**interval).order_by("pk").first() or IntervalSchedule.objects.create(
            **interval
        )
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
    return list(dict.fromkeys(changed))


def _at(hour: int, minute: int):
    from django_celery_beat.models import CrontabSchedule

    # Not get_or_create: django-celery-beat has no unique constraint here, and an operator may
    # have made the same schedule twice in the admin.
    fields = {"minute": str(minute), "hour": str(hour), "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
    schedule = CrontabSchedule.objects.filter(**fields, timezone="UTC").order_by("pk").first()
    return schedule or CrontabSchedule.objects.create(**fields, timezone="UTC")


def _still_once_a_day(interval) -> bool:
    from django_celery_beat.models import IntervalSchedule

    return interval.period == IntervalSchedule.SECONDS and interval.every == _FORMER_DAILY_SECONDS
