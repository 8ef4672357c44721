"""The writer: every committed save becomes exactly one chained frame, whatever interrupts it."""

import os
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext

from ledger.envelope import GENESIS_HASH, format_timestamp, payload_hash, read_head
from ledger.layout import read_current
from ledger.models import LedgerOutbox, LedgerWriterState
from ledger.reading import ledger_segments, segment_data
from ledger.receivers import signals_bulk_saved
from ledger.selectors import writer_health
from ledger.services import writer
from ledger.services.committed import forget_committed, remember_committed, take_committed
from ledger.services.seal import partition_seal
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain, locked_ledger
from ledger.wal import HEADER_SIZE, LedgerCorruption, LedgerWriteError, encode_frame, ledger_sequence, read_frames
from signals.announcements import DeletedSignal, SavedSignal, signals_bulk_created
from signals.models import Signal
from signals.services.ingest import signals_ingest
from signals.services.rows import signals_delete_announced, signals_delete_identified
from tests.support.factories import RawEventFactory

pytestmark = pytest.mark.django_db(transaction=True)


def ingest(count: int, **kwargs) -> None:
    signals_ingest(records=RawEventFactory.build_batch(count), **kwargs)


def frames(root: Path) -> list:
    """(segment, frame, head) for every frame, in ledger order."""
    return [
        (ref, frame, read_head(frame.payload))
        for ref in ledger_segments(root)
        for frame in read_frames(segment_data(ref.path)).frames
    ]


def assert_ledger_matches_database(root: Path) -> None:
    found = frames(root)
    live = Counter(head.signal_id for _, _, head in found if head.operation == "create")
    live.subtract(head.signal_id for _, _, head in found if head.operation == "delete")
    assert sorted(+live) == sorted(Signal.objects.values_list("signal_id", flat=True))
    assert set(live.values()) <= {0, 1}
    # A save is framed once: (outbox row, signal), as a bulk delete's row holds several.
    assert len({(head.outbox_id, head.signal_id) for _, _, head in found}) == len(found)
    report = ledger_verify()
    assert report.ok, report.problems


def test_a_bulk_ingest_leaves_one_chained_frame_per_signal(ledger_dir):
    ingest(25, batch_size=10)

    found = frames(ledger_dir)
    assert len(found) == Signal.objects.count() == 25
    assert found[0][2].prev_hash == GENESIS_HASH
    for (_, before, _), (_, _, head) in zip(found, found[1:], strict=False):
        assert head.prev_hash == payload_hash(before.payload)
    assert [head.ledger_sequence for _, _, head in found] == [ledger_sequence(1, i) for i in range(1, 26)]
    assert not LedgerOutbox.objects.exists()
    assert_ledger_matches_database(ledger_dir)


