"""Beat's scheduler (omen_site/beat.py), its entries read from django-celery-beat's rows."""

import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from kombu.exceptions import OperationalError

from omen_site.beat import LOCK_RETRY_SECONDS, Entry, ScheduleLock, Scheduler
from omen_site.celery import app

pytestmark = pytest.mark.django_db


def test_an_entry_counted_from_now_after_the_clock_went_back_stays_counted_from_then(caplog):
    # Beat reads every row again each five minutes (and at a restart): a last run still two hours
    # ahead on the row was counted from now again each time, so an hourly entry never came due
    # until the clock caught up with it.
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    ahead = timezone.now() + timedelta(hours=2)
    task = PeriodicTask.objects.create(name="hourly", task="ledger.tasks.partitions_move_due", interval=hourly)
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=ahead)

    with caplog.at_level(logging.WARNING, logger="omen_site.beat"):
        due, next_in = Entry(PeriodicTask.objects.get(pk=task.pk), app=app).is_due()
        assert not due and 3500 < next_in <= 3600

        # The next read of the schedule, as beat makes it five minutes on.
        due, next_in = Entry(PeriodicTask.objects.get(pk=task.pk), app=app).is_due()

    assert not due and next_in <= 3600
    assert PeriodicTask.objects.get(pk=task.pk).last_run_at <= timezone.now()
    assert len([record for record in caplog.records if "clock went back" in record.getMessage()]) == 1


@pytest.mark.django_db(transaction=True)  # the scheduler commits and closes its connection, as beat does
def test_a_run_the_broker_refused_is_never_written_as_done(monkeypatch):
    # Celery's apply_async writes the schedule (every three minutes) once a send is over, failed or
    # not: before the scheduler put a refused run back. The row said the entry had run, and a beat
    # restarted in the next minutes (compose restarts it) found the nightly backup done.
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    last_run = timezone.now() - timedelta(hours=2)
    task = PeriodicTask.objects.create(name="hourly", task="ledger.tasks.partitions_move_due", interval=hourly)
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=last_run)
    scheduler = Scheduler(app=app)
    entry = scheduler.schedule["hourly"]

    def broker_away(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app.tasks[entry.task], "apply_async", broker_away)
    scheduler._last_sync = None  # three minutes since the last write: the send's end writes them

    scheduler.reserve(entry)
    scheduler.apply_entry(entry)

    assert PeriodicTask.objects.get(pk=task.pk).last_run_at == last_run
    scheduler.sync()  # and once written, it is as it was: due
    assert PeriodicTask.objects.get(pk=task.pk).last_run_at == last_run


def due_hourly_entry(name: str = "hourly", task: str = "ledger.tasks.partitions_move_due") -> PeriodicTask:
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    task = PeriodicTask.objects.create(name=name, task=task, interval=hourly)
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(hours=2))
    return task


def sends_of(monkeypatch, task: PeriodicTask) -> list[str]:
    sent = []
    monkeypatch.setattr(app.tasks[task.task], "apply_async", lambda *args, **kwargs: sent.append(task.name))
    return sent


