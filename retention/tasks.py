from celery import shared_task

from retention.services.archive import SweepRunning
from retention.services.sweep import sweep


# Nightly (omen_site/schedule.py). A sweep works in short batches, so a first sweep over a large
# backlog may outlast the default limits: it gets an hour, and what a kill leaves, the next finishes.
@shared_task(time_limit=3600, soft_time_limit=3300)
def retention_sweep() -> list[dict]:
    try:
        runs = sweep()
    except SweepRunning:
        return []  # the other sweep does the work
    return [{"policy": run.policy, "status": run.status, "deleted": run.deleted} for run in runs]
