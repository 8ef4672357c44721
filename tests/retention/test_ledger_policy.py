"""The "ledger" policy: partitions past seven years purged, each leaving a tombstone verify checks across;
a partition with a frame of a signal still in the database kept; backups carry the tombstones."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from ledger.models import LedgerPartition, Tier
from ledger.services.seal import partition_seal
from ledger.services.tiers import partitions_move_due
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from retention.models import LegalHold, RetentionRun
from retention.policies import DEFAULTS
from retention.services.backup import backup_create
from retention.services.status import policy_status
from retention.services.sweep import sweep
from signals.models import Signal
from signals.pipeline.events import RawEvent
from tests.support.factories import RawEventFactory, SignalFactory

pytestmark = pytest.mark.django_db(transaction=True)

OLD = datetime(2018, 3, 10, 12, tzinfo=UTC)  # the day of the partition the tests age out
KEEP = DEFAULTS["ledger"].keep_for
# Its last frame is from before the next midnight: the partition expires that much later.
BOUNDARY = datetime(2018, 3, 11, tzinfo=UTC) + KEEP
SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def drains_when_told(settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"


def yahoo_shaped(n: int) -> RawEvent:
    """An observation named as Yahoo's parser names its events: "stock-<ticker>-<hour>", whose
    SourceEvent is ("yahoo", "<ticker>-<hour>")."""
    return RawEventFactory.build(
        source="yahoo", external_id=f"AAPL-20180310{n:02d}", event_id=f"stock-AAPL-20180310{n:02d}"
    )


def old_partition(*, keep_signals: bool = False, shape: str = "polymarket") -> tuple[str, list[Signal]]:
    """A partition of OLD's day in long-term storage; its signals deleted since (delete frames in a
    later partition), unless kept; the writer on a later day."""
    made = (
        SignalFactory.create_batch(2)
        if shape == "polymarket"
        else [SignalFactory(raw_event=yahoo_shaped(n)) for n in range(2)]
    )
    ledger_drain(now=OLD)
    name = OLD.date().isoformat()
    partition_seal(name, now=OLD + timedelta(days=1))
    if not keep_signals:
        for signal in made:
            signal.delete()
    SignalFactory()
    ledger_drain(now=OLD + timedelta(days=3))  # the writer moves on (its partition is never purged)
    partitions_move_due(now=OLD + timedelta(days=400))
    assert LedgerPartition.objects.get(name=name).tier == Tier.LONG_TERM
    return name, made


def test_a_partition_is_kept_until_its_day_is_seven_years_old_and_not_a_second_longer():
    name, _ = old_partition()
    long_term = Path(settings.LEDGER_LONG_TERM_DIR)

    (before,) = sweep(["ledger"], now=BOUNDARY - SECOND)
    assert (long_term / name).is_dir()
    assert (before.status, before.counted, before.deleted) == ("ok", 0, 0)

    (after,) = sweep(["ledger"], now=BOUNDARY + SECOND)

    assert (after.status, after.counted, after.deleted, after.skipped_on_hold) == ("ok", 1, 1, 0)
    assert not (long_term / name).exists()
    assert (long_term / f"{name}.tombstone.json").is_file()
    assert LedgerPartition.objects.get(name=name).tier == Tier.PURGED
    report = ledger_verify(contents=True)
    assert report.ok, report.problems  # the chain checked across the gap


def test_a_purge_stopped_before_it_removed_the_directory_is_no_damage_and_the_next_sweep_ends_it(monkeypatch):
    from ledger.services import purge

    name, _ = old_partition()
    monkeypatch.setattr(purge, "remove_partition", lambda *args: None)  # killed right after the commit
    sweep(["ledger"], now=BOUNDARY + SECOND)
    directory = Path(settings.LEDGER_LONG_TERM_DIR) / name
    assert directory.is_dir() and LedgerPartition.objects.get(name=name).tier == Tier.PURGED

    report = ledger_verify(contents=True)

    assert report.ok, report.problems
    assert any("still there" in note for note in report.notes)
    monkeypatch.undo()
    sweep(["ledger"], now=BOUNDARY + SECOND)
    assert not directory.exists() and ledger_verify(contents=True).ok


def test_a_hold_on_a_source_keeps_the_partition_of_its_signals_delete_frames_too():
    # A delete frame's record names no source, and Yahoo's event ids ("stock-...") none either.
    made = [SignalFactory(raw_event=yahoo_shaped(n)) for n in range(2)]
    ledger_drain(now=OLD)
    for signal in made:
        signal.delete()
    ledger_drain(now=OLD + timedelta(days=1))  # the delete frames: the next day's partition
    SignalFactory()
    ledger_drain(now=OLD + timedelta(days=3))  # the writer moves on
    days = [OLD.date().isoformat(), (OLD + timedelta(days=1)).date().isoformat()]
    for day in days:
        partition_seal(day, now=OLD + timedelta(days=3))
    partitions_move_due(now=OLD + timedelta(days=400))
    LegalHold.objects.create(source="yahoo", reason="litigation")

    (run,) = sweep(["ledger"], now=BOUNDARY + timedelta(days=1) + SECOND)

    assert (run.status, run.deleted, run.skipped_on_hold) == ("ok", 0, 2)
    assert all((Path(settings.LEDGER_LONG_TERM_DIR) / day).is_dir() for day in days)


def test_a_dry_run_counts_and_purges_nothing():
    name, _ = old_partition()

    (run,) = sweep(["ledger"], dry_run=True, now=BOUNDARY + SECOND)

    assert (run.counted, run.deleted) == (1, 0)
    assert (Path(settings.LEDGER_LONG_TERM_DIR) / name).is_dir()
    assert LedgerPartition.objects.get(name=name).tier == Tier.LONG_TERM


def test_a_partition_with_a_frame_of_a_held_signal_stays_and_is_counted_held():
    name, (held, released) = old_partition(keep_signals=True)
    LegalHold.objects.create(signal_id=held.signal_id, reason="litigation")
    released.delete()
    ledger_drain(now=BOUNDARY)

    (run,) = sweep(["ledger"], now=BOUNDARY + SECOND)

    assert (run.status, run.counted, run.deleted, run.skipped_on_hold) == ("ok", 1, 0, 1)
    assert (Path(settings.LEDGER_LONG_TERM_DIR) / name).is_dir()
    assert ledger_verify(contents=True).ok


def test_the_status_names_the_oldest_partition_and_what_has_expired():
    old_partition()

    (status,) = [row for row in policy_status(now=BOUNDARY + SECOND) if row.policy.name == "ledger"]

    assert status.oldest == datetime(2018, 3, 10, tzinfo=UTC)
    assert status.expired == 1
    sweep(["ledger"], now=BOUNDARY + SECOND)
    (status,) = [row for row in policy_status(now=BOUNDARY + SECOND) if row.policy.name == "ledger"]
    assert status.expired == 0 and status.last_run.policy == "ledger"
    assert RetentionRun.objects.get(policy="ledger").deleted == 1


def test_a_backup_carries_the_long_term_manifests_and_the_tombstones():
    name, _ = old_partition()
    later = (OLD + timedelta(days=3)).date().isoformat()
    partition_seal(later, now=OLD + timedelta(days=4))
    SignalFactory()
    ledger_drain(now=OLD + timedelta(days=5))  # the writer moves on again
    partitions_move_due(now=OLD + timedelta(days=400))
    sweep(["ledger"], now=BOUNDARY + SECOND)

    backup = backup_create()

    copied = backup.directory / "ledger-manifests" / "ledger-long-term"
    assert backup.proven, backup.error
    assert (copied / f"{name}.tombstone.json").read_bytes() == (
        Path(settings.LEDGER_LONG_TERM_DIR) / f"{name}.tombstone.json"
    ).read_bytes()
    assert (copied / later / "_manifest.json").is_file()


@pytest.mark.parametrize("shape", ["polymarket", "yahoo"])
@pytest.mark.parametrize("hold", ["signal", "source", "event"])
def test_a_hold_on_a_signal_gone_from_the_database_keeps_its_frames_until_released(hold, shape):
    name, (gone, _) = old_partition(shape=shape)  # both signals deleted since: archived, say
    target = {
        "signal": {"signal_id": gone.signal_id},
        "source": {"source": gone.source},
        "event": {"source_event_id": gone.event_id},
    }[hold]
    held = LegalHold.objects.create(reason="litigation", **target)

    (run,) = sweep(["ledger"], now=BOUNDARY + SECOND)

    assert (run.status, run.counted, run.deleted, run.skipped_on_hold) == ("ok", 1, 0, 1)
    assert (Path(settings.LEDGER_LONG_TERM_DIR) / name).is_dir()
    LegalHold.objects.filter(pk=held.pk).update(released_at=BOUNDARY)
    (run,) = sweep(["ledger"], now=BOUNDARY + SECOND)
    assert (run.deleted, run.skipped_on_hold) == (1, 0)
    assert ledger_verify(contents=True).ok
