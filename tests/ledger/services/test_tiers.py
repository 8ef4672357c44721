"""Storage tiers: sealed partitions are compressed (warm) then archived (cold), verified, never overwritten."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from django.utils import timezone

from ledger.layout import list_partitions, list_segments
from ledger.models import LedgerPartition, LedgerWriterState, Tier
from ledger.reading import ledger_segments, segment_data
from ledger.services.seal import partition_seal
from ledger.services.tiers import TierRefused, partition_archive, partition_compress, partitions_move_due
from ledger.tasks import partitions_move_due as partitions_move_due_task
from ledger.wal import read_frames
from omen_site.schedule import beat_schedule
from tests.support.ledger_days import frames_when_drained, write_day

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def small_segments(settings):
    frames_when_drained(settings)
    settings.LEDGER_WARM_AFTER_DAYS = 7
    settings.LEDGER_COLD_AFTER_DAYS = 30


def sealed_day(days_ago: int, signals: int = 7) -> str:
    moment = NOW - timedelta(days=days_ago)
    name = write_day(moment, signals)
    partition_seal(name, now=moment + timedelta(days=1))
    return name


def move_writer_on() -> str:
    """A write today: the writer leaves the older partitions, so they may change tier."""
    return write_day(NOW, signals=1)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def raw_segments(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in list_segments(directory)}


def frames_of(directory: Path) -> list[bytes]:
    """Every frame's payload, decompressing what is compressed."""
    return [frame.payload for path in list_segments(directory) for frame in read_frames(segment_data(path)).frames]


# --------------------------------------------------------------------------- compress


def test_compress_replaces_every_segment_by_a_gzip_that_reads_back_identical(ledger_dir):
    name = sealed_day(10)
    move_writer_on()
    directory = ledger_dir / name
    raw = raw_segments(directory)
    frames = frames_of(directory)
    assert len(raw) == 3 and len(frames) == 7

    result = partition_compress(name, now=NOW)

    assert result.action == "compressed" and result.segments == 3
    assert sorted(path.name for path in list_segments(directory)) == sorted(f"{segment}.gz" for segment in raw)
    for segment, data in raw.items():
        assert segment_data(directory / f"{segment}.gz") == data
    assert frames_of(directory) == frames
    assert not [path for path in directory.iterdir() if path.name.endswith(".tmp")]
    row = LedgerPartition.objects.get(name=name)
    assert (row.tier, row.compressed_at, row.verified_at) == (Tier.WARM, NOW, NOW)


def test_an_existing_different_gzip_is_never_overwritten(ledger_dir):
    name = sealed_day(10)
    move_writer_on()
    directory = ledger_dir / name
    (directory / "signals-002.wal.gz").write_bytes(gzip.compress(b"an older segment of another run"))
    before = snapshot(directory)

    with pytest.raises(TierRefused, match=r"signals-002\.wal\.gz"):
        partition_compress(name, now=NOW)

    assert snapshot(directory) == before
    assert LedgerPartition.objects.get(name=name).tier == Tier.HOT


def test_a_leftover_identical_gzip_of_an_interrupted_run_is_kept_and_the_run_completed(ledger_dir):
    name = sealed_day(10)
    move_writer_on()
    directory = ledger_dir / name
    raw = raw_segments(directory)
    leftover = gzip.compress(raw["signals-001.wal"], compresslevel=1)  # other bytes than the service writes
    (directory / "signals-001.wal.gz").write_bytes(leftover)

    partition_compress(name, now=NOW)

    assert (directory / "signals-001.wal.gz").read_bytes() == leftover
    assert not (directory / "signals-001.wal").exists()
    assert {path.name for path in list_segments(directory)} == {f"{segment}.gz" for segment in raw}
    assert LedgerPartition.objects.get(name=name).tier == Tier.WARM


def test_an_unsealed_partition_is_refused(ledger_dir):
    name = write_day(NOW - timedelta(days=10))
    move_writer_on()
    before = snapshot(ledger_dir / name)

    with pytest.raises(TierRefused, match="not sealed"):
        partition_compress(name, now=NOW)

    assert snapshot(ledger_dir / name) == before


def test_a_segment_edited_after_sealing_is_refused_and_nothing_is_compressed(ledger_dir):
    name = sealed_day(10)
    move_writer_on()
    directory = ledger_dir / name
    edited = directory / "signals-002.wal"
    edited.write_bytes(edited.read_bytes().replace(b"polymarket", b"polymarkeT", 1))
    before = snapshot(directory)

    with pytest.raises(TierRefused, match=r"signals-002\.wal no longer matches"):
        partition_compress(name, now=NOW)

    assert snapshot(directory) == before
    assert not [path for path in directory.iterdir() if ".gz" in path.name]


