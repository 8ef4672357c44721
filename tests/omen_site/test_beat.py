"""Beat's scheduler (omen_site/beat.py), its entries read from django-celery-beat's rows."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu.exceptions import OperationalError

from omen_site.beat import Entry, Scheduler
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
