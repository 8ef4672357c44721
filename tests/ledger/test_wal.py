"""The WAL codec, segment writer and recovery (pure: no Django, no database)."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.wal import (
    HEADER_SIZE,
    MAX_FRAME_BYTES,
    CleanEnd,
    Corruption,
    FrameFault,
    FrameReader,
    LedgerCorruption,
    LedgerNeedsRecovery,
    LedgerWriteError,
    Scan,
    SegmentWriter,
    TornTail,
    encode_frame,
    encode_frames,
    ledger_sequence,
    read_frames,
    recover,
    split_ledger_sequence,
)
from tests.support.fake_io import PowerLoss, PowerLossIO


def envelope(index: int, ordinal: int = 1) -> bytes:
    return orjson.dumps(
        {
            "schema_version": "1.0.0",
            "signal_id": f"OMEN-{index:08d}",
            "ledger_partition": "2024-05-01",
            "ledger_sequence": ledger_sequence(ordinal, index),
            "signal": {"probability": 0.25 + index / 10_000, "title": "Will it rain?"},
        }
    )


def segment(count: int) -> tuple[bytes, list[int], list[bytes]]:
    payloads = [envelope(i) for i in range(1, count + 1)]
    data, offsets = encode_frames(payloads)
    return data, offsets, payloads


def payloads_of(scan: Scan) -> list[bytes]:
    return [frame.payload for frame in scan.frames]


def sequences_of(scan: Scan) -> list[int]:
    return [orjson.loads(frame.payload)["ledger_sequence"] for frame in scan.frames]


def peak_allocation(fn, *args, **kwargs):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def reader_scan(data: bytes) -> Scan:
    return FrameReader(io.BytesIO(data)).read_all()


# --------------------------------------------------------------------------- the format


def test_frames_round_trip_with_offsets_lengths_and_crcs():
    data, offsets, payloads = segment(5)

    scan = read_frames(data)

    assert payloads_of(scan) == payloads
    assert [frame.offset for frame in scan.frames] == offsets
    assert [frame.length for frame in scan.frames] == [len(p) for p in payloads]
    assert [frame.crc for frame in scan.frames] == [zlib.crc32(p) for p in payloads]
    assert scan.end == CleanEnd(len(data))
    assert reader_scan(data) == scan


def test_first_frame_of_signals_001_has_sequence_4294967297_and_it_splits_back():
    assert ledger_sequence(1, 1) == 4294967297
    assert split_ledger_sequence(4294967297) == (1, 1)
    assert ledger_sequence(3, 10_000) == (3 << 32) + 10_000
    assert split_ledger_sequence(ledger_sequence(999, 2**32 - 1)) == (999, 2**32 - 1)


@pytest.mark.parametrize("ordinal, index", [(0, 1), (1, 0), (2**32, 1), (1, 2**32), (-1, 1)])
def test_ledger_sequence_refuses_parts_that_do_not_fit(ordinal, index):
    with pytest.raises(ValueError):
        ledger_sequence(ordinal, index)


@pytest.mark.parametrize("sequence", [0, 5, 1 << 32, 2**64])
def test_split_refuses_values_that_are_not_sequences(sequence):
    with pytest.raises(ValueError):
        split_ledger_sequence(sequence)


def test_a_frame_written_by_hand_like_the_original_omen_decodes():
    body = json.dumps({"schema_version": "1.0.0", "signal_id": "OMEN-X", "ledger_sequence": 4294967297}).encode()
    handmade = struct.pack(">I", len(body)) + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + body

    scan = read_frames(handmade + handmade)

    assert encode_frame(body) == handmade
    assert [json.loads(frame.payload)["ledger_sequence"] for frame in scan.frames] == [4294967297, 4294967297]
    assert [frame.offset for frame in scan.frames] == [0, len(handmade)]
    assert scan.end == CleanEnd(2 * len(handmade))


def test_encode_refuses_an_empty_payload_and_one_above_the_cap():
    with pytest.raises(ValueError):
        encode_frame(b"")
    with pytest.raises(ValueError):
        encode_frame(b"x" * (MAX_FRAME_BYTES + 1))
    assert len(encode_frame(b"x" * MAX_FRAME_BYTES)) == MAX_FRAME_BYTES + HEADER_SIZE


def test_read_frames_starts_at_the_given_offset():
    data, offsets, payloads = segment(4)

    scan = read_frames(data, start=offsets[2])

    assert payloads_of(scan) == payloads[2:]
    with pytest.raises(ValueError):
        read_frames(data, start=len(data) + 1)


def test_an_empty_segment_is_a_clean_end():
    assert read_frames(b"") == Scan((), CleanEnd(0))
    assert reader_scan(b"") == Scan((), CleanEnd(0))


# --------------------------------------------------------------------------- damage in the middle


def test_every_flipped_byte_in_a_middle_frame_is_corruption_at_that_frame():
    data, offsets, payloads = segment(3)
    for position in range(offsets[1], offsets[2]):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF

        scan = read_frames(bytes(damaged))

        assert payloads_of(scan) == payloads[:1], position
        assert isinstance(scan.end, Corruption), position
        assert scan.end.offset == offsets[1], position
        assert scan.end.resumes_at == offsets[2], position
        assert reader_scan(bytes(damaged)) == scan, position


def test_a_flipped_payload_byte_is_reported_as_a_crc_mismatch():
    data, offsets, _ = segment(3)
    damaged = bytearray(data)
    damaged[offsets[1] + HEADER_SIZE + 5] ^= 0x01

    assert read_frames(bytes(damaged)).end == Corruption(offsets[1], FrameFault.CRC_MISMATCH, offsets[2])


def test_a_whole_removed_frame_still_decodes_and_only_the_sequences_show_the_gap():
    # The codec cannot see a cleanly removed frame; the envelope's sequence / prev_hash chain does.
    data, offsets, payloads = segment(3)
    removed = data[: offsets[1]] + data[offsets[2] :]

    scan = read_frames(removed)

    assert scan.end == CleanEnd(len(removed))
    assert [frame.offset for frame in scan.frames] == [0, offsets[1]]
    assert sequences_of(scan) == [ledger_sequence(1, 1), ledger_sequence(1, 3)]


def test_bytes_removed_inside_a_middle_frame_are_corruption_at_that_frame():
    data, offsets, payloads = segment(3)
    cut = offsets[1] + HEADER_SIZE + 10
    damaged = data[:cut] + data[cut + 7 :]

    scan = read_frames(damaged)

    assert payloads_of(scan) == payloads[:1]
    assert scan.end == Corruption(offsets[1], FrameFault.CRC_MISMATCH, offsets[2] - 7)


def test_two_swapped_frames_both_decode_at_their_new_offsets():
    # Reordering is invisible to CRCs; the sequence / prev_hash chain (not this codec) detects it.
    data, offsets, payloads = segment(3)
    second, third = data[offsets[1] : offsets[2]], data[offsets[2] :]
    swapped = data[: offsets[1]] + third + second

    scan = read_frames(swapped)

    assert scan.end == CleanEnd(len(swapped))
    assert payloads_of(scan) == [payloads[0], payloads[2], payloads[1]]
    assert [frame.offset for frame in scan.frames] == [0, offsets[1], offsets[1] + len(third)]
    assert sequences_of(scan) == [ledger_sequence(1, 1), ledger_sequence(1, 3), ledger_sequence(1, 2)]


@pytest.mark.parametrize("length", [MAX_FRAME_BYTES + 1, 0x7FFFFFFF, 0xFFFFFFFF])
@pytest.mark.parametrize("followed_by_frames", [True, False])
def test_a_length_above_the_cap_is_corruption_and_allocates_nothing_from_it(length, followed_by_frames):
    data, offsets, payloads = segment(3)
    bad = struct.pack(">II", length, 0) + b"garbage"
    damaged = data[: offsets[1]] + bad + (data[offsets[1] :] if followed_by_frames else b"")

    scan, peak = peak_allocation(read_frames, damaged)
    streamed, streamed_peak = peak_allocation(reader_scan, damaged)

    assert payloads_of(scan) == payloads[:1]
    assert isinstance(scan.end, Corruption)
    assert (scan.end.offset, scan.end.reason) == (offsets[1], FrameFault.LENGTH_OVER_CAP)
    assert scan.end.resumes_at == (offsets[1] + len(bad) if followed_by_frames else None)
    assert streamed == scan
    assert peak < 64 * 1024 and streamed_peak < 64 * 1024


def test_a_length_beyond_the_bytes_left_in_the_middle_is_corruption_without_allocating_it():
    data, offsets, payloads = segment(3)
    damaged = bytearray(data)
    claimed = len(data) - offsets[1] + 1_000_000  # under the cap, beyond the end
    struct.pack_into(">I", damaged, offsets[1], claimed)

    scan, peak = peak_allocation(read_frames, bytes(damaged))

    assert payloads_of(scan) == payloads[:1]
    assert scan.end == Corruption(offsets[1], FrameFault.SHORT_PAYLOAD, offsets[2])
    assert reader_scan(bytes(damaged)) == scan
    assert peak < claimed // 4


def test_a_length_beyond_the_bytes_left_on_the_last_frame_is_a_torn_tail():
    data, offsets, payloads = segment(3)
    damaged = bytearray(data)
    struct.pack_into(">I", damaged, offsets[2], 5_000_000)

    scan, peak = peak_allocation(read_frames, bytes(damaged))

    assert payloads_of(scan) == payloads[:2]
    assert scan.end == TornTail(offsets[2], FrameFault.SHORT_PAYLOAD, len(data) - offsets[2])
    assert peak < 1_000_000


def test_a_crc_bad_frame_followed_by_a_valid_one_after_garbage_is_corruption():
    # OMEN's defect: appends landed after a torn write; the frames after it must not be truncated away.
    data, offsets, payloads = segment(2)
    torn_then_appended = data[: offsets[1] + 20] + encode_frame(envelope(3))

    scan = read_frames(torn_then_appended)

    assert scan.end == Corruption(offsets[1], FrameFault.CRC_MISMATCH, offsets[1] + 20)


def test_frame_reader_reads_a_real_file(tmp_path):
    data, offsets, payloads = segment(4)
    path = tmp_path / "signals-001.wal"
    path.write_bytes(data[:-3])

    with path.open("rb") as file:
        reader = FrameReader(file)
        with pytest.raises(RuntimeError):
            _ = reader.end
        frames = list(reader)

    assert [frame.payload for frame in frames] == payloads[:3]
    assert reader.end == TornTail(offsets[3], FrameFault.SHORT_PAYLOAD, len(data) - 3 - offsets[3])


# --------------------------------------------------------------------------- torn tails and recovery


def test_the_last_frame_torn_at_every_byte_is_recovered_to_the_previous_frame(tmp_path):
    data, offsets, payloads = segment(3)
    last = data[offsets[2] :]
    for keep in range(1, len(last)):
        path = tmp_path / f"cut-{keep}" / "signals-001.wal"
        path.parent.mkdir()
        path.write_bytes(data[: offsets[2]] + last[:keep])

        result = recover(path)

        expected_reason = FrameFault.SHORT_HEADER if keep < HEADER_SIZE else FrameFault.SHORT_PAYLOAD
        assert result.action == "truncated"
        assert result.torn == TornTail(offsets[2], expected_reason, keep)
        assert result.aside == path.with_suffix(f".wal.torn-{offsets[2]}")
        assert result.aside.read_bytes() == last[:keep]
        assert path.read_bytes() == data[: offsets[2]]
        assert (result.frames, result.size) == (2, offsets[2])
        assert read_frames(path.read_bytes()).end == CleanEnd(offsets[2])


def test_a_crc_mismatch_on_the_last_frame_is_a_torn_tail_that_recovery_truncates(tmp_path):
    data, offsets, payloads = segment(3)
    damaged = bytearray(data)
    damaged[-2] ^= 0x20
    path = tmp_path / "signals-001.wal"
    path.write_bytes(bytes(damaged))

    result = recover(path)

    assert result.torn == TornTail(offsets[2], FrameFault.CRC_MISMATCH, len(data) - offsets[2])
    assert path.read_bytes() == data[: offsets[2]]
    assert result.aside.read_bytes() == bytes(damaged[offsets[2] :])


def test_a_partial_frame_followed_by_zeros_is_a_torn_tail(tmp_path):
    data, offsets, _ = segment(3)
    path = tmp_path / "signals-001.wal"
    path.write_bytes(data[: offsets[2] + 11] + b"\0" * 4096)

    result = recover(path)

    assert result.torn is not None and result.torn.offset == offsets[2]
    assert path.read_bytes() == data[: offsets[2]]


def test_recover_leaves_a_clean_segment_alone(tmp_path):
    data, _, _ = segment(3)
    path = tmp_path / "signals-001.wal"
    path.write_bytes(data)

    result = recover(path)

    assert (result.action, result.frames, result.size, result.aside) == ("clean", 3, len(data), None)
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signals-001.wal"]


def test_recover_refuses_corruption_in_the_middle_and_does_not_touch_the_file(tmp_path):
    data, offsets, _ = segment(3)
    damaged = bytearray(data)
    damaged[offsets[1] + HEADER_SIZE] ^= 0xFF
    path = tmp_path / "signals-001.wal"
    path.write_bytes(bytes(damaged))

    with pytest.raises(LedgerCorruption) as caught:
        recover(path)

    assert (caught.value.path, caught.value.offset) == (path, offsets[1])
    assert "crc_mismatch" in caught.value.reason
    assert path.read_bytes() == bytes(damaged)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signals-001.wal"]


def test_a_second_tear_at_the_same_offset_keeps_the_first_torn_copy(tmp_path):
    data, offsets, _ = segment(2)
    path = tmp_path / "signals-001.wal"
    path.write_bytes(data + b"\x00\x00\x00\x30first")
    first = recover(path)
    path.write_bytes(data + b"\x00\x00\x00\x30second")

    second = recover(path)

    assert first.aside.read_bytes() == b"\x00\x00\x00\x30first"
    assert second.aside != first.aside
    assert second.aside.read_bytes() == b"\x00\x00\x00\x30second"
    assert path.read_bytes() == data


def test_recovery_on_a_full_disk_leaves_no_copy_behind_and_succeeds_once_space_is_back():
    """1,000 recoveries on a full disk: each fails with ENOSPC, no torn copy piles up, and the
    first one with space back copies the tail and cuts it (the wedge found by a fault probe)."""
    fake = PowerLossIO()
    path = Path("/ledger/2024-05-01/signals-001.wal")
    data, offsets, _ = segment(2)
    with SegmentWriter(path, io=fake) as writer:
        writer.append([envelope(1), envelope(2)])
    fake.files[path].content += b"\x00\x00\x01\x00torn"
    fake.free_bytes = 3  # room for part of the copy, not all of it

    for _ in range(1000):
        with pytest.raises(OSError, match="No space left"):
            recover(path, io=fake)
        assert sorted(p.name for p in fake.files) == [path.name]
    fake.free_bytes = 1 << 20

    result = recover(path, io=fake)

    assert result.aside == path.with_suffix(f".wal.torn-{len(data)}")
    assert fake.read(result.aside) == b"\x00\x00\x01\x00torn"
    assert fake.read(path) == data


def test_a_copy_left_incomplete_by_a_crash_is_completed_in_place_not_beside(tmp_path):
    data, offsets, _ = segment(2)
    tail = b"\x00\x00\x00\x30cut short"
    path = tmp_path / "signals-001.wal"
    path.write_bytes(data + tail)
    incomplete = path.with_suffix(f".wal.torn-{len(data)}")
    incomplete.write_bytes(tail[:5])

    result = recover(path)

    assert result.aside == incomplete
    assert incomplete.read_bytes() == tail
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, incomplete.name]


def test_recovery_syncs_the_copy_before_truncating_and_syncs_the_directory():
    fake = PowerLossIO()
    path = Path("/ledger/2024-05-01/signals-001.wal")
    data, offsets, _ = segment(2)
    writer = SegmentWriter(path, io=fake)
    writer.append([envelope(1), envelope(2)])
    fake.files[path].content += b"\x00\x00\x01\x00torn"  # an unsynced torn append

    result = recover(path, io=fake)
    calls = fake.calls[fake.calls.index(("open", result.aside.name)) :]

    assert calls == [
        ("open", result.aside.name),
        ("write", result.aside.name),
        ("fsync", result.aside.name),
        ("fsync_dir", "2024-05-01"),
        ("open", path.name),
        ("truncate", path.name),
        ("fsync", path.name),
        ("fsync_dir", "2024-05-01"),
    ]
    fake.crash()
    assert fake.read(path) == data
    assert fake.read(result.aside) == b"\x00\x00\x01\x00torn"


# --------------------------------------------------------------------------- the writer


def test_append_is_one_write_and_one_fsync_and_returns_the_offsets(tmp_path):
    fake = PowerLossIO()
    path = tmp_path / "signals-001.wal"
    payloads = [envelope(i) for i in range(1, 101)]

    with SegmentWriter(path, io=fake) as writer:
        fake.calls.clear()
        offsets = writer.append(payloads)

    assert fake.calls == [("write", path.name), ("fsync", path.name)]
    scan = read_frames(fake.read(path))
    assert [frame.offset for frame in scan.frames] == offsets
    assert payloads_of(scan) == payloads
    assert (writer.frame_count, writer.size) == (100, len(fake.read(path)))


def test_a_reopened_writer_continues_offsets_and_frame_count_on_a_real_file(tmp_path):
    path = tmp_path / "signals-001.wal"
    with SegmentWriter(path) as writer:
        first = writer.append([envelope(1), envelope(2)])
    with SegmentWriter(path) as writer:
        assert writer.frame_count == 2
        second = writer.append([envelope(3)])

    scan = read_frames(path.read_bytes())
    assert [frame.offset for frame in scan.frames] == first + second
    assert sequences_of(scan) == [ledger_sequence(1, i) for i in (1, 2, 3)]


def test_the_writer_refuses_to_open_a_segment_with_a_torn_tail_or_corruption(tmp_path):
    data, offsets, _ = segment(3)
    torn = tmp_path / "torn.wal"
    torn.write_bytes(data[:-1])
    corrupt = tmp_path / "corrupt.wal"
    corrupt.write_bytes(data[: offsets[1]] + b"\xff" + data[offsets[1] + 1 :])

    with pytest.raises(LedgerNeedsRecovery) as needs:
        SegmentWriter(torn)
    with pytest.raises(LedgerCorruption) as corruption:
        SegmentWriter(corrupt)

    assert needs.value.offset == offsets[2]
    assert corruption.value.offset == offsets[1]
    assert torn.read_bytes() == data[:-1]
    recover(torn)
    with SegmentWriter(torn) as writer:
        assert writer.append([envelope(3)]) == [offsets[2]]


def test_a_failed_fsync_raises_and_the_writer_refuses_every_further_append():
    fake = PowerLossIO()
    path = Path("/ledger/signals-001.wal")
    writer = SegmentWriter(path, io=fake)
    writer.append([envelope(1)])
    fake.fail_fsync = OSError(5, "EIO")

    with pytest.raises(LedgerWriteError):
        writer.append([envelope(2)])
    fake.calls.clear()
    with pytest.raises(LedgerWriteError):
        writer.append([envelope(3)])

    assert writer.failed
    assert fake.calls == []  # no retry, not even a write


def test_a_torn_write_raises_and_recovery_removes_its_remains():
    fake = PowerLossIO()
    path = Path("/ledger/signals-001.wal")
    writer = SegmentWriter(path, io=fake)
    kept = writer.append([envelope(1), envelope(2)])
    fake.tear_next_write_at = 30

    with pytest.raises(LedgerWriteError):
        writer.append([envelope(3), envelope(4)])
    with pytest.raises(LedgerWriteError):
        writer.append([envelope(5)])

    result = recover(path, io=fake)
    assert result.torn.offset == writer.size and result.torn.torn_bytes == 30
    assert [frame.offset for frame in read_frames(fake.read(path)).frames] == kept


def test_an_invalid_payload_is_refused_before_any_io_and_the_writer_stays_usable():
    fake = PowerLossIO()
    writer = SegmentWriter(Path("/ledger/signals-001.wal"), io=fake)
    fake.calls.clear()

    with pytest.raises(ValueError):
        writer.append([envelope(1), b""])

    assert fake.calls == []
    assert writer.append([envelope(1)]) == [0]


def test_a_new_segment_survives_a_crash_after_its_first_acknowledged_append():
    fake = PowerLossIO()
    path = Path("/ledger/2024-05-01/signals-002.wal")
    SegmentWriter(path, io=fake).append([envelope(1, ordinal=2)])

    fake.crash()

    assert sequences_of(read_frames(fake.read(path))) == [ledger_sequence(2, 1)]


# --------------------------------------------------------------------------- power loss


batches_strategy = st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    batches=batches_strategy,
    crash_batch=st.integers(min_value=0, max_value=6),
    keep=st.integers(min_value=0, max_value=2_000),
    zero_fill=st.sampled_from([0, 0, 3, 512]),
    failed_fsync_first=st.booleans(),
)
def test_after_power_loss_recovery_keeps_every_acknowledged_frame(
    batches, crash_batch, keep, zero_fill, failed_fsync_first
):
    fake = PowerLossIO()
    path = Path("/ledger/2024-05-01/signals-001.wal")
    writer = SegmentWriter(path, io=fake)
    acknowledged: list[bytes] = []
    in_flight: list[bytes] = []
    index = 0
    for number, size in enumerate(batches):
        batch = [envelope(index + i + 1) for i in range(size)]
        index += size
        if number == crash_batch:
            if failed_fsync_first:
                fake.fail_fsync = OSError(5, "EIO")  # the writer stops; the power goes later
                with pytest.raises(LedgerWriteError):
                    writer.append(batch)
            else:
                fake.power_loss_at_fsync = True
                with pytest.raises(PowerLoss):
                    writer.append(batch)
            in_flight = batch
            break
        writer.append(batch)
        acknowledged += batch

    fake.crash(tear={path: keep}, zero_fill=zero_fill)
    recover(path, io=fake)
    survivors = payloads_of(read_frames(fake.read(path)))

    assert survivors[: len(acknowledged)] == acknowledged
    assert survivors == acknowledged + in_flight[: len(survivors) - len(acknowledged)]
    assert read_frames(fake.read(path)).end == CleanEnd(len(fake.read(path)))
    with SegmentWriter(path, io=fake) as resumed:  # appending resumes after recovery
        resumed.append([envelope(999)])
    assert payloads_of(read_frames(fake.read(path)))[-1] == envelope(999)


# --------------------------------------------------------------------------- properties of the reader


def crafted_headers():
    """Headers whose lengths hit the interesting ranges, with random CRCs and bodies."""
    return st.builds(
        lambda length, crc, body: struct.pack(">II", length, crc) + body,
        st.one_of(
            st.integers(0, 64),
            st.integers(MAX_FRAME_BYTES - 2, MAX_FRAME_BYTES + 2),
            st.integers(0, 2**32 - 1),
        ),
        st.integers(0, 2**32 - 1),
        st.binary(max_size=64),
    )


arbitrary_data = st.one_of(
    st.binary(max_size=512),
    st.lists(
        st.one_of(
            st.binary(max_size=32), crafted_headers(), st.builds(encode_frame, st.binary(min_size=1, max_size=40))
        ),
        max_size=8,
    ).map(b"".join),
)


def check_scan_invariants(data: bytes, scan: Scan, start: int = 0) -> None:
    assert isinstance(scan.end, CleanEnd | TornTail | Corruption)
    position = start
    for frame in scan.frames:
        assert frame.offset == position
        assert 1 <= frame.length <= min(MAX_FRAME_BYTES, len(data))
        assert frame.payload == data[frame.offset + HEADER_SIZE : frame.end]
        assert zlib.crc32(frame.payload) == frame.crc
        position = frame.end
    assert scan.end.offset == position
    if isinstance(scan.end, CleanEnd):
        assert position == len(data)
    elif isinstance(scan.end, TornTail):
        assert scan.end.torn_bytes == len(data) - position > 0
    else:
        assert scan.end.resumes_at is None or position < scan.end.resumes_at < len(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=arbitrary_data)
def test_read_frames_on_arbitrary_bytes_returns_a_typed_end_and_allocates_within_the_data(data):
    scan, peak = peak_allocation(read_frames, data)

    check_scan_invariants(data, scan)
    # Payload copies can total len(data); nothing may be sized from an unverified length.
    assert peak <= 2 * len(data) + 32 * 1024
    assert reader_scan(data) == scan


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=64), max_size=6),
    garbage=st.one_of(st.binary(max_size=64), crafted_headers()),
)
def test_valid_frames_followed_by_garbage_return_the_valid_prefix(payloads, garbage):
    valid, _ = encode_frames(payloads)

    scan = read_frames(valid + garbage)

    check_scan_invariants(valid + garbage, scan)
    assert payloads_of(scan)[: len(payloads)] == payloads
    assert scan.end.offset >= len(valid)
    if not garbage:
        assert scan.end == CleanEnd(len(valid))
    elif b"\x00" not in garbage and b"\x01" not in garbage:  # no frame can start inside it
        assert len(scan.frames) == len(payloads)
        if len(garbage) < HEADER_SIZE:
            assert scan.end == TornTail(len(valid), FrameFault.SHORT_HEADER, len(garbage))
        else:  # its first four bytes read as a length of at least 0x02020202
            assert scan.end == Corruption(len(valid), FrameFault.LENGTH_OVER_CAP, None)
