"""The ledger's tasks call the writer and the seal, and report what they did in plain values."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.layout import SEALED_FILE
from ledger.models import LedgerOutbox
from ledger.reading import ledger_segments
from ledger.tasks import ledger_drain, partitions_seal_due
from signals.services.ingest import signals_ingest
from tests.support.factories import RawEventFactory
from tests.support.ledger_days import frames_when_drained, write_day

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_drain_task_frames_what_the_outbox_holds(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"  # the saves wait for the periodic drain
    signals_ingest(records=RawEventFactory.build_batch(4))
    assert LedgerOutbox.objects.count() == 4

    summary = ledger_drain.apply().get()

    assert summary == {"frames": 4, "adopted": 0, "busy": False}
    assert not LedgerOutbox.objects.exists()
    assert len(ledger_segments(ledger_dir)) == 1
    assert ledger_drain.apply().get() == {"frames": 0, "adopted": 0, "busy": False}


def test_the_seal_task_seals_the_days_that_are_due_and_names_them(ledger_dir, settings):
    frames_when_drained(settings)
    settings.LEDGER_SEAL_AFTER_HOURS = 2
    now = timezone.now()
    due = write_day(now - timedelta(days=2))
    today = write_day(now)

    sealed = partitions_seal_due.apply().get()

    assert sealed == [due]
    assert (ledger_dir / due / SEALED_FILE).exists()
    assert not (ledger_dir / today / SEALED_FILE).exists()
    assert partitions_seal_due.apply().get() == []
