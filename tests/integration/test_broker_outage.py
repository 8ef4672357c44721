"""Beat on a broker that goes away and comes back: a redis-server of the test's own, killed and
started again on the same port (the shared Redis on 6379 is never stopped)."""

import json
import time

import pytest

from tests.support.processes import child_env, manage, start_celery, wait_until

# Beat's scheduler and the broker: the database holds the schedule's rows, written alike on both
# backends, so the second backend's pass leaves these out (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.one_backend]

ONLY_THE_SEAL_ENTRY = (
    "from django_celery_beat.models import PeriodicTask, PeriodicTasks; "
    "PeriodicTask.objects.exclude(name='ledger-seal').update(enabled=False); "
    "PeriodicTasks.update_changed()"
)
# Hourly, last run two hours ago: due now. As an overdue nightly entry is at its time of day.
SEAL_DUE_NOW = (
    "from datetime import timedelta; from django.utils import timezone; "
    "from django_celery_beat.models import PeriodicTask, PeriodicTasks; "
    "PeriodicTask.objects.filter(name='ledger-seal').update(last_run_at=timezone.now() - timedelta(hours=2)); "
    "PeriodicTasks.update_changed()"
)


def test_an_entry_due_while_the_broker_is_down_is_sent_once_it_is_back_and_logged_in_one_line(
    fresh_database_url, tmp_path, private_redis
):
    env = child_env(fresh_database_url(), tmp_path / "var", CELERY_BROKER_URL=private_redis.url)
    manage(env, "migrate", "--no-input")
    manage(env, "shell", "-c", ONLY_THE_SEAL_ENTRY)
    log_path = tmp_path / "beat.log"
    beat = start_celery(env, log_path, "beat")
    try:
        # Never run, the entry is due at start: beat sends it, so it is connected when the broker goes.
        wait_until(lambda: private_redis.client().llen("ledger"), 60, "beat to send the entry at start")
        private_redis.client().delete("ledger")
        private_redis.stop()
        outage_starts = len(log_path.read_text())
        manage(env, "shell", "-c", SEAL_DUE_NOW)
        wait_until(
            lambda: "Couldn't apply scheduled task ledger-seal" in log_path.read_text()[outage_starts:],
            60,
            "beat to fail to send the due entry",
        )
        time.sleep(3)  # a little outage: more attempts, which must stay quiet
        private_redis.start()

        queued = wait_until(lambda: private_redis.client().llen("ledger"), 60, "the entry to reach the broker")
        time.sleep(3)
        assert queued == private_redis.client().llen("ledger") == 1  # sent once, not once per attempt
        during_outage = log_path.read_text()[outage_starts:]
        assert "Traceback" not in during_outage
        failures = [line for line in during_outage.splitlines() if "Couldn't apply scheduled task" in line]
        broker = f":{private_redis.port}"  # the one line names the entry and the broker it could not reach
        assert failures and all("ledger-seal" in line and broker in line for line in failures), during_outage
        assert len(during_outage.splitlines()) < 20, during_outage
    finally:
        beat.kill()
        beat.wait()


# The seal entry due at once (never run), the tiers entry every 15 seconds from now: beat sends the
# seal entry, the broker goes, and the tiers entry falls due with no schedule read between (a change
# of the rows would have beat read every entry again, hiding what this test looks for), however
# long beat took to start.
SEAL_NOW_TIERS_EVERY_15_SECONDS = (
    "from django.utils import timezone; "
    "from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks; "
    "PeriodicTask.objects.exclude(name__in=['ledger-seal', 'ledger-tiers']).update(enabled=False); "
    "every, _ = IntervalSchedule.objects.get_or_create(every=15, period=IntervalSchedule.SECONDS); "
    "PeriodicTask.objects.filter(name='ledger-tiers').update(interval=every, last_run_at=timezone.now()); "
    "PeriodicTasks.update_changed()"
)
TIERS = "ledger.tasks.partitions_move_due"


def test_an_entry_kept_due_through_an_outage_sends_no_other_entry_again(fresh_database_url, tmp_path, private_redis):
    env = child_env(fresh_database_url(), tmp_path / "var", CELERY_BROKER_URL=private_redis.url)
    manage(env, "migrate", "--no-input")
    manage(env, "shell", "-c", SEAL_NOW_TIERS_EVERY_15_SECONDS)
    log_path = tmp_path / "beat.log"
    beat = start_celery(env, log_path, "beat")
    try:
        wait_until(
            lambda: "ledger.tasks.partitions_seal_due" in queued(private_redis),
            60,
            "beat to send the seal entry at start",
        )
        private_redis.stop()
        wait_until(
            lambda: "Couldn't apply scheduled task ledger-tiers" in log_path.read_text(),
            60,
            "beat to fail to send the tiers entry",
        )
        time.sleep(3)
        private_redis.start()  # empty: what is queued from here on was sent after the outage

        wait_until(lambda: private_redis.client().llen("ledger"), 60, "the tiers entry to reach the broker")
        time.sleep(6)
        # The seal entry ran a minute ago and is not due for an hour: not sent again.
        assert set(queued(private_redis)) == {TIERS}, log_path.read_text()
    finally:
        beat.kill()
        beat.wait()


def queued(redis) -> list[str]:
    """The tasks waiting in the ledger queue, oldest first."""
    return [json.loads(message)["headers"]["task"] for message in redis.client().lrange("ledger", 0, -1)]
