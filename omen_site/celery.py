"""The Celery app. Tasks live in each app's tasks.py; settings in settings.py (CELERY_*)."""

import logging
import os
import sys

from celery import Celery, Task, signals
from celery.exceptions import Reject

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")

logger = logging.getLogger(__name__)

# A task whose pool process is killed mid-run (the OOM killer, a crash in C) goes back in the queue
# (CELERY_TASK_REJECT_ON_WORKER_LOST) to run again: one that dies of its input died again, and was
# put back again, forever, each time taking a pool process down. Its third delivery is its last.
MAX_DELIVERIES = 3
# How long the broker keeps a task's count of redeliveries: longer than any queue waits.
DELIVERIES_KEPT_SECONDS = 86_400


class DeliveryCappedTask(Task):
    """Every OMEN task: a message delivered more than MAX_DELIVERIES times is dropped, with an
    error naming the task, instead of being run again. Counted in the broker (Redis) from the first
    redelivery on, so a first delivery costs nothing; kombu's filesystem transport (the development
    default) redelivers nothing."""

    def __call__(self, *args, **kwargs):
        request = self.request
        if request.id and not request.is_eager and (request.delivery_info or {}).get("redelivered"):
            redeliveries = _count_redelivery(self.app, request.id)
            if redeliveries is not None and redeliveries >= MAX_DELIVERIES:
                logger.error(
                    "task %s[%s] dropped: delivered %d times without finishing (its process or its worker lost "
                    "each time: killed for memory, or stopped mid-task); what it was sent to do is not done",
                    self.name,
                    request.id,
                    redeliveries + 1,
                )
                raise Reject(f"delivered {redeliveries + 1} times without finishing", requeue=False)
        return super().__call__(*args, **kwargs)


def _count_redelivery(app: Celery, task_id: str) -> int | None:
    """This task's redeliveries so far, this one included; None if the broker cannot count them."""
    try:
        with app.pool.acquire(block=True) as connection:
            client = getattr(connection.default_channel, "client", None)
            if client is None or not hasattr(client, "incr"):
                return None  # not Redis
            key = f"omen:redeliveries:{task_id}"
            with client.pipeline() as pipe:
                count, _ = pipe.incr(key).expire(key, DELIVERIES_KEPT_SECONDS).execute()
            return int(count)
    except Exception as exc:  # the count is a guard, not the task: never the reason a task fails
        logger.warning("task %s: its redeliveries not counted (%s)", task_id, " ".join(str(exc).split()))
        return None


app = Celery("omen_site", task_cls=DeliveryCappedTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def load_django_settings(sender, **kwargs):
    """Load the settings just before Celery reads them, so a refused one stops worker or beat in one line."""
    from django.conf import settings

    from omen_site.startup import settings_refusal_in_one_line

    with settings_refusal_in_one_line(sys.argv):
        settings.INSTALLED_APPS  # noqa: B018 -- the access loads (and so checks) the settings


@app.on_after_configure.connect
def make_filesystem_broker_folders(sender, **kwargs):
    """kombu's filesystem transport expects its folders to exist."""
    from pathlib import Path

    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if folder := options.get(key):
            Path(folder).mkdir(parents=True, exist_ok=True)


@signals.import_modules.connect
def refuse_to_start_on_check_errors(sender=None, **kwargs):
    """Stop a worker or beat on a system check's error, as manage.py stops, one line per error.

    Celery's Django fixup runs the checks and ignores what they find: without this, a worker would
    sweep with a RETENTION_KEEP_* that every manage.py command refuses (retention.E001). Run as a
    worker or beat loads its task modules (``loader.init_worker``), before beat's scheduler reads
    the database; not when another caller imports them (a test, ``celery inspect``).
    """
    if not sender.loader.worker_initialized or os.environ.get("CELERY_SKIP_CHECKS"):
        return  # CELERY_SKIP_CHECKS: Celery's own switch for the checks its Django fixup runs
    import django
    from django.core import checks

    django.setup()
    errors = [error for error in checks.run_checks() if error.is_serious() and not error.is_silenced()]
    if errors:
        # SystemExit with a message prints it to stderr and exits with status 1 (omen_site/startup.py).
        raise SystemExit("\n".join(check_error_in_one_line(error) for error in errors))


def check_error_in_one_line(error) -> str:
    hint = " ".join(str(error.hint).split()) if error.hint else ""
    return " ".join(part for part in (f"({error.id})", " ".join(str(error.msg).split()), hint) if part)
