"""ledger_replay: an empty database rebuilt from the ledger matches the one that wrote it."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection, transaction

from ledger.envelope import GENESIS_HASH, build_payload, payload_hash, read_head
from ledger.models import LedgerOutbox, LedgerWriterState
from ledger.reading import ledger_segments, read_segment
from ledger.services.replay import ReplayRefused, ledger_replay
from ledger.services.seal import partition_seal
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from ledger.wal import LedgerCorruption, encode_frame, ledger_sequence, read_frames
from signals.models import ProbabilityPoint, Signal, SourceEvent
from signals.services.ingest import signals_ingest
from signals.sources.registry import SOURCES
from tests.support.factories import LedgerOutboxFactory, RawEventFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY_1 = datetime(2026, 2, 7, 12, tzinfo=UTC)
DAY_2 = datetime(2026, 2, 8, 12, tzinfo=UTC)
STATE_FIELDS = ("partition", "segment", "offset", "segment_frames", "last_sequence", "chain_head", "frames_written")


@pytest.fixture
def ledgered(recorded_dir, settings):
    """Signals whose ledger the writer wrote over two days and several segments, with an update,
    a delete and a signal deleted then made again; the first day sealed and one segment gzipped."""
    settings.LEDGER_DRAIN_ON_COMMIT = "off"  # drained below, on the days chosen
    settings.LEDGER_SEGMENT_MAX_FRAMES = 4
    payload = json.loads((recorded_dir / "polymarket_gamma_markets_active_part1.json").read_text())
    signals_ingest(records=SOURCES["polymarket"].parser(payload, fetched_at=DAY_1))
    first = RawEventFactory.build_batch(5)
    signals_ingest(records=first)
    ledger_drain(now=DAY_1)

    signals_ingest(records=RawEventFactory.build_batch(4))
    updated = Signal.objects.order_by("id")[1]
    updated.status = "RESOLVED"
    updated.contract = {**updated.contract, "status": "RESOLVED"}
    updated.save()
    Signal.objects.order_by("id")[2].delete()
    Signal.objects.get(source_event_id=first[0].event_id).delete()
    signals_ingest(records=[first[0]])  # the same input again: the same signal, a new row
    ledger_drain(now=DAY_2)

    partition_seal("2026-02-07", now=DAY_2)
    warm = Path(settings.LEDGER_DIR) / "2026-02-07" / "signals-001.wal"
    warm.with_name("signals-001.wal.gz").write_bytes(gzip.compress(warm.read_bytes()))
    warm.unlink()
    assert not LedgerOutbox.objects.exists()
    return Path(settings.LEDGER_DIR)


def signal_table() -> list[tuple]:
    """Every Signal row as the database holds it (contract text unparsed), with its event's key."""
    qn = connection.ops.quote_name
    columns = [f.column for f in Signal._meta.concrete_fields if f.column not in ("id", "event_id")]
    select = ", ".join(f"s.{qn(column)}" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select}, e.{qn('source')}, e.{qn('external_id')} "
            f"FROM {qn(Signal._meta.db_table)} s JOIN {qn(SourceEvent._meta.db_table)} e ON e.id = s.{qn('event_id')} "
            f"ORDER BY s.{qn('signal_id')}"
        )
        return cursor.fetchall()


def writer_state() -> tuple:
    return LedgerWriterState.objects.values_list(*STATE_FIELDS).get(pk=1)


def signal_ids() -> list[str]:
    return list(Signal.objects.values_list("signal_id", flat=True))


def delete_signal_rows() -> None:
    """Empty the tables with raw SQL: no receiver runs, nothing is queued for the ledger."""
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (ProbabilityPoint, Signal, SourceEvent):
            cursor.execute(f"DELETE FROM {qn(model._meta.db_table)}")


