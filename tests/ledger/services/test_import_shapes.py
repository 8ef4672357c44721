"""ledger_import takes every frame the original OMEN's own code wrote, not only its pipeline's.

Shapes (tests/support/original_ledger.py): its pipeline's, its demo writer's, its tests', its
background generator's, and ids far longer than ours. For each: every frame imports, the frames
our writer then makes of them verify with ``--contents``, replay would rebuild the same rows, and
a second import adds nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest
from django.db.models import TextField
from django.db.models.functions import Cast

from ledger.reading import ledger_segments, read_segment
from ledger.services.import_original import ledger_import
from ledger.services.restore import MAX_ID_CHARS, restore_payload
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from ledger.wal import encode_frame, ledger_sequence
from signals.models import Signal, SourceEvent
from signals.models.contract import canonical_json
from signals.public import SignalRow
from tests.support.original_ledger import (
    OriginalSignal,
    demo_signals,
    frame_test_signals,
    generated_signals,
    long_id_signals,
    original_envelope,
    pipeline_signals,
    segment_name,
    with_ids,
    write_original_partition,
    zulu,
)

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_OBSERVED_AT = datetime(2026, 2, 8, 9, 0, 0, 250000, tzinfo=UTC)
FRAME_TESTS_AT = datetime(2026, 2, 8, 9, 30, tzinfo=UTC)
GENERATOR_START = datetime(2026, 1, 1, tzinfo=UTC)  # epoch 1767225600


def write_pipeline(base, recorded_dir) -> list[OriginalSignal]:
    signals = pipeline_signals(recorded_dir, 6)
    write_original_partition(base, "2026-02-07", [signals[0:2], signals[2:4]], sealed=True, gzipped=(2,))
    write_original_partition(base, "2026-02-08", [signals[4:6]])
    return signals


def write_demo(base, recorded_dir) -> list[OriginalSignal]:
    signals = demo_signals(DEMO_OBSERVED_AT)
    write_original_partition(base, "2026-02-08", [signals[:10]], sealed=True)
    write_original_partition(base, "2026-02-08-late", [signals[10:]])  # OMEN-DEMO008LATE
    return signals


def write_frame_tests(base, recorded_dir) -> list[OriginalSignal]:
    signals = frame_test_signals(FRAME_TESTS_AT)
    write_original_partition(base, "2026-02-08", [signals])
    return signals


def write_generated(base, recorded_dir) -> list[OriginalSignal]:
    signals = generated_signals(GENERATOR_START)
    write_original_partition(base, "2026-01-01", [signals[:3], signals[3:]])
    return signals


def write_long_ids(base, recorded_dir) -> list[OriginalSignal]:
    signals = long_id_signals(recorded_dir)
    write_original_partition(base, "2026-02-08", [signals])
    return signals


SHAPES = {
    "pipeline": write_pipeline,
    "demo-writer": write_demo,
    "its-tests": write_frame_tests,
    "background-generator": write_generated,
    "long-ids": write_long_ids,
}


@pytest.fixture
def original_dir(tmp_path):
    return tmp_path / "omen-ledger"


def imported(signal_id: str) -> Signal:
    return Signal.objects.select_related("event").get(signal_id=signal_id)


def stored_contract(signal_id: str) -> str:
    """The contract text as the database holds it (not re-encoded by the ORM)."""
    return Signal.objects.filter(signal_id=signal_id).values_list(Cast("contract", TextField()), flat=True).get()


@pytest.mark.parametrize("write", SHAPES.values(), ids=SHAPES.keys())
def test_every_frame_imports_verifies_with_contents_and_a_second_import_adds_nothing(original_dir, recorded_dir, write):
    signals = write(original_dir, recorded_dir)

    first = ledger_import(original_dir)
    ledger_drain()
    report = ledger_verify(contents=True)
    second = ledger_import(original_dir)

    assert first.problems == []
    assert (first.frames, first.imported) == (len(signals), len(signals))
    assert set(Signal.objects.values_list("signal_id", flat=True)) == {s.contract["signal_id"] for s in signals}
    assert report.ok, report.problems
    assert report.signals == report.frames == len(signals)
    assert (second.imported, second.existing) == (0, len(signals))


@pytest.mark.parametrize("write", SHAPES.values(), ids=SHAPES.keys())
def test_the_frames_our_writer_makes_of_imported_signals_restore_to_the_same_rows(
    original_dir, recorded_dir, write, ledger_dir
):
    write(original_dir, recorded_dir)
    ledger_import(original_dir)
    ledger_drain()
    columns = [name for name in SignalRow._fields if name != "contract"]
    stored = {
        row[0]: SignalRow(**dict(zip([*columns, "contract"], row, strict=True)))
        for row in Signal.objects.values_list(*columns, Cast("contract", TextField()))  # fmt: skip
    }

    restored = {}
    for ref in ledger_segments(ledger_dir):
        for frame in read_segment(ref).frames:
            row = restore_payload(frame.payload).row  # what `ledger replay` writes
            restored[row.signal_id] = row

    assert restored == stored


def test_a_demo_frame_takes_what_its_contract_lacks_from_its_envelope_and_stores_it_in_the_contract(
    original_dir, recorded_dir
):
    signals = write_demo(original_dir, recorded_dir)
    ledger_import(original_dir)
    original = signals[0]

    signal = imported("OMEN-DEMO001ABCD")

    assert (signal.trace_id, signal.ruleset_version) == ("trace-OMEN-DEMO001", "1.0.0")
    assert signal.input_event_hash == original.full_input_hash  # the envelope's, without "sha256:"
    assert signal.observed_at == signal.generated_at == DEMO_OBSERVED_AT  # the envelope's observed_at
    assert zulu(signal.created_at) == zulu(original.emitted_at)
    # Its probability source is Polymarket; the id after "demo-" names the event.
    assert (signal.source, signal.event.source, signal.event.external_id) == (
        "polymarket",
        "polymarket",
        "OMEN-DEMO001ABCD",
    )
    assert signal.event.url == ""
    filled = {
        "input_event_hash": original.full_input_hash,
        "observed_at": zulu(DEMO_OBSERVED_AT),
        "generated_at": zulu(DEMO_OBSERVED_AT),
    }
    assert stored_contract("OMEN-DEMO001ABCD") == canonical_json({**original.contract, **filled})


def test_a_deleted_demo_signal_is_framed_from_its_stored_contract(original_dir, recorded_dir, settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    write_demo(original_dir, recorded_dir)
    ledger_import(original_dir)
    ledger_drain()

    imported("OMEN-DEMO003IJKL").delete()  # the writer frames a delete from the contract alone
    drained = ledger_drain()

    assert drained.frames == 1
    *_, last = (frame for ref in ledger_segments(settings.LEDGER_DIR) for frame in read_segment(ref).frames)
    envelope = orjson.loads(last.payload)
    assert (envelope["operation"], envelope["signal_id"]) == ("delete", "OMEN-DEMO003IJKL")
    assert envelope["observed_at"] == zulu(DEMO_OBSERVED_AT)
    report = ledger_verify(contents=True)
    assert report.ok, report.problems
    assert report.signals == 10


def test_an_imported_signal_with_a_naive_time_is_framed_when_deleted_and_the_writer_goes_on(
    original_dir, recorded_dir, settings
):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"
    signals = frame_test_signals(FRAME_TESTS_AT)
    # The original's contract datetimes need no zone: utcnow() wrote this one.
    naive = replace(signals[1], contract={**signals[1].contract, "observed_at": "2026-02-08T09:30:59"})
    write_original_partition(original_dir, "2026-02-08", [[signals[0], naive, *signals[2:]]])
    ledger_import(original_dir)
    ledger_drain()

    imported("OMEN-FRAME002").delete()  # the writer reads the naive time as UTC, as restore does
    drained = ledger_drain()

    assert drained.frames == 1
    *_, last = (frame for ref in ledger_segments(settings.LEDGER_DIR) for frame in read_segment(ref).frames)
    envelope = orjson.loads(last.payload)
    assert (envelope["operation"], envelope["signal_id"]) == ("delete", "OMEN-FRAME002")
    assert envelope["observed_at"].endswith("Z")
    report = ledger_verify(contents=True)
    assert report.ok, report.problems


def test_frames_of_its_tests_are_stored_under_the_original_source_with_their_times_in_utc(original_dir, recorded_dir):
    signals = write_frame_tests(original_dir, recorded_dir)
    ledger_import(original_dir)

    rows = {s.signal_id: s for s in Signal.objects.select_related("event")}

    assert {(s.source, s.event.source, s.event.external_id) for s in rows.values()} == {
        ("original", "original", "frame-test"),
        ("original", "original", "emit-test"),
    }
    assert SourceEvent.objects.get(external_id="frame-test").latest_signal_id == "OMEN-FRAME003"
    assert {s.input_event_hash for s in rows.values()} == {"frame123"}  # "sha256:frame123"
    assert rows["OMEN-FRAME001"].generated_at == datetime(2026, 2, 8, 9, 30, 15, 123456, tzinfo=UTC)
    assert rows["OMEN-FRAME002"].generated_at == datetime(2026, 2, 8, 9, 31, tzinfo=UTC)  # naive: UTC
    assert rows["OMEN-FRAME003"].generated_at == datetime(2026, 2, 8, 9, 32, 0, 500000, tzinfo=UTC)  # +07:00
    assert rows["OMEN-FRAME002"].observed_at == signals[1].observed_at  # the envelope's
    # The times it wrote stay as it wrote them; only what it left out is added.
    contract = orjson.loads(stored_contract("OMEN-FRAME003"))
    assert contract == {
        **signals[2].contract,
        "input_event_hash": "frame123",
        "observed_at": zulu(signals[2].observed_at),
    }


def test_the_background_generators_events_keep_their_whole_ids_unless_a_source_of_ours_is_named(
    original_dir, recorded_dir
):
    signals = write_generated(original_dir, recorded_dir)
    ledger_import(original_dir)

    events = set(SourceEvent.objects.values_list("source", "external_id"))

    assert events == {
        ("original", "weather-rotterdam-1767225600.123"),
        ("original", "weather-hải-phòng-1767225601.456"),
        ("original", "news-1767225602-123"),
        ("original", "stock-AAPL-1767225603"),
        ("yahoo", "MSFT-1767225604"),  # probability source "yahoo", as Yahoo's parser names it
    }
    signal = imported(signals[0].contract["signal_id"])
    assert signal.trace_id == "weather-20260101000000"
    assert signal.input_event_hash == signals[0].full_input_hash  # the contract has none
    assert orjson.loads(stored_contract(signal.signal_id))["temporal"]["event_horizon"] == "2026-01-02"


def test_ids_far_longer_than_ours_are_stored_whole(original_dir, recorded_dir):
    signals = write_long_ids(original_dir, recorded_dir)
    ledger_import(original_dir)

    for original in signals:
        signal = imported(original.contract["signal_id"])
        contract = original.contract
        assert (signal.trace_id, signal.source_event_id, signal.ruleset_version) == (
            contract["trace_id"],
            contract["source_event_id"],
            contract["ruleset_version"],
        )
        assert signal.input_event_hash == contract["input_event_hash"]
    widest = imported(signals[2].contract["signal_id"])
    assert len(widest.trace_id) == len(widest.source_event_id) == len(widest.event.external_id) == MAX_ID_CHARS
    assert len(widest.trace_id.encode()) == 4 * MAX_ID_CHARS  # every index entry of it still fits
    assert Signal.objects.get(trace_id="🛰" * MAX_ID_CHARS) == widest  # and is found through the index


def test_an_id_longer_than_an_index_holds_is_refused_naming_its_field_and_the_rest_of_the_segment_imports(
    original_dir, recorded_dir
):
    good, trace, event, envelope_hash, signal_id, also_good = pipeline_signals(recorded_dir, 6)
    too_long = MAX_ID_CHARS + 1
    refused = [
        with_ids(trace, trace_id="t" * too_long),
        with_ids(event, source_event_id="original-" + "e" * too_long),
        OriginalSignal(
            {k: v for k, v in envelope_hash.contract.items() if k != "input_event_hash"},
            "h" * too_long,  # the envelope's, taken when the contract has none
            envelope_hash.emitted_at,
        ),
        with_ids(signal_id, signal_id="OMEN-" + "S" * 600),
    ]
    write_original_partition(original_dir, "2026-02-08", [[good, *refused, also_good]])

    result = ledger_import(original_dir)

    assert (result.frames, result.imported) == (6, 2)
    assert set(Signal.objects.values_list("signal_id", flat=True)) == {
        good.contract["signal_id"],
        also_good.contract["signal_id"],
    }
    whats = [problem.what for problem in result.problems]
    assert [what.split(": ")[1] for what in whats] == [
        "signal.trace_id",
        "signal.source_event_id",
        "signal.input_event_hash",
        "signal.signal_id",
    ]
    assert all(what.startswith("not imported: ") for what in whats)
    assert f"is {too_long} characters, an id longer than {MAX_ID_CHARS} characters cannot be indexed" in whats[0]
    assert "is 605 characters" in whats[3]


def test_the_sha256_prefix_is_removed_once_from_the_front_only(original_dir, recorded_dir):
    signals = pipeline_signals(recorded_dir, 3)
    cases = [
        with_ids(signals[0], input_event_hash="sha256:" + "a" * MAX_ID_CHARS),  # the limit counts after it
        with_ids(signals[1], input_event_hash="sha256:sha256:b"),
        with_ids(signals[2], input_event_hash="c-sha256:d"),
    ]
    write_original_partition(original_dir, "2026-02-08", [cases])

    result = ledger_import(original_dir)
    ledger_drain()

    assert result.problems == []
    hashes = Signal.objects.order_by("input_event_hash").values_list("input_event_hash", flat=True)
    assert list(hashes) == ["a" * MAX_ID_CHARS, "c-sha256:d", "sha256:b"]
    report = ledger_verify(contents=True)
    assert report.ok, report.problems


def test_a_frame_whose_contract_and_envelope_both_lack_a_time_is_refused_naming_it(original_dir, recorded_dir):
    (demo,) = demo_signals(DEMO_OBSERVED_AT)[:1]
    envelope = orjson.loads(original_envelope(demo, partition="2026-02-08", sequence=ledger_sequence(1, 1)))
    del envelope["observed_at"]
    directory = original_dir / "2026-02-08"
    directory.mkdir(parents=True)
    (directory / segment_name(1)).write_bytes(encode_frame(orjson.dumps(envelope)))

    result = ledger_import(original_dir)

    assert result.imported == 0
    [problem] = result.problems
    assert "signal.observed_at: missing" in problem.what
