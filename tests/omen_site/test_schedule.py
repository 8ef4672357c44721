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