def ledger_files(root: Path) -> dict[str, str]:
    files = (path for path in root.rglob("*") if path.is_file())
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def assert_one_chain(root: Path) -> int:
    """Every frame's prev_hash is the hash of the frame before it; sequences count per segment."""
    previous, frames = GENESIS_HASH, 0
    for ref in ledger_segments(root):
        read = read_segment(ref)
        assert read.clean, (ref, read.end)
        for index, frame in enumerate(read.frames, start=1):
            head = read_head(frame.payload)
            assert head.prev_hash == previous, f"{ref}@{frame.offset}"
            assert head.ledger_sequence == ledger_sequence(ref.ordinal, index)
            previous, frames = payload_hash(frame.payload), frames + 1
    return frames


def segment_payloads(path: Path) -> list[bytes]:
    return [frame.payload for frame in read_frames(path.read_bytes())]


# 8: the first day's frames in one batch; the second day's delete and re-creation of a row an
# earlier batch wrote, in the next.
@pytest.mark.parametrize("batch_size", [1, 3, 8, 2000])
def test_replay_rebuilds_the_signal_table_the_ledger_was_written_from(ledgered, batch_size):
    before = signal_table()
    delete_signal_rows()

    result = ledger_replay(ledgered, batch_size=batch_size)

    assert result.problems == []
    assert signal_table() == before
    assert (result.updated, result.deleted, result.signals) == (1, 2, len(before))
    assert result.created == len(before) + 2  # both deleted signals were created, one of them twice
    report = ledger_verify()
    assert report.ok, report.problems


def test_replay_records_the_end_the_writer_had_recorded(ledgered):
    recorded = writer_state()
    delete_signal_rows()
    LedgerWriterState.objects.all().delete()  # a database that never ran the writer

    result = ledger_replay(ledgered)

    assert writer_state() == recorded
    assert (result.partition, result.segment, result.offset) == recorded[:3]
    assert result.chain_head == recorded[5]


def test_replay_writes_no_outbox_row_and_no_frame(ledgered):
    files = ledger_files(ledgered)
    delete_signal_rows()

    ledger_replay(ledgered)
    ledger_drain()

    assert not LedgerOutbox.objects.exists()
    assert ledger_files(ledgered) == files


def test_signals_saved_after_a_replay_continue_the_chain(ledgered):
    frames_before = assert_one_chain(ledgered)
    delete_signal_rows()
    LedgerWriterState.objects.all().delete()  # a database that never ran the writer
    ledger_replay(ledgered)

    signals_ingest(records=RawEventFactory.build_batch(3))
    drained = ledger_drain(now=DAY_2)

    assert (drained.frames, drained.adopted) == (3, 0)
    assert assert_one_chain(ledgered) == frames_before + 3
    assert LedgerWriterState.objects.get().frames_written == frames_before + 3
    report = ledger_verify()
    assert report.ok, report.problems


def test_replay_refuses_a_database_that_has_signals(ledgered):
    with pytest.raises(ReplayRefused, match=r"already holds \d+ signals"):
        ledger_replay(ledgered)


def test_replay_refuses_a_ledger_the_writer_does_not_append_to(ledgered, tmp_path):
    delete_signal_rows()

    with pytest.raises(ReplayRefused, match="LEDGER_DIR"):
        ledger_replay(tmp_path)


def test_replay_stops_at_a_corrupt_frame_naming_where_and_writes_nothing(ledgered):
    recorded = writer_state()
    delete_signal_rows()
    segment = ledgered / "2026-02-08" / "signals-001.wal"
    data = bytearray(segment.read_bytes())
    second = 8 + int.from_bytes(data[0:4], "big")
    data[second + 30] ^= 0xFF
    segment.write_bytes(bytes(data))

    with pytest.raises(LedgerCorruption) as raised:
        ledger_replay(ledgered)

    assert "2026-02-08/signals-001.wal" in str(raised.value)
    assert raised.value.offset == second
    assert not Signal.objects.exists()
    assert writer_state() == recorded


