"""Two beats on one schedule: the one holding the schedule's lock sends, the other waits and takes
over once the first stops (omen_site/beat.py, ``ScheduleLock``)."""

import os
import signal
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from tests.support.processes import child_env, manage, start_celery, wait_until

# On both backends: the lock is PostgreSQL's advisory lock on one, an flock beside the file on the other.
pytestmark = [pytest.mark.slow, pytest.mark.integration]

# One entry, every 2 seconds: what a beat sends shows in its own log.
ONLY_THE_SEAL_EVERY_2_SECONDS = (
    "from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks; "
    "PeriodicTask.objects.exclude(name='ledger-seal').update(enabled=False); "
    "every, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS); "
    "PeriodicTask.objects.filter(name='ledger-seal').update(interval=every, crontab=None); "
    "PeriodicTasks.update_changed()"
)
SENT = "Sending due task ledger-seal"


def test_a_second_beat_sends_nothing_while_the_first_runs_and_takes_over_when_it_is_killed(
    fresh_database_url, tmp_path, private_redis
):
    env = child_env(fresh_database_url(), tmp_path / "var", CELERY_BROKER_URL=private_redis.url)
    manage(env, "migrate", "--no-input")
    manage(env, "shell", "-c", ONLY_THE_SEAL_EVERY_2_SECONDS)
    first_log, second_log = tmp_path / "beat-1.log", tmp_path / "beat-2.log"
    first = start_celery(env, first_log, "beat")
    second = None
    try:
        wait_until(lambda: SENT in first_log.read_text(), 60, "the first beat to send the entry")
        assert "holds the schedule" in first_log.read_text()
        second = start_celery(env, second_log, "beat")
        wait_until(lambda: "another beat holds the schedule" in second_log.read_text(), 60, "the second beat to wait")
        sent_by_first = first_log.read_text().count(SENT)
        wait_until(lambda: first_log.read_text().count(SENT) >= sent_by_first + 3, 30, "three more sends")
        assert SENT not in second_log.read_text()  # the entry went once each time, from the first
        # Once each time from the first, too: taking the lock at start, it sent each due entry twice, 30 ms apart.
        times = [
            datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
            for line in first_log.read_text().splitlines()
            if SENT in line
        ]
        assert min(later - earlier for earlier, later in pairwise(times)) > timedelta(seconds=1), times

        os.killpg(first.pid, signal.SIGKILL)  # no clean stop: the lock goes with the process
        first.wait()
        wait_until(lambda: "the other beat stopped" in second_log.read_text(), 40, "the second beat to take over")
        wait_until(lambda: SENT in second_log.read_text(), 30, "the second beat to send the entry")
        assert "Traceback" not in second_log.read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