@pytest.mark.parametrize(("batch_size", "rounds"), [(10, 1), (2, 3), (5, 2)])
def test_a_drain_stops_at_its_first_batch_that_is_not_full(ledger_dir, settings, batch_size, rounds):
    """Another round would be a transaction only to find the outbox empty (and a WAL flush on
    PostgreSQL); a full last batch still needs the round that finds nothing."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(5)

    with CaptureQueriesContext(connection) as captured:
        result = ledger_drain(batch_size=batch_size)

    outbox_reads = [query for query in captured if "ORDER BY id LIMIT" in query["sql"]]
    assert len(outbox_reads) == rounds
    assert (result.frames, result.batches) == (5, -(-5 // batch_size))
    assert_ledger_matches_database(ledger_dir)


def test_rows_committed_while_a_drain_framed_its_last_batch_are_framed_by_it(ledger_dir, settings, monkeypatch):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(5)
    check = writer._outbox_has_rows
    committed_meanwhile = []

    def another_process_commits_first():
        if not committed_meanwhile:  # after the first batch's commit, before the drain looks again
            ingest(3)
            committed_meanwhile.append(3)
        return check()

    monkeypatch.setattr(writer, "_outbox_has_rows", another_process_commits_first)

    result = ledger_drain(batch_size=10)

    assert (result.frames, result.batches) == (8, 2)
    assert not LedgerOutbox.objects.exists()
    assert_ledger_matches_database(ledger_dir)


def test_the_frame_holds_the_stored_contract_byte_for_byte(ledger_dir):
    ingest(1)

    (_, frame, head), *_ = frames(ledger_dir)
    envelope = orjson.loads(frame.payload)
    signal = Signal.objects.get()
    stored = Signal.objects.filter(pk=signal.pk).values_list("contract", flat=True)
    assert orjson.dumps(envelope["signal"], option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        signal.contract, option=orjson.OPT_SORT_KEYS
    )
    assert envelope["schema_version"] == "1.2.0"
    assert envelope["deterministic_trace_id"] == signal.trace_id
    assert envelope["ledger_partition"] == frame_partition(ledger_dir)
    assert envelope["observed_at"].endswith("Z") and envelope["ledger_written_at"].endswith("Z")
    assert stored  # the row is there


def frame_partition(root: Path) -> str:
    (ref, _, _), *_ = frames(root)
    return str(ref.partition)


def test_a_rolled_back_transaction_leaves_no_frame(ledger_dir):
    with pytest.raises(RuntimeError), transaction.atomic():
        ingest(3)
        raise RuntimeError("the caller changed its mind")

    ledger_drain()
    assert Signal.objects.count() == 0
    assert not LedgerOutbox.objects.exists()
    assert frames(ledger_dir) == []


def test_row_saves_updates_and_deletes_are_framed(ledger_dir):
    ingest(2)
    signal = Signal.objects.order_by("pk").first()

    signal.title = "Edited by an operator"
    signal.contract = {**signal.contract, "title": "Edited by an operator"}
    signal.save()
    signal.delete()

    operations = [(head.operation, head.signal_id) for _, _, head in frames(ledger_dir)]
    assert operations[-2:] == [("update", signal.signal_id), ("delete", signal.signal_id)]
    update, delete = (orjson.loads(frame.payload) for _, frame, _ in frames(ledger_dir)[-2:])
    assert update["signal"]["title"] == "Edited by an operator"
    # The delete names the signal; its contents are in the frames before it.
    assert delete["signal"] == {
        "deleted": True,
        "signal_id": signal.signal_id,
        "trace_id": signal.trace_id,
        "input_event_hash": signal.input_event_hash,
        "source_event_id": signal.source_event_id,
        "ruleset_version": signal.ruleset_version,
        "observed_at": update["observed_at"],
    }
    assert delete["deterministic_trace_id"] == signal.trace_id
    assert_ledger_matches_database(ledger_dir)


def test_a_signal_created_and_deleted_before_the_writer_ran_is_framed_twice_in_order(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(1)
    Signal.objects.get().delete()

    ledger_drain()

    assert [head.operation for _, _, head in frames(ledger_dir)] == ["create", "delete"]
    assert ledger_verify().ok


def test_a_bulk_delete_before_the_writer_ran_frames_the_create_whole_and_the_delete_as_a_record(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(3)
    gone, kept = list(Signal.objects.order_by("pk")[:2]), Signal.objects.order_by("pk").last()
    created = {signal.signal_id: signal.contract for signal in gone}

    assert signals_delete_announced([signal.pk for signal in gone]) == 2
    ledger_drain()

    written = [orjson.loads(frame.payload) for _, frame, _ in frames(ledger_dir)]
    assert [(e["operation"], e["signal_id"]) for e in written][-2:] == [
        ("delete", gone[0].signal_id),
        ("delete", gone[1].signal_id),
    ]
    creates = {e["signal_id"]: e["signal"] for e in written if e["operation"] == "create"}
    assert creates.keys() == {*created, kept.signal_id}
    assert all(creates[signal_id] == contract for signal_id, contract in created.items())
    assert all(e["signal"]["deleted"] is True and "title" not in e["signal"] for e in written[-2:])
    assert ledger_verify(contents=True).ok


def test_a_bulk_delete_by_known_identities_announces_only_what_it_deleted(ledger_dir, settings):
    # The sweep read these identities with the archive; one signal is deleted meanwhile by an
    # operator (its own delete frame). The batch must not frame that signal's delete again.
    ingest(3)
    identities = [
        DeletedSignal(*row) for row in Signal.objects.order_by("pk").values_list("pk", *DeletedSignal._fields[1:])
    ]
    Signal.objects.get(pk=identities[1].pk).delete()

    assert signals_delete_identified(identities) == 2

    assert not Signal.objects.exists()
    deletes = Counter(head.signal_id for _, _, head in frames(ledger_dir) if head.operation == "delete")
    assert deletes == Counter(identity.signal_id for identity in identities)
    assert ledger_verify(contents=True).ok


def test_a_bulk_delete_by_known_identities_leaves_a_row_made_since_under_the_same_id(ledger_dir, settings):
    # Between the sweep's read and its batch, a signal is deleted and put back (as a restore
    # does): a new row under the same signal id, with a create frame of its own.
    ingest(2)
    identities = [
        DeletedSignal(*row) for row in Signal.objects.order_by("pk").values_list("pk", *DeletedSignal._fields[1:])
    ]
    again = Signal.objects.get(pk=identities[0].pk)
    again.delete()
    again.pk = None
    again.save()
    assert again.pk != identities[0].pk

    assert signals_delete_identified(identities) == 1

    assert list(Signal.objects.values_list("pk", flat=True)) == [again.pk]
    assert_ledger_matches_database(ledger_dir)


def test_a_create_framed_after_its_signal_changed_keeps_the_contract_it_was_created_with(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"  # the writer runs only after the edit
    ingest(1)
    signal = Signal.objects.get()
    original = signal.contract
    signal.contract = {**original, "title": "Edited by an operator"}
    signal.save()

    ledger_drain()

    (_, create, create_head), (_, update, update_head) = frames(ledger_dir)
    assert (create_head.operation, update_head.operation) == ("create", "update")
    assert orjson.loads(create.payload)["signal"] == original
    assert orjson.loads(update.payload)["signal"]["title"] == "Edited by an operator"
    assert orjson.loads(create.payload)["emitted_at"] == format_timestamp(signal.created_at)
    assert ledger_verify().ok


def test_segments_rotate_by_frame_count_and_current_names_the_newest(ledger_dir, settings):
    settings.LEDGER_SEGMENT_MAX_FRAMES = 4

    ingest(10, batch_size=3)

    refs = ledger_segments(ledger_dir)
    assert [ref.path.name for ref in refs] == ["signals-001.wal", "signals-002.wal", "signals-003.wal"]
    assert [len(read_frames(segment_data(ref.path)).frames) for ref in refs] == [4, 4, 2]
    assert read_current(refs[0].path.parent) == "signals-003.wal"
    assert [head.ledger_sequence for _, _, head in frames(ledger_dir)][4] == ledger_sequence(2, 1)
    assert_ledger_matches_database(ledger_dir)


def test_segments_rotate_by_size(ledger_dir, settings):
    settings.LEDGER_SEGMENT_MAX_BYTES = 1  # every frame fills a segment

    ingest(3)

    assert len(ledger_segments(ledger_dir)) == 3
    assert_ledger_matches_database(ledger_dir)


def test_the_partition_is_the_utc_date_of_the_write_and_never_goes_back(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(1)
    ledger_drain(now=datetime(2026, 11, 20, 23, 59, tzinfo=UTC))
    ingest(1)
    ledger_drain(now=datetime(2026, 11, 19, 12, 0, tzinfo=UTC))  # a clock that stepped back

    assert [str(ref.partition) for ref, _, _ in frames(ledger_dir)] == ["2026-11-20", "2026-11-20"]
    assert_ledger_matches_database(ledger_dir)


def test_frames_for_a_sealed_day_go_to_a_late_partition(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    day = datetime(2026, 11, 20, 12, tzinfo=UTC)
    ingest(2)
    ledger_drain(now=day)
    partition_seal("2026-11-20", now=day, force=True)
    sealed = {p: p.read_bytes() for p in (ledger_dir / "2026-11-20").iterdir()}

    ingest(1)
    ledger_drain(now=day + timedelta(minutes=5))
    partition_seal("2026-11-20-late", now=day, force=True)
    ingest(1)
    ledger_drain(now=day + timedelta(minutes=10))

    assert [str(ref.partition) for ref, _, _ in frames(ledger_dir)] == [
        "2026-11-20", "2026-11-20", "2026-11-20-late", "2026-11-20-late-2"
    ]  # fmt: skip
    assert {p: p.read_bytes() for p in (ledger_dir / "2026-11-20").iterdir()} == sealed
    assert_ledger_matches_database(ledger_dir)


def test_a_run_that_died_after_its_fsync_is_recorded_not_written_twice(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(5)

    # The append reaches the disk, then the transaction never commits (the process "dies").
    with pytest.raises(RuntimeError), locked_ledger() as (state, end):
        rows = writer._pending_rows(100)
        writer._append_batch(end, rows, datetime.now(UTC))
        raise RuntimeError("killed before commit")
    assert LedgerOutbox.objects.count() == 5
    assert len(frames(ledger_dir)) == 5
    before_drain = ledger_verify()  # past the recorded end: counted and noted, the next drain's to record
    assert before_drain.ok and (before_drain.unrecorded, before_drain.pending) == (5, 5)

    result = ledger_drain()

    assert (result.adopted, result.frames) == (5, 0)
    assert len(frames(ledger_dir)) == 5
    assert_ledger_matches_database(ledger_dir)


def test_a_failed_fsync_marks_nothing_and_the_next_run_decides_from_the_disk(ledger_dir, settings, monkeypatch):
    ingest(1)  # the segment exists and its writer is open: the next append only writes and fsyncs
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(4)
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd):  # the append's fsync fails once; the disk answers again after
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(LedgerWriteError):
        ledger_drain()
    monkeypatch.setattr(os, "fsync", real_fsync)

    assert len(calls) == 2  # the failed one, then the one that made the cut durable
    assert LedgerOutbox.objects.count() == 4
    state = LedgerWriterState.objects.get()
    assert state.frames_written == 1
    segment = ledger_dir / state.partition / state.segment
    assert segment.stat().st_size == state.offset  # the unproven append was cut
    result = ledger_drain()  # rewritten from the outbox, not adopted from the page cache
    assert (result.adopted, result.frames) == (0, 4)
    assert_ledger_matches_database(ledger_dir)


def test_a_torn_tail_is_copied_aside_and_appending_resumes(ledger_dir):
    ingest(3)
    (ref, last, _) = frames(ledger_dir)[-1]
    with open(ref.path, "ab") as segment:
        segment.write(encode_frame(last.payload)[: HEADER_SIZE + 40])  # a cut write: header, part of a payload
    torn_size = ref.path.stat().st_size

    ingest(2)

    aside = list(ref.path.parent.glob("signals-001.wal.torn-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == torn_size - last.end
    assert len(frames(ledger_dir)) == 5
    assert_ledger_matches_database(ledger_dir)


def test_damage_to_recorded_frames_stops_the_writer_with_its_location(ledger_dir, settings):
    ingest(3)
    ref, middle, _ = frames(ledger_dir)[1]
    data = bytearray(ref.path.read_bytes())
    data[middle.offset + HEADER_SIZE + 5] ^= 0xFF
    ref.path.write_bytes(bytes(data))
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(1)
    writer._open_segment = None  # a restarted process: it reads the segment before appending

    with pytest.raises(LedgerCorruption) as error:
        ledger_drain()

    assert str(ref.path) in str(error.value) and f"offset {middle.offset}" in str(error.value)
    assert LedgerOutbox.objects.count() == 1  # nothing marked
    assert ref.path.read_bytes() == bytes(data)  # nothing cut, nothing appended


def test_damage_a_power_loss_left_past_the_recorded_end_is_cut_and_rewritten(ledger_dir, settings):
    ingest(2)
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(4)
    # A run appended four frames and died before committing; the disk kept a hole in them.
    with pytest.raises(RuntimeError), locked_ledger() as (state, end):
        writer._append_batch(end, writer._pending_rows(100), datetime.now(UTC))
        raise RuntimeError("power lost before the commit")
    ref, hole, _ = frames(ledger_dir)[3]
    data = bytearray(ref.path.read_bytes())
    data[hole.offset + HEADER_SIZE : hole.end] = bytes(hole.end - hole.offset - HEADER_SIZE)
    ref.path.write_bytes(bytes(data))

    result = ledger_drain()

    assert (result.adopted, result.frames) == (1, 3)  # the frame before the hole stays; the rest is rewritten
    assert len(result.truncated) == 1 and "damaged" in result.truncated[0]
    assert list(ref.path.parent.glob("signals-001.wal.torn-*"))
    assert_ledger_matches_database(ledger_dir)


def test_a_bulk_delete_is_one_outbox_row_framed_as_one_delete_frame_per_signal(ledger_dir, settings):
    ingest(3)
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    gone = list(Signal.objects.order_by("pk").values_list("pk", "signal_id"))

    signals_delete_announced([pk for pk, _ in gone])

    (row,) = LedgerOutbox.objects.all()
    assert (row.operation, row.saves, row.signal_id) == ("delete", 3, gone[0][1])
    assert writer_health().pending == 3
    assert ledger_drain().frames == 3
    deletes = [head for _, _, head in frames(ledger_dir) if head.operation == "delete"]
    assert [(head.outbox_id, head.signal_id) for head in deletes] == [(row.pk, signal_id) for _, signal_id in gone]
    assert_ledger_matches_database(ledger_dir)


def dead_run(when: str) -> None:
    """A drain that appended its batch and died before its commit."""
    with pytest.raises(RuntimeError), locked_ledger() as (state, end):
        writer._append_batch(end, writer._pending_rows(100), datetime.now(UTC))
        raise RuntimeError(f"power lost {when}")


@pytest.mark.parametrize("whole", [2, 3])
def test_a_bulk_delete_a_dead_run_framed_in_part_keeps_the_rest_for_the_next_batch(ledger_dir, settings, whole):
    ingest(4)
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    gone = list(Signal.objects.order_by("pk").values_list("signal_id", flat=True))
    signals_delete_announced(list(Signal.objects.order_by("pk").values_list("pk", flat=True)))
    # The disk kept the first delete frames whole and tore the next.
    dead_run("before the commit")
    ref, torn, _ = frames(ledger_dir)[4 + whole]
    with ref.path.open("r+b") as segment:
        segment.truncate(torn.offset + HEADER_SIZE + 10)

    with locked_ledger():  # adoption alone, as seal or a tier task runs it: nothing framed after
        pass

    (row,) = LedgerOutbox.objects.all()
    assert (row.saves, row.signal_id) == (4 - whole, gone[whole])
    assert [orjson.loads(record)["signal_id"] for record in row.contract.split("\n")] == gone[whole:]
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.pending == 4 - whole
    dead_run("again")  # and the rest is appended by a run that dies too: adopted whole
    assert (ledger_drain().adopted, LedgerOutbox.objects.count()) == (4 - whole, 0)
    deletes = [head.signal_id for _, _, head in frames(ledger_dir) if head.operation == "delete"]
    assert deletes == gone
    assert_ledger_matches_database(ledger_dir)


def test_frames_of_another_database_are_never_adopted(ledger_dir, settings):
    ingest(3)
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    LedgerWriterState.objects.all().delete()  # this database now knows no ledger: a new or restored one
    ingest(2)

    with pytest.raises(LedgerCorruption, match="ledger replay"):
        ledger_drain()

    assert LedgerOutbox.objects.count() == 2  # its own saves still wait, none lost


def test_verify_names_a_signal_saved_around_the_ledger_and_one_deleted_around_it(ledger_dir):
    ingest(2)
    signals_bulk_created.disconnect(dispatch_uid="ledger.signals_bulk_created")
    try:
        ingest(1)  # a bulk path that forgot its outbox rows
    finally:
        signals_bulk_created.connect(signals_bulk_saved, dispatch_uid="ledger.signals_bulk_created")
    unframed = Signal.objects.order_by("-pk").first()
    gone = Signal.objects.order_by("pk").first()
    with connection.cursor() as cursor:  # a delete that fires no post_delete
        cursor.execute("UPDATE signals_sourceevent SET latest_signal_id = NULL")
        cursor.execute("DELETE FROM signals_signal WHERE id = %s", [gone.pk])

    report = ledger_verify()

    problems = [str(problem) for problem in report.problems]
    assert any(unframed.signal_id in p and "no create frame" in p for p in problems), problems
    assert any(
        p.startswith(f"signal {gone.signal_id}: is framed") and "missing from the database" in p for p in problems
    ), problems
    with pytest.raises(CommandError, match="problem"):
        call_command("ledger", "verify")


def test_verify_takes_a_delete_waiting_in_the_outbox_for_what_it_is(ledger_dir, settings):
    # A sweep's batch committed, its drain not yet run: the signals are gone from the table and
    # their deletes wait to be framed. That is a writer behind, not a delete around the ledger.
    ingest(3)
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    Signal.objects.order_by("pk").first().delete()
    signals_delete_announced(list(Signal.objects.values_list("pk", flat=True)))

    report = ledger_verify()

    assert report.ok, report.problems
    assert (report.pending, report.signals) == (3, 0)


def test_verify_still_names_a_delete_around_the_ledger_beside_a_delete_waiting_in_the_outbox(ledger_dir, settings):
    ingest(2)
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    waiting, around = Signal.objects.order_by("pk")
    waiting.delete()  # its delete waits in the outbox; then it is put back, its create waiting too
    waiting.pk = None
    waiting.save()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE signals_sourceevent SET latest_signal_id = NULL")
        cursor.execute("DELETE FROM signals_signal WHERE id = %s", [around.pk])

    problems = [str(problem) for problem in ledger_verify().problems]

    assert any(p.startswith(f"signal {around.signal_id}: is framed") for p in problems), problems
    assert not any(waiting.signal_id in p for p in problems), problems


def test_frames_built_from_what_ingest_announced_match_the_stored_rows_exactly(ledger_dir):
    ingest(5)  # inline drain: framed from the announced rows, not read back

    stored = {
        signal_id: (contract, observed_at, created_at)
        for signal_id, contract, observed_at, created_at in Signal.objects.values_list(
            "signal_id", Cast("contract", output_field=TextField()), "observed_at", "created_at"
        )
    }
    for _, frame, head in frames(ledger_dir):
        contract, observed_at, created_at = stored[head.signal_id]
        envelope = orjson.loads(frame.payload)
        assert frame.payload.endswith(b',"signal":' + contract.encode() + b"}")  # the stored text itself
        assert envelope["observed_at"] == format_timestamp(observed_at)
        assert envelope["emitted_at"] == format_timestamp(created_at)


def test_a_remembered_signal_is_used_only_for_the_row_it_was_saved_as():
    saved = SavedSignal(
        7, "OMEN-AAAAAAAAAAAA", "t", "h", "polymarket-1", "r", datetime.now(UTC), datetime.now(UTC), "{}"
    )
    remember_committed([saved])

    assert take_committed(7, "OMEN-BBBBBBBBBBBB") is None  # pk reused by another signal: read the row
    remember_committed([saved])
    assert take_committed(7, "OMEN-AAAAAAAAAAAA") == saved
    assert take_committed(7, "OMEN-AAAAAAAAAAAA") is None  # used once
    remember_committed([saved])
    forget_committed()
    assert take_committed(7, "OMEN-AAAAAAAAAAAA") is None


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="another connection holding the row lock: PostgreSQL (SQLite's IMMEDIATE lock is the database's)",
)
def test_a_writer_that_cannot_get_the_lock_says_so_and_marks_nothing(ledger_dir, settings):
    import psycopg

    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    settings.LEDGER_LOCK_TIMEOUT_SECONDS = 0.5
    ledger_drain()  # the state row exists
    ingest(2)
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]) as other:
        other.execute("SELECT * FROM ledger_ledgerwriterstate WHERE id = 1 FOR UPDATE")  # another writer's run

        assert ledger_drain(wait=False).busy
        assert ledger_drain().busy  # waited its lock timeout, then left the rows to the periodic drain
        with pytest.raises(CommandError, match="another process holds the ledger writer's lock"):
            call_command("ledger", "seal", "--force", "2026-11-20")

    assert LedgerOutbox.objects.count() == 2
    assert ledger_drain().frames == 2


# --------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path, settings):
    """LEDGER_DIR on a 512 KiB tmpfs of its own, so the test can fill it for real."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the fake-I/O test in test_wal.py remains"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    settings.LEDGER_DIR = mount_point / "ledger"
    yield mount_point
    writer._open_segment = None  # the writer keeps its segment open between runs
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(mount_point: Path) -> Path:
    filler = mount_point / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # full
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_with_a_torn_tail_stalls_the_writer_and_space_back_is_all_it_needs(small_disk, settings):
    """The fault probe's wedge: each failed drain used to leave a 0-byte torn copy, and after
    1,000 of them the writer refused for good. Now nothing piles up, each failure is one
    sentence recorded for verify (exit 3), and the first drain with space back catches up."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    ingest(3)
    ledger_drain()
    ingest(5)  # saves that wait in the outbox while the disk is full
    (segment,) = [ref.path for ref in ledger_segments(settings.LEDGER_DIR)]
    with segment.open("ab") as file:
        file.write(b"\x00\x00\x01\x00a torn append")  # a run that died mid-write
    filler = fill(small_disk)

    for attempt in range(1000):
        with pytest.raises(writer.LedgerStorageError) as failed:
            ledger_drain()
        if attempt == 0:
            message = str(failed.value)
            assert "\n" not in message
            assert "No space left on device (errno 28); free space on the file system that holds it" in message
            assert str(segment.parent) in message
    assert sorted(path.name for path in segment.parent.iterdir() if ".torn-" in path.name) == []
    assert LedgerOutbox.objects.count() == 5
    assert "No space left on device" in LedgerWriterState.objects.get().last_error
    with pytest.raises(CommandError) as drained:
        call_command("ledger", "drain")
    assert drained.value.returncode == 3 and "\n" not in str(drained.value)
    with pytest.raises(CommandError) as verified:
        call_command("ledger", "verify")
    assert verified.value.returncode == 3

    filler.unlink()
    result = ledger_drain()

    assert (result.frames, len(result.truncated)) == (5, 1)
    assert len([path for path in segment.parent.iterdir() if ".torn-" in path.name]) == 1
    assert LedgerOutbox.objects.count() == 0
    assert LedgerWriterState.objects.get().last_error == ""
    call_command("ledger", "verify")  # exits 0
    assert_ledger_matches_database(settings.LEDGER_DIR)
