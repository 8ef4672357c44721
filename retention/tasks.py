from celery import shared_task

from retention.services import backup as backups
from retention.services.archive import SweepRunning
from retention.services.sweep import sweep

# What the sweep and the backup may run: an hour (retention.W001 holds the broker's visibility
# timeout above it).
TIME_LIMIT_SECONDS = 3600


# Nightly (omen_site/schedule.py). A sweep works in short batches, so a first sweep over a large
# backlog may outlast the default limits: it gets an hour, and what a kill leaves, the next finishes.
@shared_task(time_limit=TIME_LIMIT_SECONDS, soft_time_limit=TIME_LIMIT_SECONDS - 300)
def retention_sweep() -> list[dict]:
    try:
        runs = sweep()
    except SweepRunning:
        return []  # the other sweep does the work
    return [{"policy": run.policy, "status": run.status, "deleted": run.deleted} for run in runs]


# Daily (omen_site/schedule.py): a dump, then its proof by a restore into a scratch database, which
# for a large database outlasts the default five minutes: it gets an hour, as the sweep does. The
# row records the outcome, so a failure is seen in the admin and the storage report, not retried:
# nor is a backup whose process was killed (reject_on_worker_lost, on for every other task), which
# the OOM killer would kill again at once, dumping the database each time; the next marks it failed.
@shared_task(time_limit=TIME_LIMIT_SECONDS, soft_time_limit=TIME_LIMIT_SECONDS - 300, reject_on_worker_lost=False)
def backup_create() -> dict | None:
    try:
        backup = backups.backup_create()
    except backups.BackupRunning:
        return None  # the other backup is the day's
    return {"backup": backup.pk, "status": backup.status, "path": backup.path, "error": backup.error}
