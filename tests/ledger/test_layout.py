"""Where the ledger's files are: partition and segment names, and the order they are read in. Pure."""

from datetime import date

import pytest

from ledger.layout import (
    PartitionName,
    Tombstone,
    list_partitions,
    list_segments,
    list_tombstones,
    read_tombstone,
    segment_name,
    segment_ordinal,
    tombstone_path,
)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("2026-11-24", PartitionName(date(2026, 11, 24))),
        ("2026-11-24-late", PartitionName(date(2026, 11, 24), 1)),
        ("2026-11-24-late-2", PartitionName(date(2026, 11, 24), 2)),
    ],
)
def test_a_partition_name_reads_back_as_it_was_written(name, parsed):
    assert PartitionName.parse(name) == parsed
    assert str(parsed) == name


@pytest.mark.parametrize("name", ["2026-13-01", "2026-11-24-early", "yesterday", "2026-11-24/", "_CURRENT"])
def test_what_is_no_partition_name_parses_to_none(name):
    assert PartitionName.parse(name) is None


def test_partitions_are_ordered_as_they_are_written_and_other_entries_are_ignored(tmp_path):
    for name in ["2026-11-25", "2026-11-24-late-2", "2026-11-24", "2026-11-24-late", "_LOCK", "notes"]:
        (tmp_path / name).mkdir()
    (tmp_path / "2026-11-26").write_text("a file, not a partition")

    assert [str(p) for p in list_partitions(tmp_path)] == [
        "2026-11-24", "2026-11-24-late", "2026-11-24-late-2", "2026-11-25"
    ]  # fmt: skip
    assert list_partitions(tmp_path / "missing") == []


def test_segment_names_count_from_one():
    assert (segment_name(1), segment_name(1234)) == ("signals-001.wal", "signals-1234.wal")
    assert segment_ordinal("signals-012.wal.gz") == 12
    assert segment_ordinal("signals-01.wal") is None
    with pytest.raises(ValueError, match="start at 1"):
        segment_name(0)


def test_a_segment_both_raw_and_compressed_is_read_from_the_raw_original(tmp_path):
    """Compression stopped between putting the verified .gz in place and removing the raw file."""
    for name in ["signals-002.wal.gz", "signals-001.wal.gz", "signals-002.wal", "signals-010.wal", "_CURRENT"]:
        (tmp_path / name).write_bytes(b"")

    assert [path.name for path in list_segments(tmp_path)] == [
        "signals-001.wal.gz",
        "signals-002.wal",
        "signals-010.wal",
    ]
    assert list_segments(tmp_path / "missing") == []


def test_a_tombstone_reads_back_as_it_was_written_and_is_listed_in_write_order(tmp_path):
    tombstone = Tombstone(
        PartitionName(date(2019, 1, 2), 1), 7, 900, 4294967297, 8589934595, "0" * 64, "a" * 64, "b" * 64,
        "2019-01-03T02:00:00.000000Z", "2026-01-03T04:00:00.000000Z", ("OMEN-1", "OMEN-2"),
    )  # fmt: skip
    for partition in (tombstone.partition, PartitionName(date(2019, 1, 2))):
        tombstone_path(tmp_path, partition).write_bytes(tombstone.to_json())
    (tmp_path / "notes.tombstone.json").write_text("not a partition's")

    assert read_tombstone(tombstone_path(tmp_path, "2019-01-02-late")) == tombstone
    assert [str(p) for p in list_tombstones(tmp_path)] == ["2019-01-02", "2019-01-02-late"]
    assert list_partitions(tmp_path) == [] and list_tombstones(tmp_path / "missing") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not JSON"),
        (b'{"partition": "2019-01-02"}', "expected the fields"),
        (b"[]", "expected the fields"),
    ],
)
def test_what_a_purge_did_not_write_is_no_tombstone(tmp_path, data, message):
    path = tmp_path / "2019-01-02.tombstone.json"
    path.write_bytes(data)

    with pytest.raises(ValueError, match=message):
        read_tombstone(path)
