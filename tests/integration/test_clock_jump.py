"""Beat after the clock went back: the rows of django-celery-beat keep the last runs written before."""

import pytest

from tests.support.processes import child_env, manage, start_celery, wait_until

# Beat's scheduler and the broker: the database holds the schedule's rows, written alike on both
# backends, so the second backend's pass leaves these out (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.one_backend]

# What a clock set two hours back finds: the poll last ran two hours from now.
POLL_RAN_IN_THE_FUTURE = (
    "from datetime import timedelta; from django.utils import timezone; "
    "from django_celery_beat.models import PeriodicTask, PeriodicTasks; "
    "PeriodicTask.objects.exclude(name='poll-polymarket').update(enabled=False); "
    "PeriodicTask.objects.filter(name='poll-polymarket').update(last_run_at=timezone.now() + timedelta(hours=2)); "
    "PeriodicTasks.update_changed()"
)


def test_a_poll_that_last_ran_after_now_runs_one_period_from_now_not_hours_later(
    fresh_database_url, tmp_path, private_redis
):
    env = child_env(
        fresh_database_url(), tmp_path / "var", CELERY_BROKER_URL=private_redis.url, SOURCE_POLL_INTERVAL_SECONDS="3"
    )
    manage(env, "migrate", "--no-input")
    manage(env, "shell", "-c", POLL_RAN_IN_THE_FUTURE)
    log_path = tmp_path / "beat.log"
    beat = start_celery(env, log_path, "beat")
    try:
        # Counted from the future, the poll would wait two hours and its period; restarting beat
        # would not help, the rows keep it.
        wait_until(lambda: private_redis.client().llen("celery"), 45, "the poll to be sent")
        warnings = [line for line in log_path.read_text().splitlines() if "clock" in line]
        assert len(warnings) == 1 and "poll-polymarket" in warnings[0], log_path.read_text()
    finally:
        beat.kill()
        beat.wait()
