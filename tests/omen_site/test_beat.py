"""Beat's scheduler (omen_site/beat.py), its entries read from django-celery-beat's rows."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from omen_site.beat import Entry
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
