"""``ledger verify`` finds every kind of damage to a sealed partition, at the right place."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ledger.models import LedgerPartition
from ledger.reading import ledger_segments, segment_data
from ledger.services.seal import partition_seal
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from ledger.wal import read_frames
from signals.services.ingest import signals_ingest
from tests.support.factories import RawEventFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def sealed_segment(ledger_dir, settings):
    """A partition of six frames, sealed; returns its segment and the frames' (offset, end)."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signals_ingest(records=RawEventFactory.build_batch(6))
    ledger_drain(now=DAY)
    partition_seal("2026-11-20", now=DAY + timedelta(days=1))
    (ref,) = ledger_segments(ledger_dir)
    frames = read_frames(segment_data(ref.path)).frames
    return ref.path, [(frame.offset, frame.end) for frame in frames]


def problems_at(where: str) -> list[str]:
    report = ledger_verify()
    assert not report.ok
    return [problem.what for problem in report.problems if problem.where == where]


def test_an_untouched_sealed_ledger_verifies_and_records_it(sealed_segment):
    report = ledger_verify()

    assert report.ok, report.problems
    assert (report.partitions, report.segments, report.frames, report.signals) == (1, 1, 6, 6)
    assert LedgerPartition.objects.get(name="2026-11-20").verified_at is not None
    call_command("ledger", "verify")  # exits 0


def test_a_flipped_byte_is_reported_at_its_frame(sealed_segment):
    path, frames = sealed_segment
    data = bytearray(path.read_bytes())
    offset, end = frames[2]
    data[end - 10] ^= 0x01
    path.write_bytes(bytes(data))

    assert any("crc" in what for what in problems_at(f"2026-11-20/signals-001.wal@{offset}"))
    assert any("does not match its manifest" in what for what in problems_at("2026-11-20/signals-001.wal"))
    with pytest.raises(CommandError):
        call_command("ledger", "verify")


def test_a_removed_frame_is_reported_where_it_was(sealed_segment):
    path, frames = sealed_segment
    data = path.read_bytes()
    offset, end = frames[2]
    path.write_bytes(data[:offset] + data[end:])

    found = problems_at(f"2026-11-20/signals-001.wal@{offset}")
    assert any("prev_hash" in what for what in found) and any("ledger_sequence" in what for what in found)
    with pytest.raises(CommandError):
        call_command("ledger", "verify", "--no-reconcile")


def test_two_swapped_frames_are_reported_at_the_first_of_them(sealed_segment):
    path, frames = sealed_segment
    data = path.read_bytes()
    (start, middle), (_, end) = frames[2], frames[3]
    path.write_bytes(data[:start] + data[middle:end] + data[start:middle] + data[end:])

    found = problems_at(f"2026-11-20/signals-001.wal@{start}")
    assert any("prev_hash" in what for what in found), found
    assert not problems_at(f"2026-11-20/signals-001.wal@{frames[1][0]}")  # the frames before are fine
    with pytest.raises(CommandError):
        call_command("ledger", "verify")


def test_a_frame_appended_after_sealing_is_reported(sealed_segment):
    path, frames = sealed_segment
    data = path.read_bytes()
    offset, end = frames[-1]
    path.write_bytes(data + data[offset:end])

    assert any("does not match its manifest" in what for what in problems_at("2026-11-20/signals-001.wal"))


def test_any_damage_to_a_sealed_segment_is_reported_never_raised(sealed_segment):
    path, _ = sealed_segment
    original = path.read_bytes()

    @given(st.data())
    @hypothesis_settings(max_examples=40, deadline=None, database=None)
    def damaged(data):
        damage = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, len(original) - 1))
        if damage == "flip":
            mutated = bytearray(original)
            mutated[at] ^= data.draw(st.integers(1, 255))
        elif damage == "cut":
            mutated = original[:at] + original[at + data.draw(st.integers(1, 64)) :]
        else:
            mutated = original[:at] + data.draw(st.binary(min_size=1, max_size=64)) + original[at:]
        path.write_bytes(bytes(mutated))
        try:
            assert not ledger_verify(reconcile=False).ok
        finally:
            path.write_bytes(original)

    damaged()
    assert ledger_verify().ok


def test_saves_committed_while_verify_reads_the_files_are_counted_not_reported(sealed_segment, monkeypatch):
    from ledger.services import verify

    take_snapshot = verify._database_snapshot

    def snapshot_then_more_saves():
        snapshot = take_snapshot()
        signals_ingest(records=RawEventFactory.build_batch(3))  # committed and drained meanwhile
        ledger_drain()
        return snapshot

    monkeypatch.setattr(verify, "_database_snapshot", snapshot_then_more_saves)
    report = ledger_verify()

    assert report.ok, report.problems
    assert (report.signals, report.unrecorded, report.frames) == (6, 3, 9)


def test_a_torn_write_past_the_recorded_end_is_a_note_for_the_writer_not_a_problem(ledger_dir, settings):
    signals_ingest(records=RawEventFactory.build_batch(2))
    ledger_drain(now=DAY)
    (ref,) = ledger_segments(ledger_dir)
    with open(ref.path, "ab") as segment:
        segment.write(b"\x00\x00\x10\x00half a frame")  # a run died mid-write

    report = ledger_verify()

    assert report.ok, report.problems
    assert any("torn tail" in note for note in report.notes)
    assert not ledger_verify(reconcile=False).ok  # without the database's end it cannot tell: reported


def test_contents_finds_a_contract_rewritten_around_the_ledger(sealed_segment):
    from signals.models import Signal

    tampered = Signal.objects.order_by("pk").first()
    Signal.objects.filter(pk=tampered.pk).update(contract={**tampered.contract, "probability": 0.99})  # no receivers

    assert ledger_verify().ok  # existence only: every signal still has its frame
    report = ledger_verify(contents=True)

    assert [str(problem) for problem in report.problems] == [
        f"signal {tampered.signal_id}: its stored contract differs from the one its latest frame holds: it was "
        "changed around the ledger"
    ]
    with pytest.raises(CommandError):
        call_command("ledger", "verify", "--contents")


def test_contents_follow_updates_made_through_the_ledger(sealed_segment):
    from signals.models import Signal

    signal = Signal.objects.order_by("pk").first()
    signal.contract = {**signal.contract, "title": "Corrected"}
    signal.save()
    ledger_drain()

    assert ledger_verify(contents=True).ok
