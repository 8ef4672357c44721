"""Beyond cold: long-term storage after a year, then purges that leave tombstones the chain runs across."""

from __future__ import annotations

import gzip
import io
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from ledger.layout import list_partitions, read_tombstone, tombstone_path
from ledger.models import LedgerPartition, LedgerWriterState, Tier
from ledger.public import partitions_purge
from ledger.reading import ledger_segments, read_segment
from ledger.services import feed, purge, replay, verify
from ledger.services.feed import frames_after
from ledger.services.replay import ledger_replay
from ledger.services.seal import partition_seal
from ledger.services.tiers import TierRefused, partition_long_term, partitions_move_due
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from ledger.tasks import partitions_move_due as partitions_move_due_task
from omen_site.api.keys import ApiKey
from signals.models import ProbabilityPoint, Signal, SourceEvent
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CUTOFF = (NOW - timedelta(days=2557)).date()  # retention's seven years


@pytest.fixture(autouse=True)
def short_segments(settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"  # each test drains at the moment it names
    settings.LEDGER_SEGMENT_MAX_FRAMES = 2


def framed(moment: datetime, count: int) -> tuple[str, list[Signal]]:
    """``count`` new signals framed at ``moment``: their partition's name, and the signals."""
    made = SignalFactory.create_batch(count)
    ledger_drain(now=moment)
    return moment.date().isoformat(), made


def sealed(moment: datetime, count: int) -> tuple[str, list[Signal]]:
    name, made = framed(moment, count)
    partition_seal(name, now=moment + timedelta(days=1))
    return name, made


def files(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*"))
            if path.is_file()}  # fmt: skip


def hidden(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


@dataclass
class OldLedger:
    """Five partitions, the four oldest in long-term storage: ``gone`` (every signal of it deleted
    since), ``held`` (one signal still in the database, one deleted), ``deletes`` (those deletes),
    ``recent`` (400 days old), and ``today`` (the writer's)."""

    gone: str
    held: str
    deletes: str
    recent: str
    today: str
    held_signal: str
    deleted_from_held: str


@pytest.fixture
def old_ledger(settings) -> OldLedger:
    gone, gone_signals = sealed(NOW - timedelta(days=3000), 3)
    held, held_signals = sealed(NOW - timedelta(days=2990), 2)
    for signal in [*gone_signals, held_signals[1]]:
        signal.delete()
    deletes, _ = sealed(NOW - timedelta(days=2980), 0)
    recent, _ = sealed(NOW - timedelta(days=400), 2)
    today, _ = framed(NOW, 1)
    partitions_move_due(now=NOW)
    return OldLedger(gone, held, deletes, recent, today, held_signals[0].signal_id, held_signals[1].signal_id)


# --------------------------------------------------------------------------- long-term


def test_partitions_older_than_a_year_move_to_long_term_and_are_read_in_order(old_ledger, settings, ledger_dir):
    long_term = settings.LEDGER_LONG_TERM_DIR
    old = [old_ledger.gone, old_ledger.held, old_ledger.deletes, old_ledger.recent]

    assert [str(p) for p in list_partitions(long_term)] == old
    assert list_partitions(settings.LEDGER_ARCHIVE_DIR) == []
    assert [str(p) for p in list_partitions(ledger_dir)] == [old_ledger.today]
    assert hidden(settings.LEDGER_ARCHIVE_DIR) == [] and hidden(long_term) == []
    rows = LedgerPartition.objects.filter(name__in=old)
    assert {(row.tier, row.long_term_at) for row in rows} == {(Tier.LONG_TERM, NOW)}
    refs = ledger_segments(ledger_dir, settings.LEDGER_ARCHIVE_DIR, long_term)
    assert [str(ref.partition) for ref in refs] == [
        old_ledger.gone, old_ledger.gone, old_ledger.held, old_ledger.deletes, old_ledger.deletes,
        old_ledger.recent, old_ledger.today,
    ]  # fmt: skip
    assert all(read_segment(ref).clean for ref in refs)
    report = ledger_verify()
    assert report.ok, report.problems
    assert (report.partitions, report.frames) == (5, 12)
    assert partitions_move_due(now=NOW) == []


def test_no_partition_moves_into_a_long_term_directory_that_lacks_the_last_one_moved_there(settings):
    """With the long-term volume not mounted, its mount point is an empty directory on the root
    disk: the hourly move wrote the next partition there (and removed it from the archive), where
    the volume, once mounted again, hid it."""
    first, _ = sealed(NOW - timedelta(days=800), 1)
    second, _ = sealed(NOW - timedelta(days=500), 1)
    framed(NOW, 1)  # the writer moves on
    partitions_move_due(now=NOW - timedelta(days=200))  # the first to long-term, the second archived
    assert [LedgerPartition.objects.get(name=name).tier for name in (first, second)] == [Tier.LONG_TERM, Tier.COLD]
    mounted = settings.LEDGER_LONG_TERM_DIR
    unmounted = mounted.parent / "mount-point"
    unmounted.mkdir()
    settings.LEDGER_LONG_TERM_DIR = unmounted

    (result,) = partitions_move_due(now=NOW)

    assert (result.partition, result.action) == (second, "refused")
    assert f"LEDGER_LONG_TERM_DIR ({unmounted}) does not hold {first}" in result.detail, result.detail
    assert "is its volume mounted?" in result.detail
    assert list(unmounted.iterdir()) == []
    assert (settings.LEDGER_ARCHIVE_DIR / second).is_dir()
    assert LedgerPartition.objects.get(name=second).tier == Tier.COLD

    settings.LEDGER_LONG_TERM_DIR = mounted  # mounted again: the move goes on
    assert [(result.partition, result.action) for result in partitions_move_due(now=NOW)] == [(second, "long_term")]


def test_a_partition_moves_to_long_term_once_365_whole_days_lie_between_its_day_and_today(settings):
    name, _ = sealed(datetime(2025, 1, 10, 12, tzinfo=UTC), 2)
    framed(datetime(2025, 11, 1, 12, tzinfo=UTC), 1)  # the writer moves on
    moves_at = datetime.combine(date(2025, 1, 10) + timedelta(days=366), time(), tzinfo=UTC)

    before = partitions_move_due(now=moves_at - timedelta(seconds=1))
    after = partitions_move_due(now=moves_at)

    assert (name, "archived") in [(result.partition, result.action) for result in before]
    assert (name, "long_term") not in [(result.partition, result.action) for result in before]
    assert [(result.partition, result.action) for result in after] == [(name, "long_term")]
    assert (settings.LEDGER_LONG_TERM_DIR / name).is_dir()


def test_the_celery_task_moves_partitions_to_long_term(settings):
    name, _ = sealed(timezone.now() - timedelta(days=400), 2)
    framed(timezone.now() - timedelta(days=1), 1)

    summary = partitions_move_due_task.apply(kwargs={}).get()

    assert [(entry["partition"], entry["action"]) for entry in summary][-1] == (name, "long_term")


def test_the_writers_own_partition_stays_cold_and_is_never_purged(settings):
    name, _ = sealed(NOW - timedelta(days=3000), 2)  # and nothing written since
    assert LedgerWriterState.objects.get().partition == name

    results = partitions_move_due(now=NOW)
    with pytest.raises(TierRefused, match="writer's recorded end"):
        partition_long_term(name, now=NOW)
    purge = partitions_purge(CUTOFF)

    assert [(result.partition, result.action) for result in results] == [(name, "compressed"), (name, "archived")]
    assert (settings.LEDGER_ARCHIVE_DIR / name).is_dir()
    assert (purge.counted, purge.purged, purge.kept) == (1, 0, 1)
    assert purge.kept_because == {name: "holds the writer's recorded end"}


def test_a_hidden_copy_an_interrupted_move_left_is_made_again(old_ledger, settings):
    name = old_ledger.recent
    long_term, archive = settings.LEDGER_LONG_TERM_DIR, settings.LEDGER_ARCHIVE_DIR
    shutil.move(long_term / name, archive / name)
    leftover = long_term / f".{name}.tmp"
    leftover.mkdir()
    (leftover / "signals-001.wal.gz").write_bytes(b"half a copy")
    original = files(archive / name)

    assert partition_long_term(name, now=NOW).action == "long_term"

    assert files(long_term / name) == original
    assert not leftover.exists() and not (archive / name).exists()


def test_a_move_that_stopped_after_renaming_the_copy_removes_the_original(old_ledger, settings):
    name = old_ledger.recent
    long_term, archive = settings.LEDGER_LONG_TERM_DIR, settings.LEDGER_ARCHIVE_DIR
    shutil.copytree(long_term / name, archive / name)  # the copy is in place, the original not removed
    LedgerPartition.objects.filter(name=name).update(tier=Tier.COLD, long_term_at=None)

    results = partitions_move_due(now=NOW)

    assert [(result.partition, result.action) for result in results] == [(name, "long_term")]
    assert not (archive / name).exists()
    assert LedgerPartition.objects.get(name=name).tier == Tier.LONG_TERM


def test_a_move_that_stopped_mid_removal_is_completed_whatever_the_partitions_age(old_ledger, settings):
    """Renamed to its hidden name, half removed, the move not recorded: the next run finishes it."""
    name = old_ledger.recent
    archive = settings.LEDGER_ARCHIVE_DIR
    shutil.copytree(settings.LEDGER_LONG_TERM_DIR / name, archive / f".{name}.long_term")
    LedgerPartition.objects.filter(name=name).update(tier=Tier.COLD)
    settings.LEDGER_LONG_TERM_AFTER_DAYS = 3650  # no longer due

    results = partitions_move_due(now=NOW)

    assert [(result.partition, result.action) for result in results] == [(name, "long_term")]
    assert hidden(archive) == []
    assert LedgerPartition.objects.get(name=name).tier == Tier.LONG_TERM


def test_a_different_long_term_copy_is_never_overwritten(old_ledger, settings):
    name = old_ledger.recent
    long_term, archive = settings.LEDGER_LONG_TERM_DIR, settings.LEDGER_ARCHIVE_DIR
    shutil.copytree(long_term / name, archive / name)
    (long_term / name / "signals-001.wal.gz").write_bytes(b"not the sealed frames")
    before = files(long_term / name), files(archive / name)

    with pytest.raises(TierRefused, match=r"signals-001\.wal\.gz"):
        partition_long_term(name, now=NOW)

    assert (files(long_term / name), files(archive / name)) == before


# --------------------------------------------------------------------------- purge


def test_a_purge_leaves_tombstones_and_keeps_a_partition_with_a_signal_still_in_the_database(old_ledger, settings):
    long_term = settings.LEDGER_LONG_TERM_DIR
    rows = {row.name: row for row in LedgerPartition.objects.all()}

    result = partitions_purge(CUTOFF, now=NOW)

    assert (result.counted, result.purged, result.kept, result.frames_purged) == (3, 2, 1, 7)
    assert result.kept_because == {
        old_ledger.held: f"holds frames of 1 signal(s) still in the database, such as {old_ledger.held_signal}"
    }
    assert result.refused == []
    assert [str(p) for p in list_partitions(long_term)] == [old_ledger.held, old_ledger.recent]
    assert hidden(long_term) == []
    for name in (old_ledger.gone, old_ledger.deletes):
        tombstone, row = read_tombstone(tombstone_path(long_term, name)), LedgerPartition.objects.get(name=name)
        assert (row.tier, row.purged_at) == (Tier.PURGED, NOW)
        assert (tombstone.frames, tombstone.chain_start, tombstone.chain_head, tombstone.manifest_sha256) == (
            rows[name].frames, rows[name].chain_start, rows[name].chain_head, rows[name].manifest_sha256,
        )  # fmt: skip
        assert (tombstone.first_sequence, tombstone.last_sequence) == (
            rows[name].first_sequence,
            rows[name].last_sequence,
        )
    # The held partition's other signal was deleted in a purged one: that delete stays on record.
    assert read_tombstone(tombstone_path(long_term, old_ledger.deletes)).deletes == (old_ledger.deleted_from_held,)
    assert read_tombstone(tombstone_path(long_term, old_ledger.gone)).deletes == ()

    again = partitions_purge(CUTOFF, now=NOW + timedelta(days=1))

    assert (again.counted, again.purged, again.kept, again.frames_purged) == (1, 0, 1, 0)
    assert LedgerPartition.objects.get(name=old_ledger.gone).purged_at == NOW


def test_a_dry_run_counts_and_changes_nothing(old_ledger, settings):
    long_term = settings.LEDGER_LONG_TERM_DIR
    before = files(long_term)

    result = partitions_purge(CUTOFF, dry_run=True, now=NOW)

    assert (result.counted, result.purged, result.kept, result.frames_purged) == (3, 2, 1, 7)
    assert files(long_term) == before
    assert not LedgerPartition.objects.filter(tier=Tier.PURGED).exists()


def test_a_partition_that_does_not_read_back_is_kept_and_later_tombstones_name_every_delete(old_ledger, settings):
    """Whose frames it held is unknown: a later tombstone names every delete, not only those of
    signals with frames in a kept partition (applying a delete at the gap is right for each)."""
    long_term = settings.LEDGER_LONG_TERM_DIR
    (long_term / old_ledger.gone / "signals-001.wal.gz").write_bytes(gzip.compress(b"not the sealed frames"))

    result = partitions_purge(CUTOFF, now=NOW)

    assert (result.counted, result.purged, result.kept) == (3, 1, 2)
    assert result.refused == [f"{old_ledger.gone}: {result.kept_because[old_ledger.gone]}"]
    assert "cannot be read back whole" in result.refused[0]
    deletes = read_tombstone(tombstone_path(long_term, old_ledger.deletes)).deletes
    assert len(deletes) == 4 and old_ledger.deleted_from_held in deletes


def test_a_purge_reads_its_partitions_back_without_holding_the_writers_lock(old_ledger, monkeypatch):
    held, read_back, locked = [], purge.build_manifest, purge.locked_ledger

    @contextmanager
    def watched_lock(*args, **kwargs):
        with locked(*args, **kwargs) as taken:
            held.append(True)
            try:
                yield taken
            finally:
                held.pop()

    def reading(*args, **kwargs):
        reads.append(bool(held))
        return read_back(*args, **kwargs)

    reads: list[bool] = []
    monkeypatch.setattr(purge, "locked_ledger", watched_lock)
    monkeypatch.setattr(purge, "build_manifest", reading)
    result = partitions_purge(CUTOFF, now=NOW)

    assert result.purged == 2 and reads
    assert not any(reads)  # every partition was read back while the writer could write


def test_a_partition_is_purged_once_the_cutoff_is_past_its_whole_day(old_ledger, settings):
    day_after = datetime.combine(date.fromisoformat(old_ledger.gone) + timedelta(days=1), time(), tzinfo=UTC)

    a_second_early = partitions_purge(day_after - timedelta(seconds=1), now=NOW)
    on_its_day = partitions_purge(day_after.date() - timedelta(days=1), now=NOW)
    at_its_end = partitions_purge(day_after, now=NOW)

    assert (a_second_early.counted, on_its_day.counted) == (0, 0)
    assert (at_its_end.counted, at_its_end.purged, at_its_end.frames_purged) == (1, 1, 3)
    assert not (settings.LEDGER_LONG_TERM_DIR / old_ledger.gone).exists()


def test_a_cold_partition_is_purged_too_and_a_hot_one_is_kept(old_ledger, settings, ledger_dir):
    long_term, archive = settings.LEDGER_LONG_TERM_DIR, settings.LEDGER_ARCHIVE_DIR
    shutil.move(long_term / old_ledger.gone, archive / old_ledger.gone)
    shutil.move(long_term / old_ledger.deletes, ledger_dir / old_ledger.deletes)

    result = partitions_purge(CUTOFF, now=NOW)

    assert result.purged == 1 and not (archive / old_ledger.gone).exists()
    assert result.kept_because[old_ledger.deletes] == "still in LEDGER_DIR: it is purged once it is archived"


def purged_then_put_back(long_term: Path, name: str, *places: str) -> bytes:
    """Purge, then put the partition's files back in ``places``: what a crash after the tombstone
    leaves. Returns the tombstone."""
    saved = long_term.parent / "saved"
    shutil.copytree(long_term / name, saved)
    partitions_purge(CUTOFF, now=NOW)
    for place in places:
        shutil.copytree(saved, long_term / place)
    return tombstone_path(long_term, name).read_bytes()


def test_a_purge_a_crash_left_before_removing_the_directory_is_finished(old_ledger, settings):
    long_term = settings.LEDGER_LONG_TERM_DIR
    # The tombstone and the row say purged; the directory is there, and a removal stopped halfway.
    tombstone = purged_then_put_back(long_term, old_ledger.gone, old_ledger.gone, f".{old_ledger.gone}.purged")

    result = partitions_purge(CUTOFF, now=NOW + timedelta(days=1))

    assert (result.purged, result.frames_purged) == (1, 3)
    assert not (long_term / old_ledger.gone).exists() and hidden(long_term) == []
    assert tombstone_path(long_term, old_ledger.gone).read_bytes() == tombstone
    assert ledger_verify().ok


def test_a_tombstone_whose_row_did_not_commit_is_checked_again_and_kept(old_ledger, settings):
    long_term = settings.LEDGER_LONG_TERM_DIR
    tombstone = purged_then_put_back(long_term, old_ledger.gone, old_ledger.gone)
    LedgerPartition.objects.filter(name=old_ledger.gone).update(tier=Tier.LONG_TERM, purged_at=None)

    result = partitions_purge(CUTOFF, now=NOW + timedelta(days=1))

    assert result.purged == 1
    assert tombstone_path(long_term, old_ledger.gone).read_bytes() == tombstone  # purged_at: the first run's
    assert LedgerPartition.objects.get(name=old_ledger.gone).purged_at == NOW
    assert not (long_term / old_ledger.gone).exists()


def test_a_different_tombstone_is_never_overwritten(old_ledger, settings):
    long_term = settings.LEDGER_LONG_TERM_DIR
    path = tombstone_path(long_term, old_ledger.gone)
    path.write_bytes(
        orjson.dumps(
            {
                "partition": old_ledger.gone,
                "frames": 99,
                "bytes": 0,
                "first_sequence": None,
                "last_sequence": None,
                "chain_start": "",
                "chain_head": "",
                "manifest_sha256": "",
                "sealed_at": "",
                "purged_at": "",
                "deletes": [],
            }
        )  # fmt: skip
    )
    before = path.read_bytes(), files(long_term / old_ledger.gone)

    result = partitions_purge(CUTOFF, now=NOW)

    assert old_ledger.gone in result.kept_because
    assert result.refused == [f"{old_ledger.gone}: {result.kept_because[old_ledger.gone]}"]
    assert "differs from this partition in frames" in result.refused[0]
    assert (path.read_bytes(), files(long_term / old_ledger.gone)) == before


# --------------------------------------------------------------------------- verify across the gap


def test_verify_follows_the_chain_across_purged_partitions(old_ledger):
    partitions_purge(CUTOFF, now=NOW)

    report = ledger_verify(contents=True)

    assert report.ok, report.problems
    assert (report.partitions, report.purged, report.purged_frames, report.frames) == (5, 2, 7, 5)
    call_command("ledger", "verify", "--contents")  # exits 0


def test_a_delete_whose_create_was_purged_is_no_problem(settings):
    """A signal created in a purged partition and deleted in a kept one."""
    created, signals = sealed(NOW - timedelta(days=3000), 1)
    signals[0].delete()
    kept, _ = framed(NOW - timedelta(days=10), 1)
    partitions_move_due(now=NOW)

    assert partitions_purge(CUTOFF, now=NOW).purged == 1

    report = ledger_verify()
    assert report.ok, report.problems
    assert report.purged_frames == 1


def test_an_edited_tombstone_chain_head_is_found(old_ledger, settings):
    partitions_purge(CUTOFF, now=NOW)
    path = tombstone_path(settings.LEDGER_LONG_TERM_DIR, old_ledger.deletes)
    tombstone = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps(tombstone | {"chain_head": "f" * 64}))

    report = ledger_verify()

    problems = {problem.where: problem.what for problem in report.problems}
    assert "its tombstone disagrees with its row: chain_head" in problems[f"{old_ledger.deletes} (purged)"]
    assert "prev_hash does not match" in problems[f"{old_ledger.recent}/signals-001.wal.gz@0"]


def test_a_partition_gone_without_a_tombstone_is_found(old_ledger, settings):
    partitions_purge(CUTOFF, now=NOW)
    shutil.rmtree(settings.LEDGER_LONG_TERM_DIR / old_ledger.recent)
    tombstone_path(settings.LEDGER_LONG_TERM_DIR, old_ledger.gone).unlink()

    report = ledger_verify()

    problems = {problem.where: problem.what for problem in report.problems}
    for name, tier in ((old_ledger.gone, "purged"), (old_ledger.recent, "long_term")):
        assert problems[name].startswith(f"recorded ({tier}, ")
        assert "no tombstone says it was purged" in problems[name]
    assert "prev_hash does not match" in problems[f"{old_ledger.held}/signals-001.wal.gz@0"]
    assert "prev_hash does not match" in problems[f"{old_ledger.today}/signals-001.wal@0"]


# --------------------------------------------------------------------------- feed and replay


def test_the_feed_skips_the_purged_positions_and_keeps_every_other(old_ledger, client, settings):
    """Positions: gone 1-3, held 4-5, deletes 6-9, recent 10-11, today 12."""
    partitions_purge(CUTOFF, now=NOW)
    _, key = ApiKey.issue("consumer", ["read:ledger"])

    page = frames_after(0)
    inside = frames_after(7, limit=1)
    reply = client.get("/api/v1/ledger/frames/?after=5&limit=2", HTTP_X_API_KEY=key).json()

    assert [frame.position for frame in page.frames] == [4, 5, 10, 11, 12]
    assert (page.end, page.has_more) == (12, False)
    assert [frame.position for frame in inside.frames] == [10]
    assert [frame["position"] for frame in reply["frames"]] == [10, 11]
    assert (reply["next_after"], reply["end"], reply["has_more"]) == (11, 12, True)
    tombstone = read_tombstone(tombstone_path(settings.LEDGER_LONG_TERM_DIR, old_ledger.deletes))
    assert reply["frames"][0]["envelope"]["prev_hash"] == tombstone.chain_head


@pytest.mark.django_db(transaction=True)
def test_replay_crosses_a_purged_gap_and_says_what_it_did_not_replay(old_ledger, settings, ledger_dir):
    partitions_purge(CUTOFF, now=NOW)
    before = sorted(Signal.objects.values_list("signal_id", "contract"))
    with transaction.atomic():  # no receiver runs: nothing is queued for the ledger
        for model in (ProbabilityPoint, Signal, SourceEvent):
            model.objects.all()._raw_delete(using="default")

    result = ledger_replay(ledger_dir, settings.LEDGER_ARCHIVE_DIR, settings.LEDGER_LONG_TERM_DIR)

    assert sorted(Signal.objects.values_list("signal_id", "contract")) == before
    assert not Signal.objects.filter(signal_id=old_ledger.deleted_from_held).exists()
    assert (result.frames, result.purged_frames, result.problems) == (5, 7, [])
    assert [line.split(" was purged")[0] for line in result.purged] == [old_ledger.gone, old_ledger.deletes]
    assert "its 4 frame(s) were not replayed (the 1 delete(s) its tombstone names were)" in result.purged[1]
    assert ledger_verify().ok


@pytest.mark.parametrize("limit", [1, 100])
def test_a_page_read_while_its_partition_moves_to_long_term_serves_every_frame_at_its_position(
    settings, monkeypatch, limit
):
    """The move renames the copy into place, then removes the original: a page that listed the
    partition in the archive found no segment there and served the next partition's frames at
    the moved one's positions (a consumer then had them twice, and the moved ones out of order)."""
    name, _ = sealed(NOW - timedelta(days=400), 3)
    framed(NOW, 2)
    partitions_move_due(now=NOW - timedelta(days=100))  # cold, not yet long-term
    assert (settings.LEDGER_ARCHIVE_DIR / name).is_dir()
    expected = [(frame.position, frame.payload) for frame in frames_after(0).frames]
    listing = feed.ledger_partitions

    def listed_then_moved(*directories, **options):
        found = listing(*directories, **options)
        if (settings.LEDGER_ARCHIVE_DIR / name).is_dir():
            partition_long_term(name, now=NOW)
        return found

    monkeypatch.setattr(feed, "ledger_partitions", listed_then_moved)
    served, after = [], 0
    while True:
        page = frames_after(after, limit)
        served.extend((frame.position, frame.payload) for frame in page.frames)
        after = page.next_after
        if not page.has_more:
            break

    assert served == expected and len(served) == 5
    assert (settings.LEDGER_LONG_TERM_DIR / name).is_dir()


def test_verify_goes_on_when_the_sweep_purges_a_partition_it_is_reading(old_ledger, monkeypatch):
    """The daily sweep may purge while an operator's verify runs: verify stopped with "cannot use
    ...: No such file or directory" (exit 1), as if the ledger could not be read."""
    reading = verify.read_segment
    purged = []

    def purged_while_reading(ref, data=None):
        if not purged:
            purged.append(partitions_purge(CUTOFF, now=NOW))
        return reading(ref, data)

    monkeypatch.setattr(verify, "read_segment", purged_while_reading)
    report = ledger_verify()

    assert purged[0].purged == 2
    assert report.ok, report.problems
    assert (report.partitions, report.purged, report.purged_frames) == (5, 2, 7)
    assert any("purged while verify read it" in note for note in report.notes)


@pytest.mark.parametrize("purged", [False, True])
def test_the_feed_stops_rather_than_shift_positions_when_the_long_term_directory_is_missing(
    old_ledger, settings, purged
):
    """An unmounted LEDGER_LONG_TERM_DIR hid its partitions (and tombstones): every later frame was
    served at a lower position, so a consumer's cursor skipped that many frames, and got them again
    once the volume was back."""
    if purged:
        partitions_purge(CUTOFF, now=NOW)
    long_term = settings.LEDGER_LONG_TERM_DIR
    before = [(frame.position, frame.payload) for frame in frames_after(11).frames]
    long_term.rename(long_term.with_name("unmounted"))

    with pytest.raises(feed.FeedBroken) as broken:
        frames_after(11)
    with pytest.raises(feed.FeedBroken):
        frames_after(0, limit=0)

    assert str(broken.value).startswith(f"{old_ledger.gone} is recorded (")
    assert "in none of LEDGER_DIR, LEDGER_ARCHIVE_DIR and LEDGER_LONG_TERM_DIR" in str(broken.value)
    long_term.with_name("unmounted").rename(long_term)
    assert [(frame.position, frame.payload) for frame in frames_after(11).frames] == before


def test_ledger_tail_of_everything_is_the_feed_from_zero_across_purged_gaps(old_ledger):
    partitions_purge(CUTOFF, now=NOW)
    out = io.StringIO()
    call_command("ledger", "tail", "-n", "12", stdout=out)

    served = frames_after(0).frames
    assert [frame.position for frame in served] == [4, 5, 10, 11, 12]
    assert out.getvalue().encode() == b"".join(frame.payload + b"\n" for frame in served)


def test_verify_checks_the_manifest_of_a_partition_that_moved_to_long_term_while_it_was_read(settings, monkeypatch):
    """Its segments were read where they went, but its manifest was looked for where it had been:
    found in neither place, it was not checked, and a damaged manifest passed."""
    name, _ = sealed(NOW - timedelta(days=400), 3)
    framed(NOW, 1)
    partitions_move_due(now=NOW - timedelta(days=100))  # cold
    manifest_file = settings.LEDGER_ARCHIVE_DIR / name / "_manifest.json"
    manifest = orjson.loads(manifest_file.read_bytes())
    manifest["total_records"] += 1  # the segments' checksums still match: the move copies it
    manifest_file.write_bytes(orjson.dumps(manifest))
    reading = verify.read_segment

    def read_then_moved(ref, data=None):
        read = reading(ref, data)
        if str(ref.partition) == name and ref.ordinal == 2 and (settings.LEDGER_ARCHIVE_DIR / name).is_dir():
            partition_long_term(name, now=NOW)
        return read

    monkeypatch.setattr(verify, "read_segment", read_then_moved)
    report = ledger_verify(reconcile=False)

    assert (settings.LEDGER_LONG_TERM_DIR / name).is_dir()
    assert [str(problem) for problem in report.problems] == [
        f"{name}: manifest total_records 4 does not match the frames"
    ]


@pytest.mark.django_db(transaction=True)
def test_replay_reads_a_partition_that_moved_to_long_term_while_it_waited_for_the_writers_lock(
    settings, ledger_dir, monkeypatch
):
    """Replay listed the segments, then waited for the lock an hourly move held: it then read the
    moved partition where it had been and refused the ledger as damaged ("segment cannot be read")."""
    name, _ = sealed(NOW - timedelta(days=400), 3)
    framed(NOW, 1)
    partitions_move_due(now=NOW - timedelta(days=100))  # cold
    before = sorted(Signal.objects.values_list("signal_id", "contract"))
    with transaction.atomic():
        for model in (ProbabilityPoint, Signal, SourceEvent):
            model.objects.all()._raw_delete(using="default")
    locking = replay.directory_lock

    @contextmanager
    def locked_once_the_move_is_done(root):
        partition_long_term(name, now=NOW)  # it held the lock: replay had it next
        with locking(root):
            yield

    monkeypatch.setattr(replay, "directory_lock", locked_once_the_move_is_done)
    result = ledger_replay(ledger_dir, settings.LEDGER_ARCHIVE_DIR, settings.LEDGER_LONG_TERM_DIR)

    assert (settings.LEDGER_LONG_TERM_DIR / name).is_dir()
    assert (result.frames, result.problems) == (4, [])
    assert sorted(Signal.objects.values_list("signal_id", "contract")) == before
