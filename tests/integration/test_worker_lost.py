"""A task whose pool process is SIGKILLed (the OOM killer) on a real worker, on a broker of the test's own."""

import os
import signal
import time

import pytest
from celery import Celery

from tests.support.processes import all_processes, child_env, manage, query, start_celery, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.integration]

BACKUPS = "SELECT count(*) FROM retention_backup"


def test_a_backup_killed_with_its_process_is_not_started_again_at_once(fresh_database_url, tmp_path, private_redis):
    database_url = fresh_database_url()
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's backup is over before its process can be killed")
    env = child_env(
        database_url,
        tmp_path / "var",
        CELERY_BROKER_URL=private_redis.url,
        # Longer than the backup runs, and a message left unacknowledged comes back within the wait below.
        CELERY_VISIBILITY_TIMEOUT_SECONDS="15",
        CELERY_UNACKED_RESTORE_INTERVAL_SECONDS="1",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
    )
    manage(env, "migrate", "--no-input")
    worker = start_celery(env, tmp_path / "worker.log", "worker", "--concurrency=1")
    try:
        Celery(broker=private_redis.url).send_task("retention.tasks.backup_create")
        wait_until(lambda: query(database_url, BACKUPS)[0][0], 60, "the backup to start")
        (pool_process,) = [pid for pid, stat in all_processes().items() if stat["ppid"] == worker.pid]
        os.kill(pool_process, signal.SIGKILL)  # mid-backup: dumping, or proving the dump

        # Killed, a backup is a failed one (the next marks it so), not one to start again at once:
        # one the OOM killer ends would be killed again, and again, dumping the database each time.
        time.sleep(25)
        assert query(database_url, BACKUPS)[0][0] == 1
        assert "WorkerLostError" in (tmp_path / "worker.log").read_text()
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
