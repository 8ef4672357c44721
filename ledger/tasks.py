"""Celery tasks of the ledger: thin edges named after the service each calls.

They are routed to the ``ledger`` queue (settings: CELERY_TASK_ROUTES). In the single-machine
default one worker consumes every queue; scaled out, the one worker that holds the ledger volume
consumes ``ledger``. The writer's database lock makes a second consumer harmless, not concurrent.
"""

from celery import shared_task

from ledger.services import partition_check, seal, tiers, webhooks, writer


# The safety net behind the drain after each commit: rows a busy or failed drain left behind.
@shared_task
def ledger_drain() -> dict:
    result = writer.ledger_drain()
    return {"frames": result.frames, "adopted": result.adopted, "busy": result.busy}


@shared_task
def partitions_seal_due() -> list[str]:
    return [result.partition for result in seal.partitions_seal_due()]


# The admin's "verify now": the outcome goes on the partition's row, where the list shows it.
@shared_task
def partition_verify(name: str) -> dict:
    check = partition_check.partition_check(name)
    return {"partition": check.partition, "ok": check.ok, "detail": check.detail}


# Warm after LEDGER_WARM_AFTER_DAYS, cold after LEDGER_COLD_AFTER_DAYS, long-term after
# LEDGER_LONG_TERM_AFTER_DAYS; each transition recorded. Purging is retention's sweep.
@shared_task
def partitions_move_due() -> list[dict]:
    return [
        {"partition": result.partition, "action": result.action, "segments": result.segments, "detail": result.detail}
        for result in tiers.partitions_move_due()
    ]


# Every few seconds: one delivery task per subscription with frames to deliver. A subscription
# already being delivered refuses the second claim, so overlapping dispatches are harmless.
@shared_task
def webhooks_dispatch() -> list[int]:
    due = webhooks.subscriptions_due()
    for pk in due:
        webhook_deliver.delay(pk)
    return due


@shared_task
def webhook_deliver(subscription: int) -> dict:
    run = webhooks.subscription_deliver(subscription)
    return {
        "claimed": run.claimed,
        "delivered": run.delivered,
        "passed_over": run.passed_over,
        "paused": run.paused,
        "deleted": run.deleted,
        "taken_over": run.taken_over,
    }