def test_a_missing_partition_row_is_created_from_the_manifest(ledger_dir):
    name = sealed_day(10)
    move_writer_on()
    sealed = LedgerPartition.objects.values("frames", "bytes", "chain_head", "manifest_sha256", "sealed_at").get(
        name=name
    )
    LedgerPartition.objects.filter(name=name).delete()

    partition_compress(name, now=NOW)

    row = LedgerPartition.objects.get(name=name)
    assert row.tier == Tier.WARM
    assert {key: getattr(row, key) for key in sealed} == sealed


# --------------------------------------------------------------------------- archive


def test_archive_moves_the_partition_and_its_segments_read_back(ledger_dir, settings):
    name = sealed_day(40)
    move_writer_on()
    frames = frames_of(ledger_dir / name)
    partition_compress(name, now=NOW)
    files = snapshot(ledger_dir / name)

    result = partition_archive(name, now=NOW)

    archived = settings.LEDGER_ARCHIVE_DIR / name
    assert result.action == "archived"
    assert not (ledger_dir / name).exists()
    assert snapshot(archived) == files
    assert frames_of(archived) == frames
    assert [ref.path.parent for ref in ledger_segments(ledger_dir, settings.LEDGER_ARCHIVE_DIR)][:3] == [archived] * 3
    assert not [path.name for path in settings.LEDGER_ARCHIVE_DIR.iterdir() if path.name.startswith(".")]
    assert not [path.name for path in ledger_dir.iterdir() if path.name.startswith(f".{name}")]
    row = LedgerPartition.objects.get(name=name)
    assert (row.tier, row.archived_at, row.verified_at) == (Tier.COLD, NOW, NOW)


def test_archive_refuses_a_partition_that_is_not_compressed(ledger_dir, settings):
    name = sealed_day(40)
    move_writer_on()

    with pytest.raises(TierRefused, match="compress it before archiving"):
        partition_archive(name, now=NOW)

    assert list_segments(ledger_dir / name)
    assert not (settings.LEDGER_ARCHIVE_DIR / name).exists()


def test_archive_completes_over_an_identical_copy_left_by_an_interrupted_run(ledger_dir, settings):
    name = sealed_day(40)
    move_writer_on()
    partition_compress(name, now=NOW)
    shutil.copytree(ledger_dir / name, settings.LEDGER_ARCHIVE_DIR / name)

    partition_archive(name, now=NOW)

    assert not (ledger_dir / name).exists()
    assert LedgerPartition.objects.get(name=name).tier == Tier.COLD


def test_archive_never_overwrites_a_different_copy(ledger_dir, settings):
    name = sealed_day(40)
    move_writer_on()
    partition_compress(name, now=NOW)
    destination = settings.LEDGER_ARCHIVE_DIR / name
    shutil.copytree(ledger_dir / name, destination)
    (destination / "signals-003.wal.gz").write_bytes(gzip.compress(b"not the sealed frames"))
    source_before, destination_before = snapshot(ledger_dir / name), snapshot(destination)

    with pytest.raises(TierRefused, match=r"signals-003\.wal\.gz"):
        partition_archive(name, now=NOW)

    assert snapshot(ledger_dir / name) == source_before
    assert snapshot(destination) == destination_before
    assert LedgerPartition.objects.get(name=name).tier == Tier.WARM


# --------------------------------------------------------------------------- due


def test_partitions_move_due_by_age_and_records_each_transition(ledger_dir, settings):
    """Older than N days: today minus the partition's day exceeds N (7 days stays, 8 moves)."""
    cold, still_warm, warm, hot = sealed_day(31, 2), sealed_day(30, 2), sealed_day(8, 2), sealed_day(7, 2)
    unsealed = write_day(NOW - timedelta(days=2), 2)
    today = move_writer_on()

    results = partitions_move_due(now=NOW)

    assert [(result.partition, result.action) for result in results] == [
        (cold, "compressed"),
        (still_warm, "compressed"),
        (warm, "compressed"),
        (cold, "archived"),
    ]
    assert [str(p) for p in list_partitions(ledger_dir)] == [still_warm, warm, hot, unsealed, today]
    assert [str(p) for p in list_partitions(settings.LEDGER_ARCHIVE_DIR)] == [cold]
    assert all(path.name.endswith(".gz") for path in list_segments(ledger_dir / warm))
    assert not any(path.name.endswith(".gz") for path in list_segments(ledger_dir / hot))
    assert not any(path.name.endswith(".gz") for path in list_segments(ledger_dir / unsealed))
    tiers = dict(LedgerPartition.objects.values_list("name", "tier"))
    assert tiers == {cold: Tier.COLD, still_warm: Tier.WARM, warm: Tier.WARM, hot: Tier.HOT}
    assert LedgerPartition.objects.get(name=cold).compressed_at == NOW
    assert partitions_move_due(now=NOW) == []