def test_replay_stops_where_a_removed_frame_breaks_the_chain(ledgered):
    delete_signal_rows()
    segment = ledgered / "2026-02-08" / "signals-001.wal"
    payloads = segment_payloads(segment)
    kept = [payloads[0], *payloads[2:]]
    segment.write_bytes(b"".join(encode_frame(p) for p in kept))

    with pytest.raises(LedgerCorruption, match="does not continue the ledger") as raised:
        ledger_replay(ledgered)

    assert raised.value.offset == 8 + len(payloads[0])
    assert not Signal.objects.exists()


def test_a_torn_tail_of_the_newest_segment_is_reported_and_the_writer_truncates_it(ledgered):
    before = signal_table()
    delete_signal_rows()
    newest = ledger_segments(ledgered)[-1].path
    good_size = newest.stat().st_size
    with newest.open("ab") as file:
        file.write(encode_frame(b'{"prev_hash":"torn"}')[:-5])

    result = ledger_replay(ledgered)
    drained = ledger_drain(now=DAY_2)

    assert signal_table() == before
    [problem] = result.problems
    assert problem.where == f"2026-02-08/{newest.name}@{good_size}"
    assert result.offset == good_size
    assert len(drained.truncated) == 1 and newest.stat().st_size == good_size


def test_a_contract_a_row_cannot_hold_is_reported_and_the_replay_goes_on(ledgered):
    state = LedgerWriterState.objects.get()
    contract = {**Signal.objects.first().contract, "signal_id": "OMEN-000000000BAD", "title": "x" * 501}
    delete_signal_rows()
    segment = ledgered / state.partition / state.segment
    payload = build_payload(
        prev_hash=state.chain_head,
        ledger_sequence=state.last_sequence + 1,
        outbox_id=999_999,
        operation="create",
        signal_id="OMEN-000000000BAD",
        trace_id="0" * 16,
        input_event_hash="0" * 64,
        source_event_id="polymarket-1",
        ruleset_version="1.0.0",
        observed_at="2026-02-08T00:00:00.000000Z",
        emitted_at="2026-02-08T00:00:00.000000Z",
        ledger_written_at="2026-02-08T00:00:00.000000Z",
        ledger_partition=state.partition,
        contract_json=json.dumps(contract),
    )
    with segment.open("ab") as file:
        file.write(encode_frame(payload))

    result = ledger_replay(ledgered)

    [problem] = result.problems
    assert problem.where == f"{state.partition}/{state.segment}@{state.offset}"
    assert "signal.title" in problem.what
    assert result.signals > 0 and not Signal.objects.filter(signal_id="OMEN-000000000BAD").exists()
    assert result.chain_head == payload_hash(payload)  # the frame is still part of the chain


def test_progress_reports_every_segment_up_to_the_total(ledgered):
    delete_signal_rows()
    calls = []

    ledger_replay(ledgered, progress=lambda done, total: calls.append((done, total)))

    total = calls[0][1]
    assert len(calls) == 1 + len(ledger_segments(ledgered))
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_replay_refuses_a_database_whose_outbox_still_holds_saves(ledgered):
    delete_signal_rows()
    LedgerOutboxFactory()  # a save the writer has not framed yet

    with pytest.raises(ReplayRefused, match="the outbox holds 1 saves not framed yet: run the ledger drain first"):
        ledger_replay(ledgered)

    assert not Signal.objects.exists()


def test_replay_stops_at_a_compressed_segment_that_cannot_be_read(ledgered):
    recorded = writer_state()
    delete_signal_rows()
    warm = ledgered / "2026-02-07" / "signals-001.wal.gz"
    warm.write_bytes(b"not gzip at all")

    with pytest.raises(LedgerCorruption, match="segment cannot be read") as raised:
        ledger_replay(ledgered)

    assert (raised.value.path, raised.value.offset) == (warm, 0)
    assert not Signal.objects.exists()
    assert writer_state() == recorded


def test_replay_stops_at_a_frame_that_holds_no_envelope(ledgered):
    delete_signal_rows()
    newest = ledger_segments(ledgered)[-1].path
    end = newest.stat().st_size
    with newest.open("ab") as file:
        file.write(encode_frame(b"not an envelope"))  # a good CRC around a payload no writer wrote

    with pytest.raises(LedgerCorruption, match="frame is not an envelope") as raised:
        ledger_replay(ledgered)

    assert (raised.value.path, raised.value.offset) == (newest, end)
    assert not Signal.objects.exists()


