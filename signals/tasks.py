"""Celery tasks: thin edges named after the service each calls, taking names or keys, never objects."""

from celery import shared_task

from signals.services import poll


# acks_late (settings) + idempotent ingest: a worker killed mid-poll leaves the
# message unacknowledged, another worker redoes the poll, and signal ids,
# history points and rejections dedupe on their unique keys.
@shared_task(bind=True)
def source_poll(self, source: str) -> dict:
    run = poll.source_poll(source=source, token=self.request.id or "")
    return {"source_run": run.pk, "outcome": run.outcome, "accepted": run.accepted}