@pytest.mark.django_db(transaction=True)  # the lock's holder and the scheduler: two sessions on PostgreSQL
def test_a_second_beat_sends_nothing_while_another_holds_the_schedule_and_takes_over_when_it_stops(monkeypatch, caplog):
    """A second beat (a service scaled to two, one started by hand beside the stack's) sent every
    entry again: each poll ran twice, the nightly backup dumped the database twice."""
    if ScheduleLock().where().startswith("an in-memory database"):
        pytest.skip("the suite's in-memory SQLite has no file to lock beside it: tests/integration/test_two_beats.py")
    PeriodicTask.objects.update(enabled=False)  # the schedule the migrations install: not this test's
    task = due_hourly_entry()
    other_beat = ScheduleLock()
    assert other_beat.acquire()
    sent = sends_of(monkeypatch, task)
    scheduler = Scheduler(app=app)
    try:
        with caplog.at_level(logging.WARNING, logger="omen_site.beat"):
            assert scheduler.tick() == LOCK_RETRY_SECONDS
            scheduler._lock_checked_at = None  # the next try, LOCK_RETRY_SECONDS on
            assert scheduler.tick() == LOCK_RETRY_SECONDS
        assert sent == []
        waiting = [record.getMessage() for record in caplog.records]
        assert len(waiting) == 1 and "another beat holds the schedule" in waiting[0], waiting

        # The other beat sends the entry (its run on the row), then stops.
        PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now())
        other_beat.release()
        scheduler._lock_checked_at = None
        scheduler.tick()
        assert sent == []  # read again on taking over: the run the other beat made is not made twice
        assert "this one holds the schedule" in caplog.records[1].getMessage()

        PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(hours=2))
        PeriodicTasks.update_changed()
        scheduler.tick()
        assert sent == ["hourly"]
        assert not ScheduleLock().acquire()  # held by the scheduler now
    finally:
        scheduler.close()
        other_beat.release()
    takeover = ScheduleLock()
    assert takeover.acquire()  # a beat that stops lets the next one have it
    takeover.release()


@pytest.mark.django_db(transaction=True)
def test_a_beat_taking_the_schedule_sends_a_due_entry_once_however_many_ticks_follow(monkeypatch):
    """The review's: on taking the lock (every start), beat read the schedule again and left the
    heap marked stale; the tick after the first send rebuilt it from entries that still held their
    old last run, and sent every due entry a second time, 30 ms after the first."""
    PeriodicTask.objects.update(enabled=False)
    task = due_hourly_entry()
    sent = sends_of(monkeypatch, task)
    scheduler = Scheduler(app=app)
    try:
        for _ in range(4):
            scheduler.tick()
    finally:
        scheduler.close()
    assert sent == ["hourly"]


@pytest.mark.django_db(transaction=True)
def test_each_run_is_on_its_row_once_sent_so_a_beat_taking_over_makes_none_twice(monkeypatch):
    """Celery writes the runs every three minutes: a beat killed within them left runs a beat taking
    over did not know of, and sent again (the nightly backup among them)."""
    if ScheduleLock().where().startswith("an in-memory database"):
        pytest.skip("the suite's in-memory SQLite has no file to lock beside it: tests/integration/test_two_beats.py")
    PeriodicTask.objects.update(enabled=False)
    sent = sends_of(monkeypatch, due_hourly_entry("hourly"))
    sent_too = sends_of(monkeypatch, due_hourly_entry("hourly-too", task="ledger.tasks.partitions_seal_due"))
    first = Scheduler(app=app)
    for _ in range(3):
        first.tick()
    assert sorted(sent + sent_too) == ["hourly", "hourly-too"]  # Celery wrote the first at once, not the second
    first._lock.release()  # killed: no sync at close, its lock gone with it

    second = Scheduler(app=app)
    try:
        for _ in range(3):
            second.tick()
    finally:
        second.close()
    assert sorted(sent + sent_too) == ["hourly", "hourly-too"]


@pytest.mark.django_db(transaction=True)
def test_the_lock_of_a_beat_gone_without_a_word_is_free_once_its_session_has_been_idle_a_while(monkeypatch):
    """A holder whose host vanished (no FIN, no RST) kept its session, and the lock, until the
    server's TCP keepalive gave up: two hours without polls, backups or sweeps."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("an flock goes with its process: a host gone takes it")
    monkeypatch.setattr("omen_site.beat.LOCK_SESSION_IDLE_SECONDS", 1)
    vanished = ScheduleLock()
    assert vanished.acquire()
    try:
        assert not ScheduleLock().acquire()
        time.sleep(2.5)  # the holder says nothing: as if its host were gone

        standby = ScheduleLock()
        assert standby.acquire()
        standby.release()
        assert not vanished.still_held()
    finally:
        vanished.release()
