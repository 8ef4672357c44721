"""Ledger days written on demand: the writer frames a test's signals at the moment the test names."""

from datetime import datetime

from ledger.services.writer import ledger_drain
from signals.services.ingest import signals_ingest
from tests.support.factories import RawEventFactory


def frames_when_drained(settings, *, per_segment: int = 3) -> None:
    """No drain after each commit (the test drains, at the date it chooses); short segments."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    settings.LEDGER_SEGMENT_MAX_FRAMES = per_segment


def write_day(moment: datetime, signals: int = 7) -> str:
    """Ingest ``signals`` new signals and let the writer frame them at ``moment``; return the partition's name."""
    signals_ingest(records=RawEventFactory.build_batch(signals))
    ledger_drain(now=moment)
    return moment.date().isoformat()
