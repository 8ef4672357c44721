"""Celery tasks of the ledger: thin edges over the services.

In production they belong on a ``ledger`` queue consumed by the one worker that holds the
ledger volume; the writer's database lock makes a second consumer harmless, not concurrent.
"""

from celery import shared_task

from ledger.services.seal import seal_due
from ledger.services.writer import ledger_drain


# The safety net behind the drain after each commit: rows a busy or failed drain left behind.
@shared_task(name="ledger.drain")
def drain_ledger() -> dict:
    result = ledger_drain()
    return {"frames": result.frames, "adopted": result.adopted, "busy": result.busy}


@shared_task(name="ledger.seal_due")
def seal_due_partitions() -> list[str]:
    return [result.partition for result in seal_due()]


@shared_task(name="ledger.tiers")
def move_tiers() -> list[dict]:
    from ledger.services.tiers import tiers_due  # imported here so this addition stays at the end

    return [
        {"partition": result.partition, "action": result.action, "segments": result.segments, "detail": result.detail}
        for result in tiers_due()
    ]
