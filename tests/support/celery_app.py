"""OMEN's Celery app and one task more, for a real worker whose task dies of its input:
``celery -A tests.support.celery_app worker``."""

import os
import signal

from omen_site.celery import app

__all__ = ["app"]


@app.task(name="tests.support.celery_app.killed_by_its_input")
def killed_by_its_input(record: str) -> None:
    """Note the run in ``record``, then die as the OOM killer kills: SIGKILL, nothing cleaned up."""
    with open(record, "a") as runs:
        runs.write(f"{os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)
