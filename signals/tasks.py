"""Celery tasks: thin edges that call services with primary keys or names, never objects."""

from celery import shared_task

from signals.services.poll import source_poll


# acks_late (settings) + idempotent ingest: a worker killed mid-poll leaves the
# message unacknowledged, another worker redoes the poll, and signal ids,
# history points and rejections dedupe on their unique keys.
@shared_task(name="signals.poll_source", bind=True)
def poll_source(self, source: str) -> dict:
    run = source_poll(source=source, token=self.request.id or "")
    return {"source_run": run.pk, "outcome": run.outcome, "accepted": run.accepted}
