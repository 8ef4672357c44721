"""The WAL's frame reader and segment writer at their edges: where a read starts, a writer that is
closed or given nothing, a segment shorter than recorded. Pure: no Django, no database.
(tests/ledger/test_wal.py holds the codec, the writer's failures and recovery.)"""

import io

import pytest

from ledger.wal import (
    FrameReader,
    LedgerCorruption,
    LedgerWriteError,
    OsFileIO,
    SegmentWriter,
    encode_frames,
    read_frames,
)

PAYLOADS = [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']


def test_a_reader_started_at_a_frame_boundary_reads_from_there():
    data, offsets = encode_frames(PAYLOADS)

    scan = FrameReader(io.BytesIO(data), start=offsets[1]).read_all()

    assert [frame.payload for frame in scan.frames] == PAYLOADS[1:]
    assert scan.good_size == len(data)


@pytest.mark.parametrize("start", [-1, 10_000])
def test_a_reader_refuses_to_start_outside_the_file(start):
    data, _ = encode_frames(PAYLOADS)

    with pytest.raises(ValueError, match="outside the file"):
        FrameReader(io.BytesIO(data), start=start)


def test_a_reader_that_reached_the_end_stays_there():
    data, _ = encode_frames(PAYLOADS)
    reader = FrameReader(io.BytesIO(data))
    with pytest.raises(RuntimeError, match="has not reached the end"):
        reader.end  # noqa: B018 -- the property raises before the end

    assert len(list(reader)) == 3
    assert list(reader) == []
    assert reader.end.offset == len(data)


def test_a_segment_shorter_than_its_recorded_size_is_refused(tmp_path):
    path = tmp_path / "signals-001.wal"
    data, _ = encode_frames(PAYLOADS)
    path.write_bytes(data)

    with pytest.raises(LedgerCorruption, match=f"shorter than its recorded {len(data) + 8} bytes") as caught:
        SegmentWriter(path, verified_size=len(data) + 8, verified_frames=4)

    assert caught.value.offset == len(data)


def test_a_writer_appends_after_a_verified_prefix_without_rereading_it(tmp_path):
    path = tmp_path / "signals-001.wal"
    data, offsets = encode_frames(PAYLOADS)
    path.write_bytes(data)

    writer = SegmentWriter(path, verified_size=offsets[2], verified_frames=2)
    try:
        assert (writer.size, writer.frame_count) == (len(data), 3)
        assert writer.append([]) == []  # nothing to write: no write, no fsync
        assert writer.append([b'{"n": 4}']) == [len(data)]
    finally:
        writer.close()

    assert [frame.payload for frame in read_frames(path.read_bytes()).frames] == [*PAYLOADS, b'{"n": 4}']


def test_a_closed_writer_refuses_to_append_and_closes_once(tmp_path):
    writer = SegmentWriter(tmp_path / "signals-001.wal")
    writer.close()
    writer.close()

    with pytest.raises(LedgerWriteError, match="writer is closed"):
        writer.append([b'{"n": 1}'])
    assert (tmp_path / "signals-001.wal").read_bytes() == b""


def test_the_file_layer_knows_only_append_and_create(tmp_path):
    with pytest.raises(ValueError, match="unknown mode 'truncate'"):
        OsFileIO().open(tmp_path / "signals-001.wal", "truncate")
    assert not (tmp_path / "signals-001.wal").exists()
