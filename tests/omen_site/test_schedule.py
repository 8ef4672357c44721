"""The beat schedule: defined in code, copied into django-celery-beat, never undoing an operator's edit."""

import pytest
from django_celery_beat.models import PeriodicTask

from omen_site.schedule import beat_schedule, beat_schedule_sync
from signals.sources.registry import SOURCES
from tests.support.processes import child_env, manage, query

pytestmark = pytest.mark.django_db


def test_every_source_has_a_poll_that_expires_just_under_its_period(settings):
    settings.SOURCE_POLL_INTERVAL_SECONDS = 120

    schedule = beat_schedule()

    polls = {name: entry for name, entry in schedule.items() if name.startswith("poll-")}
    assert set(polls) == {f"poll-{source}" for source in SOURCES}
    assert all(entry["every_seconds"] == 120 and entry["expires_seconds"] == 115 for entry in polls.values())


def test_the_ledger_is_drained_and_sealed_on_a_schedule(settings):
    settings.LEDGER_DRAIN_INTERVAL_SECONDS = 20

    schedule = beat_schedule()

    assert schedule["ledger-drain"]["task"] == "ledger.tasks.ledger_drain"
    assert schedule["ledger-drain"]["every_seconds"] == 20
    assert schedule["ledger-seal"]["task"] == "ledger.tasks.partitions_seal_due"


def test_sync_adds_what_is_missing_and_keeps_an_operators_changes():
    PeriodicTask.objects.filter(name__startswith="poll-").delete()
    assert set(beat_schedule_sync()) == {f"poll-{source}" for source in SOURCES}
    paused = PeriodicTask.objects.get(name="poll-yahoo")
    paused.enabled = False
    paused.save()

    assert beat_schedule_sync() == []
    assert PeriodicTask.objects.get(name="poll-yahoo").enabled is False


def test_every_entry_runs_a_task_the_workers_know():
    from omen_site.celery import app

    app.loader.import_default_modules()  # what a worker does at start: every app's tasks.py

    assert {entry["task"] for entry in beat_schedule().values()} <= set(app.tasks)


def test_sync_points_an_entry_at_a_renamed_task_and_keeps_its_interval_and_pause():
    entry = PeriodicTask.objects.get(name="poll-yahoo")
    entry.task, entry.enabled = "signals.poll_source", False  # the name the task had before
    interval = entry.interval_id
    entry.save()

    assert beat_schedule_sync() == ["poll-yahoo"]

    entry = PeriodicTask.objects.get(name="poll-yahoo")
    assert (entry.task, entry.enabled, entry.interval_id) == ("signals.tasks.source_poll", False, interval)
    assert beat_schedule_sync() == []


@pytest.mark.slow
def test_migrating_one_app_then_all_leaves_the_schedule_in_place(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env = child_env(url, tmp_path / "var")

    manage(env, "migrate", "signals", "--no-input")
    manage(env, "migrate", "--no-input")

    names = {name for (name,) in query(url, "SELECT name FROM django_celery_beat_periodictask")}
    assert {f"poll-{source}" for source in SOURCES} <= names


def test_the_backup_and_then_the_sweep_run_at_night_at_a_time_of_day_utc():
    for name, hour in (("backup", "2"), ("retention-sweep", "3")):
        task = PeriodicTask.objects.get(name=name)
        assert task.interval is None, name
        crontab = task.crontab
        assert (crontab.hour, crontab.minute, crontab.day_of_week, str(crontab.timezone)) == (hour, "30", "*", "UTC")


def test_beat_does_not_run_a_nightly_entry_when_it_starts_but_at_its_time_of_day(settings):
    from datetime import UTC, datetime, timedelta

    from django_celery_beat.schedulers import ModelEntry

    # As beat first reads the entry, just after the migration made it, in the afternoon.
    made = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    PeriodicTask.objects.filter(name="retention-sweep").update(date_changed=made, last_run_at=None)
    entry = ModelEntry(PeriodicTask.objects.get(name="retention-sweep"))
    entry.schedule.nowfun = lambda: made + timedelta(minutes=1)
    due, wait = entry.is_due()
    assert not due
    assert timedelta(seconds=wait) == timedelta(hours=12, minutes=29)  # 03:30 the next morning


def test_a_nightly_entry_left_on_the_former_daily_interval_moves_to_its_time_of_day_but_an_operators_interval_stays():
    from django_celery_beat.models import IntervalSchedule

    daily, _ = IntervalSchedule.objects.get_or_create(every=86400, period=IntervalSchedule.SECONDS)
    hourly, _ = IntervalSchedule.objects.get_or_create(every=3600, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="retention-sweep").update(interval=daily, crontab=None)
    PeriodicTask.objects.filter(name="backup").update(interval=hourly, crontab=None)  # an operator's choice

    assert beat_schedule_sync() == ["retention-sweep"]

    sweep, backup = PeriodicTask.objects.get(name="retention-sweep"), PeriodicTask.objects.get(name="backup")
    assert (sweep.interval, sweep.crontab.hour, sweep.crontab.minute) == (None, "3", "30")
    assert (backup.interval_id, backup.crontab) == (hourly.pk, None)
    assert beat_schedule_sync() == []


def test_an_upgraded_deployment_runs_neither_nightly_entry_at_once_but_at_its_time_of_day():
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule
    from django_celery_beat.schedulers import ModelEntry

    # As the former code left them: a daily interval from when beat first started (14:00), run
    # since; the upgrade lands the next morning at 10:00, after 02:30 and before 14:00.
    daily, _ = IntervalSchedule.objects.get_or_create(every=86400, period=IntervalSchedule.SECONDS)
    last_run = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    PeriodicTask.objects.filter(name__in=["backup", "retention-sweep"]).update(
        interval=daily, crontab=None, start_time=datetime(2026, 12, 1, 14, 0, tzinfo=UTC), last_run_at=last_run
    )
    upgrade = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: upgrade)
        assert set(beat_schedule_sync()) == {"backup", "retention-sweep"}

    waits = {}
    for name in ("backup", "retention-sweep"):
        entry = ModelEntry(PeriodicTask.objects.get(name=name))
        entry.schedule.nowfun = lambda: upgrade + timedelta(seconds=1)
        due, wait = entry.is_due()
        assert not due, name
        waits[name] = round(wait)
    assert waits == {"backup": (16 * 60 + 30) * 60 - 1, "retention-sweep": (17 * 60 + 30) * 60 - 1}


def test_a_schedule_an_operator_made_twice_does_not_stop_the_sync():
    from django_celery_beat.models import CrontabSchedule

    PeriodicTask.objects.filter(name="retention-sweep").delete()
    for _ in range(2):
        CrontabSchedule.objects.create(minute="30", hour="3", timezone="UTC")

    assert beat_schedule_sync() == ["retention-sweep"]
    assert PeriodicTask.objects.get(name="retention-sweep").crontab.hour == "3"
