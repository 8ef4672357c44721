"""Sealing: a day that takes no more frames gets a manifest read back from its segments, and a marker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

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
