"""manage.py storage_report answers: is my data persisted, where, how much, how old."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from ledger.models import LedgerWriterState

pytestmark = pytest.mark.django_db


def report(*args):
    out = StringIO()
    call_command("storage_report", *args, stdout=out)
    return out.getvalue()


def test_report_counts_signals_by_source_and_status_after_demo_load():
    call_command("load_demo", stdout=StringIO(), stderr=StringIO())

    data = json.loads(report("--json"))

    assert data["totals"]["signals"] > 0
    assert sum(row["count"] for row in data["signals_by_source_and_status"]) == data["totals"]["signals"]
    assert {row["source"] for row in data["signals_by_source_and_status"]} == {"polymarket"}
    assert data["oldest_signal_at"] <= data["newest_signal_at"]
    assert data["ledger_dir"]
    # The test's transaction never commits, so the saves are still waiting for the writer.
    assert data["ledger"]["saves_waiting"] == data["totals"]["signals"]


@pytest.mark.django_db(transaction=True)
def test_report_says_what_the_ledger_holds():
    call_command("load_demo", stdout=StringIO(), stderr=StringIO())

    data = json.loads(report("--json"))
    text = report()

    assert data["ledger"]["frames_written"] == data["totals"]["signals"] > 0
    assert data["ledger"]["saves_waiting"] == 0
    assert "/signals-001.wal@" in data["ledger"]["end"]
    assert f"Ledger:      {data['totals']['signals']} frames written" in text


def test_text_report_names_the_database_and_the_persistence():
    text = report()

    assert "Database:" in text
    assert "Persistence:" in text
    assert "Signals by source and status:" in text


def test_the_report_shows_a_stalled_writer_with_its_last_error():
    """A drain that failed (a full disk) is shown until one succeeds, with what to do."""
    LedgerWriterState.objects.update_or_create(
        pk=1, defaults={"last_error": "ledger writer stalled: cannot write /x: No space left on device (errno 28)"}
    )

    text, data = report(), json.loads(report("--json"))

    assert "Writer:      STALLED: the last drain failed" in text and "No space left on device" in text
    assert data["ledger"]["writer"]["stalled"] is True


def test_a_writer_keeping_up_is_said_so():
    assert "Writer:      keeping up (0 save(s) pending)" in report()


def test_the_report_shows_each_retention_policy_with_what_has_expired_and_its_last_run():
    from datetime import timedelta

    from django.utils import timezone

    from retention.services.sweep import sweep
    from tests.support.factories import RejectionFactory

    RejectionFactory(created_at=timezone.now() - timedelta(days=91))
    before = report()
    sweep(["rejections"])
    RejectionFactory(created_at=timezone.now() - timedelta(days=100))

    after = {line.split()[0]: line for line in report().splitlines() if line.startswith("  ")}

    assert "Retention:" in before
    assert " 1 expired  never swept" in next(line for line in before.splitlines() if "rejections" in line)
    assert after["rejections"].split()[1:3] == ["90", "d"]
    assert " 1 expired  " in after["rejections"] and "ok, 1 deleted" in after["rejections"]
    assert "never swept" in after["signals"]


@pytest.mark.django_db(transaction=True)
def test_the_json_report_holds_the_backups_and_retention_sections_a_monitor_needs():
    from django.utils import timezone

    from retention.models import Backup

    data = json.loads(report("--json"))
    assert data["backups"] == {"newest": None, "newest_proven": None, "problem": data["backups"]["problem"]}
    assert data["backups"]["problem"].startswith("no backup yet")
    assert {row["policy"] for row in data["retention"]} >= {"signals", "partner_signals", "backups", "ledger"}
    signals = next(row for row in data["retention"] if row["policy"] == "signals")
    assert (signals["keep_for_days"], signals["enabled"], signals["last_run"]) == (90, True, None)

    Backup.objects.create(started_at=timezone.now(), backend="sqlite", status="failed", error="disk full")

    backups = json.loads(report("--json"))["backups"]
    assert backups["problem"] == "the newest backup FAILED: disk full"
    assert (backups["newest"]["status"], backups["newest"]["proven_at"], backups["newest_proven"]) == (
        "failed",
        None,
        None,
    )
