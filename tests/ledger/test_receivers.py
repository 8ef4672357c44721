"""Every way signals get written leaves exactly one frame per signal, on commit.

``bulk_create``, ``QuerySet.update()`` and raw SQL fire no ``post_save``; these tests run each
path that writes signals in this codebase, end to end, and reconcile the ledger with the table.
"""

import pytest
from django.core.management import call_command

from ledger.models import LedgerOutbox
from ledger.services.verify import ledger_verify
from signals.models import Signal
from signals.services.poll import source_poll
from signals.sources.http import FetchPolicy
from tests.support.recorded_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def assert_one_frame_per_signal() -> None:
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.signals == Signal.objects.count() > 0
    assert report.frames == report.signals
    assert not LedgerOutbox.objects.exists()  # framed at commit, not left for the periodic drain


def test_load_demo(ledger_dir):
    call_command("load_demo")

    assert_one_frame_per_signal()


def test_ingest_file(ledger_dir, recorded_dir):
    call_command(
        "ingest_file", str(recorded_dir / "polymarket_gamma_markets_active_part1.json"), "--source", "polymarket"
    )

    assert_one_frame_per_signal()


def test_a_scheduled_poll(ledger_dir, source_server, settings, recorded_dir):
    settings.POLYMARKET_GAMMA_API_URL = source_server.url
    source_server.route(
        "/markets", Reply(body=(recorded_dir / "polymarket_gamma_markets_active_part1.json").read_bytes())
    )

    source_poll(source="polymarket", policy=FetchPolicy(attempts=1, read_timeout=5, total_timeout=10))
    source_poll(source="polymarket", policy=FetchPolicy(attempts=1, read_timeout=5, total_timeout=10))

    assert_one_frame_per_signal()


def test_a_failed_drain_after_commit_is_logged_and_the_save_stays_in_the_outbox(monkeypatch, caplog):
    import ledger.services.writer as writer
    from ledger.receivers import drain_now

    def broken(**kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(writer, "ledger_drain", broken)

    drain_now()  # after the commit: nothing is raised to the code that saved

    assert "drain after commit failed" in caplog.text


def test_a_soft_time_limit_during_the_drain_after_commit_stops_the_task(monkeypatch):
    """The poll that committed must stop and record its run, not run on to its hard limit."""
    from celery.exceptions import SoftTimeLimitExceeded

    import ledger.services.writer as writer
    from ledger.receivers import drain_now

    def out_of_time(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(writer, "ledger_drain", out_of_time)

    with pytest.raises(SoftTimeLimitExceeded):
        drain_now()