def test_partitions_move_due_reports_a_refused_partition_and_moves_the_others(ledger_dir):
    broken, fine = sealed_day(12), sealed_day(10)
    move_writer_on()
    edited = ledger_dir / broken / "signals-001.wal"
    edited.write_bytes(edited.read_bytes().replace(b"polymarket", b"polymarkeT", 1))

    results = partitions_move_due(now=NOW)

    assert [(result.partition, result.action) for result in results] == [(broken, "refused"), (fine, "compressed")]
    assert "signals-001.wal" in results[0].detail
    assert LedgerPartition.objects.get(name=broken).tier == Tier.HOT


def test_a_partition_the_disk_will_not_read_is_reported_and_the_others_still_move(ledger_dir, settings):
    """An OSError (a bad sector, a long-term volume gone read-only) escaped: that partition and every
    one after it stayed where they were, hour after hour, with a traceback for a report."""
    unreadable, fine = sealed_day(12), sealed_day(10)
    move_writer_on()
    segment = ledger_dir / unreadable / "signals-001.wal"
    segment.unlink()
    segment.mkdir()  # reading it fails as a damaged disk would: with an OSError
    (ledger_dir.parent / "a-file").write_bytes(b"")
    settings.LEDGER_LONG_TERM_DIR = ledger_dir.parent / "a-file" / "long-term"  # never a directory

    results = partitions_move_due(now=NOW)
    later = partitions_move_due(now=NOW + timedelta(days=400))

    assert [(result.partition, result.action) for result in results] == [
        (unreadable, "refused"), (fine, "compressed"),
    ]  # fmt: skip
    assert results[0].detail.startswith(f"cannot use {segment}: Is a directory (errno 21)")
    assert LedgerPartition.objects.get(name=unreadable).tier == Tier.HOT
    assert [(result.partition, result.action) for result in later][-1] == (fine, "refused")
    assert "Not a directory (errno 20)" in later[-1].detail
    # The directory to look at is the one the failing path is under, not always LEDGER_DIR.
    assert results[0].detail.endswith("; check LEDGER_DIR and the disk under it")
    assert later[-1].detail.endswith("; check LEDGER_LONG_TERM_DIR and the disk under it"), later[-1].detail


def test_the_writer_keeps_appending_after_its_old_partition_moved_to_the_archive(ledger_dir, settings):
    name = sealed_day(40)
    assert LedgerWriterState.objects.get().partition == name  # nothing written since

    partitions_move_due(now=NOW)
    today = move_writer_on()
    write_day(NOW + timedelta(minutes=1), signals=2)

    assert (settings.LEDGER_ARCHIVE_DIR / name).is_dir()
    assert LedgerWriterState.objects.get().partition == today
    assert len(frames_of(ledger_dir / today)) == 3


def test_the_celery_task_moves_tiers_and_is_scheduled_hourly(ledger_dir, settings):
    moment = timezone.now() - timedelta(days=40)
    name = write_day(moment)
    partition_seal(name, now=moment + timedelta(days=1))
    write_day(timezone.now(), signals=1)

    summary = partitions_move_due_task.apply().get()

    assert [(entry["partition"], entry["action"]) for entry in summary] == [(name, "compressed"), (name, "archived")]
    assert (settings.LEDGER_ARCHIVE_DIR / name).is_dir()
    entry = beat_schedule()["ledger-tiers"]
    assert (entry["task"], entry["every_seconds"], entry["expires_seconds"]) == (
        "ledger.tasks.partitions_move_due",
        3600,
        3000,
    )


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("transition", [partition_compress, partition_archive], ids=["compress", "archive"])
@pytest.mark.parametrize(
    ("name", "message"),
    [("last-week", "not a partition name"), ("2026-10-01", "does not exist")],
    ids=["not-a-name", "no-such-partition"],
)
def test_a_name_that_is_no_partition_here_is_refused(ledger_dir, settings, transition, name, message):
    sealed_day(10)
    move_writer_on()

    with pytest.raises(TierRefused, match=message):
        transition(name, now=NOW)

    assert not settings.LEDGER_ARCHIVE_DIR.exists()