def test_replay_stops_at_a_torn_frame_before_the_newest_segment(ledgered):
    """Only the newest segment may end in a torn write: an older one was followed by other segments."""
    delete_signal_rows()
    older = ledger_segments(ledgered)[-2].path
    end = older.stat().st_size
    with older.open("ab") as file:
        file.write(encode_frame(b'{"prev_hash":"torn"}')[:-5])

    with pytest.raises(LedgerCorruption, match="torn frame before the newest segment") as raised:
        ledger_replay(ledgered)

    assert (raised.value.path, raised.value.offset) == (older, end)
    assert not Signal.objects.exists()


def test_replaying_an_empty_ledger_leaves_the_database_empty_and_its_end_at_the_start(ledger_dir):
    ledger_dir.mkdir(parents=True)

    result = ledger_replay(ledger_dir)

    assert (result.segments, result.frames, result.signals) == (0, 0, 0)
    assert (result.partition, result.segment, result.offset, result.chain_head) == ("", "", 0, GENESIS_HASH)
    assert writer_state() == ("", "", 0, 0, 0, GENESIS_HASH, 0)


@pytest.mark.parametrize("drain_on_commit", ["inline", "off"])  # frames built from memory, or from the rows
def test_a_partners_signals_are_marked_pushed_in_their_frames_and_replayed_as_pushed(
    ledger_dir, settings, drain_on_commit
):
    settings.LEDGER_DRAIN_ON_COMMIT = drain_on_commit
    signals_ingest(records=RawEventFactory.build_batch(2, observed_at=DAY_1))
    signals_ingest(records=RawEventFactory.build_batch(2, observed_at=DAY_1), pushed=True)
    ledger_drain(now=DAY_1)
    updated = Signal.objects.filter(pushed=True).order_by("id").first()
    updated.status = "RESOLVED"
    updated.contract = {**updated.contract, "status": "RESOLVED"}
    updated.save()  # an update frame, its contract taken from the outbox: the mark from the row
    ledger_drain(now=DAY_1)
    before = signal_table()

    envelopes = [json.loads(frame.payload) for ref in ledger_segments(ledger_dir) for frame in read_segment(ref).frames]
    marked = {(envelope["operation"], envelope["signal_id"]): envelope.get("pushed") for envelope in envelopes}
    pushed = set(Signal.objects.filter(pushed=True).values_list("signal_id", flat=True))
    created = {("create", signal_id): True if signal_id in pushed else None for signal_id in signal_ids()}
    assert marked == {**created, ("update", updated.signal_id): True}
    # A polled signal's envelope is as before (no key); a partner's says so just before the contract.
    assert all(list(envelope)[-2:] == ["pushed", "signal"] for envelope in envelopes if "pushed" in envelope)

    delete_signal_rows()
    result = ledger_replay(ledger_dir)

    assert result.problems == []
    assert signal_table() == before  # pushed included: a partner's signal is kept by partner_signals again
    assert Signal.objects.filter(pushed=True).count() == 2


def test_a_partners_signal_changed_before_its_create_is_framed_is_marked_in_both_frames(ledger_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signals_ingest(records=[RawEventFactory(observed_at=DAY_1)], pushed=True)
    changed = Signal.objects.get()
    changed.status = "RESOLVED"
    changed.contract = {**changed.contract, "status": "RESOLVED"}
    changed.save()  # the waiting create keeps the contract it was made with: framed from that, not the row

    ledger_drain(now=DAY_1)

    envelopes = [json.loads(frame.payload) for ref in ledger_segments(ledger_dir) for frame in read_segment(ref).frames]
    assert [(envelope["operation"], envelope.get("pushed")) for envelope in envelopes] == [
        ("create", True),
        ("update", True),
    ]
