"""Sealing: a day that takes no more frames gets a manifest read back from its segments, and a marker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.layout import MANIFEST_FILE, SEALED_FILE, list_segments
from ledger.models import LedgerPartition
from ledger.reading import ledger_segments, segment_data
from ledger.services.seal import SealRefused, partition_seal, partitions_seal_due
from ledger.services.verify import ledger_verify
from ledger.wal import LedgerCorruption, read_frames
from tests.support.ledger_days import frames_when_drained, write_day

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def small_segments(settings):
    frames_when_drained(settings)
    settings.LEDGER_SEAL_AFTER_HOURS = 2


def test_a_sealed_partition_has_a_manifest_that_matches_its_segments_and_a_marker(ledger_dir):
    name = write_day(DAY)

    result = partition_seal(name, now=DAY + timedelta(days=1))

    directory = ledger_dir / name
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    segments = list_segments(directory)
    assert (result.partition, result.frames) == (name, 7)
    assert [entry["file"] for entry in manifest["segments"]] == [path.name for path in segments]
    assert [entry["record_count"] for entry in manifest["segments"]] == [3, 3, 1]
    assert manifest["total_bytes"] == sum(path.stat().st_size for path in segments)
    frames = [frame for ref in ledger_segments(ledger_dir) for frame in read_frames(segment_data(ref.path)).frames]
    assert manifest["total_records"] == len(frames) == 7
    assert (directory / SEALED_FILE).read_text().strip() == manifest["sealed_at"]
    record = LedgerPartition.objects.get(name=name)
    assert (record.frames, record.bytes, record.chain_head) == (7, manifest["total_bytes"], manifest["chain_head"])
    assert record.first_sequence == manifest["first_sequence"] and record.last_sequence == manifest["last_sequence"]
    assert ledger_verify().ok


def test_frames_for_a_sealed_day_go_to_a_late_partition_and_the_sealed_one_is_untouched(ledger_dir):
    name = write_day(DAY)
    partition_seal(name, now=DAY, force=True)
    sealed = {path.name: path.read_bytes() for path in (ledger_dir / name).iterdir()}

    write_day(DAY + timedelta(hours=1), signals=2)

    assert {path.name: path.read_bytes() for path in (ledger_dir / name).iterdir()} == sealed
    assert len(read_frames(segment_data(list_segments(ledger_dir / f"{name}-late")[0])).frames) == 2


def test_todays_partition_is_sealed_only_when_forced(ledger_dir):
    name = write_day(DAY)

    with pytest.raises(SealRefused, match="still being written today"):
        partition_seal(name, now=DAY + timedelta(hours=3))

    assert partition_seal(name, now=DAY + timedelta(hours=3), force=True).frames == 7


@pytest.mark.parametrize(
    ("name", "message"),
    [("yesterday", "not a partition name"), ("2026-11-01", "does not exist")],
)
def test_a_name_that_is_no_partition_here_is_refused(ledger_dir, name, message):
    write_day(DAY)

    with pytest.raises(SealRefused, match=message):
        partition_seal(name, now=DAY + timedelta(days=1))


def test_a_partition_is_sealed_once(ledger_dir):
    name = write_day(DAY)
    partition_seal(name, now=DAY + timedelta(days=1))

    with pytest.raises(SealRefused, match="already sealed"):
        partition_seal(name, now=DAY + timedelta(days=2))


def test_a_partition_whose_frames_do_not_verify_is_refused_and_left_unsealed(ledger_dir):
    name = write_day(DAY)
    first = list_segments(ledger_dir / name)[0]
    data = bytearray(first.read_bytes())
    data[20] ^= 0xFF  # inside the first frame's payload: its CRC no longer matches
    first.write_bytes(bytes(data))

    with pytest.raises(LedgerCorruption) as caught:
        partition_seal(name, now=DAY + timedelta(days=1))

    assert caught.value.path == first
    assert not (ledger_dir / name / SEALED_FILE).exists()
    assert not (ledger_dir / name / MANIFEST_FILE).exists()
    assert not LedgerPartition.objects.filter(name=name).exists()


def test_due_partitions_are_those_whose_day_ended_the_configured_hours_ago(ledger_dir):
    two_days_ago = write_day(DAY - timedelta(days=2))
    yesterday = write_day(DAY - timedelta(days=1))
    write_day(DAY)

    early = partitions_seal_due(now=DAY.replace(hour=1))  # yesterday ended 1 h ago, under the 2 h
    late = partitions_seal_due(now=DAY.replace(hour=3))

    assert [result.partition for result in early] == [two_days_ago]
    assert [result.partition for result in late] == [yesterday]
    assert partitions_seal_due(now=DAY.replace(hour=4)) == []


def cut_frame(segment, index: int) -> int:
    """Remove one whole frame (header and payload) from a segment; return where it began."""
    data = segment.read_bytes()
    frame = read_frames(data).frames[index]
    segment.write_bytes(data[: frame.offset] + data[frame.end :])
    return frame.offset


def test_a_frame_cut_out_whole_breaks_the_chain_and_the_partition_is_refused(ledger_dir):
    """Every remaining frame has a good CRC: only the chain shows that one is missing."""
    name = write_day(DAY)
    first = list_segments(ledger_dir / name)[0]
    offset = cut_frame(first, 1)  # the frame after it now follows the first one

    with pytest.raises(LedgerCorruption, match="does not continue the chain") as caught:
        partition_seal(name, now=DAY + timedelta(days=1))

    assert (caught.value.path, caught.value.offset) == (first, offset)
    assert not (ledger_dir / name / SEALED_FILE).exists()
    assert not (ledger_dir / name / MANIFEST_FILE).exists()
    assert not LedgerPartition.objects.filter(name=name).exists()


def test_a_segment_removed_from_the_middle_breaks_the_chain_at_the_next_one(ledger_dir):
    """The chain runs across segments: the segment after a missing one does not continue it."""
    name = write_day(DAY)
    first, second, third = list_segments(ledger_dir / name)
    second.unlink()

    with pytest.raises(LedgerCorruption, match="does not continue the chain") as caught:
        partition_seal(name, now=DAY + timedelta(days=1))

    assert (caught.value.path, caught.value.offset) == (third, 0)
    assert not (ledger_dir / name / SEALED_FILE).exists()


def test_an_empty_segment_a_writer_left_is_sealed_with_no_frames(ledger_dir):
    """A writer that died right after creating its next segment: the segment is listed, empty."""
    name = write_day(DAY)
    (ledger_dir / name / "signals-004.wal").write_bytes(b"")

    result = partition_seal(name, now=DAY + timedelta(days=1))

    manifest = json.loads((ledger_dir / name / MANIFEST_FILE).read_text())
    assert result.frames == 7
    assert manifest["segments"][-1] == {
        "file": "signals-004.wal",
        "record_count": 0,
        "size_bytes": 0,
        "checksum": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "first_sequence": None,
        "last_sequence": None,
    }
    assert manifest["last_sequence"] == manifest["segments"][-2]["last_sequence"]
    assert ledger_verify().ok


def test_the_command_says_which_partitions_it_sealed_before_one_it_could_not(ledger_dir):
    """The fault probe's `ledger seal A B`, B refused: A was sealed, and the output said only that B failed."""
    name = write_day(DAY)
    out = StringIO()

    with pytest.raises(CommandError, match="partition 2026-11-21 does not exist"):
        call_command("ledger", "seal", name, "2026-11-21", stdout=out)

    assert out.getvalue().startswith(f"sealed {name}: 7 frames, ")
    assert (ledger_dir / name / SEALED_FILE).exists()


def test_the_command_says_which_due_partitions_it_sealed_before_one_it_could_not(ledger_dir):
    """`ledger seal` with no partition named: the due ones were all sealed before any was printed,
    so a damaged one later hid those sealed before it, as `ledger seal A B` did."""
    first = write_day(DAY)
    second = write_day(DAY + timedelta(days=1))
    segment = list_segments(ledger_dir / second)[-1]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a frame the CRC refuses
    segment.write_bytes(bytes(data))
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("ledger", "seal", stdout=out)

    assert out.getvalue().startswith(f"sealed {first}: 7 frames, ")
    assert (ledger_dir / first / SEALED_FILE).exists()
