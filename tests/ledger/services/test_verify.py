"""``ledger verify`` finds every kind of damage to a sealed partition, at the right place."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import F, TextField
from django.db.models.functions import Cast
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ledger.models import LedgerPartition
from ledger.reading import ledger_segments, segment_data
from ledger.services.seal import partition_seal
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from ledger.wal import LedgerError, read_frames
from signals.models import Signal
from signals.public import DeletedSignal, signals_delete_identified
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


def committed_between_the_snapshots_reads(change):
    """Run ``change`` in a thread of its own (its own connection, its own transaction) after the
    snapshot has read one of the signals table and the outbox and before it reads the other: a
    sweep's batch or an ingest committing while verify reads the database (the writer's lock
    keeps out drains only)."""
    tables = ("signals_signal", "ledger_ledgeroutbox")
    read_first = []

    def wrapper(execute, sql, params, many, context):
        read = [table for table in tables if sql.lstrip().upper().startswith("SELECT") and f'FROM "{table}"' in sql]
        if read and not read_first:
            read_first.append(read[0])
        elif read and read[0] != read_first[0] and len(read_first) == 1:
            read_first.append("changed")
            worker = ThreadPoolExecutor(max_workers=1)
            worker.submit(lambda: (change(), connection.close())).result()  # raises what it raised
            worker.shutdown()
        return execute(sql, params, many, context)

    return connection.execute_wrapper(wrapper)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's reads in one transaction see one state (and its test database, in memory, takes "
    "no second writer while verify reads)",
)
@pytest.mark.parametrize("change", ["delete", "ingest"])
def test_saves_committed_while_verify_reads_the_database_are_not_problems(sealed_segment, settings, change):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"  # a drain would wait for verify's lock on the writer
    gone = list(Signal.objects.order_by("pk").values_list(*DeletedSignal._fields)[:2])

    def delete_or_ingest():
        if change == "delete":
            assert signals_delete_identified([DeletedSignal(*row) for row in gone]) == 2
        else:
            signals_ingest(records=RawEventFactory.build_batch(2))

    with committed_between_the_snapshots_reads(delete_or_ingest):
        report = ledger_verify(contents=True)

    assert report.ok, report.problems
    ledger_drain()
    assert ledger_verify(contents=True).ok


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
        "changed around the ledger",
        f"signal {tampered.signal_id}: column probability is {tampered.probability!r}, its contract says 0.99: "
        "it was changed around the ledger",
    ]
    with pytest.raises(CommandError):
        call_command("ledger", "verify", "--contents")


def test_contents_follow_updates_made_through_the_ledger(sealed_segment):
    from signals.models import Signal

    signal = Signal.objects.order_by("pk").first()
    signal.contract = {**signal.contract, "title": "Corrected"}
    signal.title = "Corrected"
    signal.save()
    ledger_drain()

    assert ledger_verify(contents=True).ok


# --------------------------------------------------------------------------- columns, the end, the writer


def verify_exit(*args: str) -> int:
    try:
        call_command("ledger", "verify", *args)
    except CommandError as exc:
        return exc.returncode
    return 0


def _other_choice(field: str, value: str) -> str:
    from signals.models import Signal

    return next(choice for choice, _ in Signal._meta.get_field(field).choices if choice != value)


COLUMN_EDITS = {
    "signal_id": lambda signal: signal.signal_id + "X",
    "title": lambda signal: signal.title + " (edited)",
    "probability": lambda signal: round(1 - signal.probability, 3) or 0.5,
    "confidence": lambda signal: round(1 - signal.confidence, 3) or 0.5,
    "status": lambda signal: _other_choice("status", signal.status),
    "signal_type": lambda signal: _other_choice("signal_type", signal.signal_type),
    "category": lambda signal: _other_choice("category", signal.category),
    "confidence_level": lambda signal: _other_choice("confidence_level", signal.confidence_level),
    "source": lambda signal: _other_choice("source", signal.source),
    "source_event_id": lambda signal: signal.source_event_id + "0",
    "input_event_hash": lambda signal: "0" * 64,
    "trace_id": lambda signal: "0" * 16,
    "ruleset_version": lambda signal: signal.ruleset_version + ".1",
    "observed_at": lambda signal: signal.observed_at - timedelta(seconds=1),
    "generated_at": lambda signal: signal.generated_at + timedelta(microseconds=1),
}


def test_every_column_that_copies_the_contract_is_checked():
    """A column added to SignalRow without an edit here would go untested."""
    from ledger.services.verify import _COPIED_COLUMNS

    assert set(_COPIED_COLUMNS) == set(COLUMN_EDITS)


@pytest.mark.parametrize("column", sorted(COLUMN_EDITS))
def test_an_sql_edit_of_a_copied_column_is_found_by_verify_contents_naming_signal_and_column(sealed_segment, column):
    from signals.models import Signal, SourceEvent

    tampered = Signal.objects.order_by("pk")[2]
    SourceEvent.objects.filter(latest_signal=tampered).update(latest_signal=None)  # it points by signal_id
    Signal.objects.filter(pk=tampered.pk).update(**{column: COLUMN_EDITS[column](tampered)})  # no receivers
    stored_id = Signal.objects.get(pk=tampered.pk).signal_id

    report = ledger_verify(contents=True)

    found = [problem for problem in report.problems if problem.what.startswith(f"column {column} is ")]
    assert [problem.where for problem in found] == [f"signal {stored_id}"], report.problems
    if column != "signal_id":  # a changed id is also a signal without a frame, and a frame without its signal
        assert len(report.problems) == 1, report.problems
    assert verify_exit("--contents") == 2


def test_an_edit_of_the_newest_frame_with_its_crc_recomputed_is_found_at_once(ledger_dir, settings):
    """Nothing is chained after the newest frame yet: only the recorded chain head can tell."""
    from ledger.wal import encode_frames

    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signals_ingest(records=RawEventFactory.build_batch(4))
    ledger_drain(now=DAY)
    (ref,) = ledger_segments(ledger_dir)
    data = ref.path.read_bytes()
    newest = read_frames(data).frames[-1]
    edited = newest.payload.replace(b'"probability":0.', b'"probability":1.', 1)
    assert edited != newest.payload and len(edited) == len(newest.payload)
    frame, _ = encode_frames([edited])
    ref.path.write_bytes(data[: newest.offset] + frame)
    assert read_frames(ref.path.read_bytes()).end.offset == len(data)  # CRC good: the frame reads clean

    report = ledger_verify()

    (problem,) = report.problems
    assert problem.where == f"2026-11-20/signals-001.wal@{newest.offset}"
    assert problem.what.startswith(f"the newest frame hashes to {hashlib.sha256(edited).hexdigest()[:12]}, but")
    assert "it was changed after it was written" in problem.what
    assert verify_exit() == 2


def test_a_recorded_end_that_is_not_a_frame_boundary_is_damage(ledger_dir, settings):
    from ledger.models import LedgerWriterState

    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signals_ingest(records=RawEventFactory.build_batch(3))
    ledger_drain(now=DAY)
    LedgerWriterState.objects.filter(pk=1).update(offset=F("offset") - 5)

    report = ledger_verify()

    assert any("which is not where a frame ends" in problem.what for problem in report.problems), report.problems
    assert verify_exit() == 2


def test_a_removed_middle_segment_is_named(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    settings.LEDGER_SEGMENT_MAX_FRAMES = 2
    signals_ingest(records=RawEventFactory.build_batch(6))
    ledger_drain(now=DAY)
    segments = ledger_segments(ledger_dir)
    assert [ref.ordinal for ref in segments] == [1, 2, 3]
    segments[1].path.unlink()

    report = ledger_verify()

    assert any(
        problem.where == "2026-11-20/signals-002.wal" and problem.what.startswith("segment missing")
        for problem in report.problems
    ), report.problems


def test_a_signal_deleted_around_the_ledger_is_named(sealed_segment):
    from signals.models import Signal, SourceEvent

    gone = Signal.objects.order_by("pk").first()
    SourceEvent.objects.filter(latest_signal=gone).update(latest_signal=None)
    Signal.objects.filter(pk=gone.pk)._raw_delete(Signal.objects.db)  # no receivers, no delete frame

    report = ledger_verify()

    assert [str(problem).split(" (created at")[0] for problem in report.problems] == [
        f"signal {gone.signal_id}: is framed"
    ]
    assert "deleted around the ledger" in report.problems[0].what


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a save between the snapshot's reads: PostgreSQL")
def test_a_signal_deleted_between_the_reads_and_restored_and_framed_while_verify_reads_the_files_is_no_problem(
    sealed_segment, settings, monkeypatch
):
    from ledger.public import signals_restore
    from ledger.services import verify

    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    first = Signal.objects.order_by("pk").first()
    identity = Signal.objects.filter(pk=first.pk).values_list(*DeletedSignal._fields).get()
    stored = Signal.objects.filter(pk=first.pk).values_list(Cast("contract", TextField()), "created_at", "pushed").get()
    take_snapshot = verify._database_snapshot

    def snapshot_then_restored():
        snapshot = take_snapshot()
        with transaction.atomic():  # as retention's restore calls it
            assert signals_restore([stored]) == 1  # back through the ledger, framed before the files are read
        ledger_drain()
        return snapshot

    monkeypatch.setattr(verify, "_database_snapshot", snapshot_then_restored)
    with committed_between_the_snapshots_reads(lambda: signals_delete_identified([DeletedSignal(*identity)])):
        report = ledger_verify()

    assert report.ok, report.problems


def test_a_bulk_delete_row_that_cannot_be_read_stops_verify_naming_it(sealed_segment):
    from ledger.models import LedgerOutbox

    bad = LedgerOutbox.objects.create(
        operation="delete",
        signal_pk=1,
        signal_id="OMEN-A",
        contract='{"deleted":true}\nnot json',
        saves=2,
        saved_at=DAY,
    )

    with pytest.raises(LedgerError, match=f"outbox row {bad.pk} holds a contract that cannot be read"):
        ledger_verify()


def test_a_signal_put_back_around_the_ledger_while_its_delete_waits_is_named(sealed_segment, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    gone = Signal.objects.order_by("pk").first()
    identity = Signal.objects.filter(pk=gone.pk).values_list(*DeletedSignal._fields).get()
    assert signals_delete_identified([DeletedSignal(*identity)]) == 1  # its delete waits
    Signal.objects.bulk_create([gone])  # back, by no path that tells the ledger

    report = ledger_verify()

    assert [problem.where for problem in report.problems] == [f"signal {gone.signal_id}"]
    assert "inserted around the ledger" in report.problems[0].what


def test_saves_waiting_longer_than_the_threshold_make_verify_exit_3(sealed_segment, settings):
    from ledger.models import LedgerOutbox

    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signals_ingest(records=RawEventFactory.build_batch(2))
    LedgerOutbox.objects.update(saved_at=F("saved_at") - timedelta(minutes=6))

    report = ledger_verify()

    assert report.ok and len(report.stalled) == 1
    assert "2 save(s) wait in the outbox, the oldest for 6 min" in report.stalled[0]
    assert verify_exit() == 3
    settings.LEDGER_STALL_AFTER_SECONDS = 3600
    assert verify_exit() == 0


def test_a_failed_last_drain_makes_verify_exit_3_until_a_drain_succeeds(sealed_segment):
    from ledger.models import LedgerWriterState

    LedgerWriterState.objects.filter(pk=1).update(last_error="ledger writer stalled: cannot write /x: disk full")

    assert verify_exit() == 3
    ledger_drain()
    assert verify_exit() == 0


def test_another_databases_frames_in_ledger_dir_make_verify_exit_3(ledger_dir, settings):
    """A second database shares LEDGER_DIR: its frames lie past this one's recorded end."""
    from ledger.models import LedgerFrameRef, LedgerOutbox, LedgerWriterState
    from signals.models import Signal, SourceEvent

    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signals_ingest(records=RawEventFactory.build_batch(3))
    ledger_drain(now=DAY)
    # This database forgets it ever wrote them (as a recreated database would).
    SourceEvent.objects.update(latest_signal=None)
    Signal.objects.all()._raw_delete(Signal.objects.db)
    LedgerOutbox.objects.all().delete()
    LedgerWriterState.objects.all().delete()
    LedgerFrameRef.objects.all().delete()

    report = ledger_verify()

    assert report.ok, report.problems
    assert report.foreign == 3
    assert "were not written for its outbox" in report.stalled[0]
    assert verify_exit() == 3
