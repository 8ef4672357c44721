"""Reading a whole ledger in write order across tiers: hot and warm in LEDGER_DIR, cold in the archive,
long-term and purged partitions' tombstones in the long-term directory. Pure."""

import gzip

from ledger.layout import PartitionName, tombstone_path
from ledger.reading import is_tombstone, iter_segments, ledger_partitions, ledger_segments
from ledger.wal import encode_frame


def write_segment(directory, name: str, payloads: list[bytes], *, compressed: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = b"".join(encode_frame(payload) for payload in payloads)
    if compressed:
        (directory / f"{name}.gz").write_bytes(gzip.compress(data))
    else:
        (directory / name).write_bytes(data)


def test_the_ledger_is_read_partition_by_partition_across_the_archive_and_ledger_dir(tmp_path):
    root, archive = tmp_path / "ledger", tmp_path / "archive"
    write_segment(archive / "2026-10-01", "signals-001.wal", [b"cold"], compressed=True)
    write_segment(root / "2026-11-01", "signals-001.wal", [b"warm"], compressed=True)
    write_segment(root / "2026-11-20", "signals-001.wal", [b"hot 1", b"hot 2"])
    write_segment(root / "2026-11-20", "signals-002.wal", [b"hot 3"])

    reads = list(iter_segments(root, archive))

    assert [str(read.ref) for read in reads] == [
        "2026-10-01/signals-001.wal.gz", "2026-11-01/signals-001.wal.gz",
        "2026-11-20/signals-001.wal", "2026-11-20/signals-002.wal",
    ]  # fmt: skip
    assert [frame.payload for read in reads for frame in read.frames] == [
        b"cold",
        b"warm",
        b"hot 1",
        b"hot 2",
        b"hot 3",
    ]
    assert all(read.clean for read in reads)
    assert [read.ref.name for read in reads][:2] == ["signals-001.wal", "signals-001.wal"]  # as manifests list them


def test_a_partition_in_both_places_is_read_from_the_ledger_dir(tmp_path):
    """Archiving copies, verifies, then removes the original: until then the original is the one."""
    root, archive = tmp_path / "ledger", tmp_path / "archive"
    write_segment(root / "2026-10-01", "signals-001.wal", [b"original"], compressed=True)
    write_segment(archive / "2026-10-01", "signals-001.wal", [b"copy"], compressed=True)

    assert ledger_partitions(root, archive) == [(ledger_segments(root)[0].partition, root / "2026-10-01")]
    assert [frame.payload for read in iter_segments(root, archive) for frame in read.frames] == [b"original"]


def test_without_an_archive_only_the_ledger_dir_is_read(tmp_path):
    root = tmp_path / "ledger"
    write_segment(root / "2026-11-20", "signals-001.wal", [b"hot"])

    assert [str(read.ref) for read in iter_segments(root)] == ["2026-11-20/signals-001.wal"]
    assert list(iter_segments(tmp_path / "empty")) == []


def test_long_term_partitions_and_tombstones_take_their_place_in_write_order(tmp_path):
    """A partition in two places is read from the younger tier; a tombstone only stands for a
    partition whose directory is gone."""
    root, archive, long_term = tmp_path / "ledger", tmp_path / "archive", tmp_path / "long-term"
    write_segment(long_term / "2025-01-01", "signals-001.wal", [b"long-term"], compressed=True)
    write_segment(long_term / "2025-02-01", "signals-001.wal", [b"copy"], compressed=True)
    write_segment(archive / "2025-02-01", "signals-001.wal", [b"original"], compressed=True)
    write_segment(root / "2026-11-20", "signals-001.wal", [b"hot"])
    for purged in ("2024-12-01", "2025-01-01"):
        tombstone_path(long_term, purged).write_text("{}")

    listed = ledger_partitions(root, archive, long_term, tombstones=True)

    assert [(str(partition), path.relative_to(tmp_path).as_posix()) for partition, path in listed] == [
        ("2024-12-01", "long-term/2024-12-01.tombstone.json"),
        ("2025-01-01", "long-term/2025-01-01"),
        ("2025-02-01", "archive/2025-02-01"),
        ("2026-11-20", "ledger/2026-11-20"),
    ]
    assert [is_tombstone(path) for _, path in listed] == [True, False, False, False]
    assert ledger_partitions(root, archive, long_term)[0] == (
        PartitionName.parse("2025-01-01"),
        long_term / "2025-01-01",
    )
    payloads = [frame.payload for read in iter_segments(root, archive, long_term) for frame in read.frames]
    assert payloads == [b"long-term", b"original", b"hot"]
