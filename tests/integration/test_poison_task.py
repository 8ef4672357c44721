"""A task that kills its pool process each time it runs (the OOM killer, on an input too big), on
a real worker and a broker of the test's own."""

import os
import signal
import time

import pytest
from celery import Celery

from tests.support.processes import child_env, manage, start_celery, wait_until

# The broker counts the deliveries; the database is migrated only for the worker's start, so the
# second backend's pass leaves this out (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.one_backend]


def test_a_task_whose_process_is_killed_each_time_runs_three_times_then_is_dropped_with_an_error(
    fresh_database_url, tmp_path, private_redis
):
    """Put back after each kill (reject_on_worker_lost), it ran again at once, forever, each time
    taking a pool process down."""
    env = child_env(fresh_database_url(), tmp_path / "var", CELERY_BROKER_URL=private_redis.url)
    manage(env, "migrate", "--no-input")
    log_path = tmp_path / "worker.log"
    worker = start_celery(env, log_path, "worker", "--concurrency=1", app="tests.support.celery_app")
    record = tmp_path / "runs"
    record.touch()
    try:
        Celery(broker=private_redis.url).send_task("tests.support.celery_app.killed_by_its_input", args=[str(record)])
        wait_until(
            lambda: "dropped: delivered 4 times" in log_path.read_text(), 90, "the fourth delivery to be dropped"
        )
        time.sleep(3)  # nothing more runs
        assert len(record.read_text().splitlines()) == 3
        dropped = [line for line in log_path.read_text().splitlines() if "dropped: delivered" in line]
        assert len(dropped) == 1 and "tests.support.celery_app.killed_by_its_input" in dropped[0], dropped
        assert private_redis.client().llen("celery") == 0  # not in the queue either
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
