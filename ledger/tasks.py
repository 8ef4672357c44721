"""Celery tasks of the ledger: thin edges over the services.

In production they belong on a ``ledger`` queue consumed by the one worker that holds the
ledger volume; the writer's database lock makes a second consumer harmless, not concurrent.
"""

from celery import shared_task

from ledger.services.seal import seal_due
from ledger.services.tiers import tiers_due
from ledger.services.writer import ledger_drain


# The safety net behind the drain after each commit: rows a busy or failed drain left behind.
@shared_task(name="ledger.drain")
def drain_ledger() -> dict:
    result = ledger_drain()
    return {"frames": result.frames, "adopted": result.adopted, "busy": result.busy}


@shared_task(name="ledger.seal_due")
def seal_due_partitions() -> list[str]:
    return [result.partition for result in seal_due()]


# Warm after LEDGER_WARM_AFTER_DAYS, cold after LEDGER_COLD_AFTER_DAYS; each transition recorded.
@shared_task(name="ledger.tiers")
def move_tiers() -> list[dict]:
    return [
        {"partition": result.partition, "action": result.action, "segments": result.segments, "detail": result.detail}
        for result in tiers_due()
    ]