def test_a_sealed_partition_without_its_manifest_is_refused(ledger_dir):
    name = sealed_day(10)
    move_writer_on()
    (ledger_dir / name / "_manifest.json").unlink()
    before = snapshot(ledger_dir / name)

    with pytest.raises(TierRefused, match="has no _manifest.json"):
        partition_compress(name, now=NOW)

    assert snapshot(ledger_dir / name) == before


def test_a_manifest_without_sha256_checksums_is_refused(ledger_dir):
    """The original OMEN's manifests carry crc32 checksums: nothing to verify a gzip against."""
    name = sealed_day(10)
    move_writer_on()
    manifest_path = ledger_dir / name / "_manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())
    manifest["segments"][1]["checksum"] = "crc32:0badc0de"
    manifest_path.write_bytes(orjson.dumps(manifest))
    before = snapshot(ledger_dir / name)

    with pytest.raises(TierRefused, match="signals-002.wal has no sha256 checksum"):
        partition_compress(name, now=NOW)

    assert snapshot(ledger_dir / name) == before


def test_segments_on_disk_that_differ_from_the_manifest_are_refused(ledger_dir):
    name = sealed_day(10)
    move_writer_on()
    (ledger_dir / name / "signals-003.wal").unlink()
    before = snapshot(ledger_dir / name)

    with pytest.raises(TierRefused, match=r"segments on disk \['signals-001.wal', 'signals-002.wal'\] differ"):
        partition_compress(name, now=NOW)

    assert snapshot(ledger_dir / name) == before


def test_archive_refuses_an_unsealed_partition(ledger_dir, settings):
    name = write_day(NOW - timedelta(days=40))
    move_writer_on()
    before = snapshot(ledger_dir / name)

    with pytest.raises(TierRefused, match="not sealed"):
        partition_archive(name, now=NOW)

    assert snapshot(ledger_dir / name) == before
    assert not (settings.LEDGER_ARCHIVE_DIR / name).exists()


def test_archive_records_a_copy_whose_original_an_interrupted_run_already_removed(ledger_dir, settings):
    """A run that stopped between removing the original and recording the move: the copy is
    verified and recorded, not copied again."""
    name = sealed_day(40)
    move_writer_on()
    partition_compress(name, now=NOW)
    shutil.copytree(ledger_dir / name, settings.LEDGER_ARCHIVE_DIR / name)
    shutil.rmtree(ledger_dir / name)
    archived = snapshot(settings.LEDGER_ARCHIVE_DIR / name)

    result = partition_archive(name, now=NOW)

    assert (result.action, result.segments) == ("archived", 3)
    assert snapshot(settings.LEDGER_ARCHIVE_DIR / name) == archived
    assert LedgerPartition.objects.get(name=name).tier == Tier.COLD


def test_archive_refuses_a_copy_whose_original_is_gone_when_the_copy_does_not_verify(ledger_dir, settings):
    name = sealed_day(40)
    move_writer_on()
    partition_compress(name, now=NOW)
    destination = settings.LEDGER_ARCHIVE_DIR / name
    shutil.copytree(ledger_dir / name, destination)
    shutil.rmtree(ledger_dir / name)
    (destination / "signals-001.wal.gz").write_bytes(gzip.compress(b"not the sealed frames"))

    with pytest.raises(TierRefused, match=r"signals-001\.wal\.gz does not decompress"):
        partition_archive(name, now=NOW)

    assert LedgerPartition.objects.get(name=name).tier == Tier.WARM


def test_a_partition_whose_compression_was_refused_is_not_archived(ledger_dir, settings):
    """Due for both tiers, it keeps its raw segments: archiving waits for an operator."""
    broken = sealed_day(40)
    move_writer_on()
    edited = ledger_dir / broken / "signals-001.wal"
    edited.write_bytes(edited.read_bytes().replace(b"polymarket", b"polymarkeT", 1))

    results = partitions_move_due(now=NOW)

    assert [(result.partition, result.action) for result in results] == [(broken, "refused")]
    assert (ledger_dir / broken).is_dir()
    assert not (settings.LEDGER_ARCHIVE_DIR / broken).exists()


def test_archive_replaces_an_unfinished_copy_an_interrupted_run_left(ledger_dir, settings):
    """A copy under the hidden temporary name never became the archive: it is made again."""
    name = sealed_day(40)
    move_writer_on()
    partition_compress(name, now=NOW)
    leftover = settings.LEDGER_ARCHIVE_DIR / f".{name}.tmp"
    leftover.mkdir(parents=True)
    (leftover / "signals-001.wal.gz").write_bytes(b"half a copy")
    files = snapshot(ledger_dir / name)

    partition_archive(name, now=NOW)

    assert snapshot(settings.LEDGER_ARCHIVE_DIR / name) == files
    assert not leftover.exists()
