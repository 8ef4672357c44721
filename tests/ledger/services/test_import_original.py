"""ledger_import: ledgers the original OMEN wrote become signals, through the ledgered bulk path."""

from __future__ import annotations

import hashlib
from datetime import datetime

import orjson
import pytest
from django.db import connection

from ledger.envelope import GENESIS_HASH, payload_hash, read_head
from ledger.models import LedgerOutbox
from ledger.reading import ledger_segments, read_segment
from ledger.services.import_original import ImportRefused, ledger_import
from ledger.services.verify import ledger_verify
from ledger.services.writer import ledger_drain
from ledger.wal import encode_frame, ledger_sequence
from signals.models import Signal, SourceEvent
from signals.models.contract import canonical_json
from tests.support.original_ledger import (
    OriginalSignal,
    original_contracts,
    original_envelope,
    segment_name,
    write_original_partition,
    zulu,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def contracts(recorded_dir):
    return original_contracts(recorded_dir, 12)


@pytest.fixture
def original_dir(tmp_path):
    return tmp_path / "omen-ledger"


def stored_contracts() -> dict[str, str]:
    """signal_id -> the contract text as the database holds it (not re-encoded by the ORM)."""
    table = connection.ops.quote_name(Signal._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT signal_id, contract FROM {table}")
        return dict(cursor.fetchall())


def write_three_partitions(base, signals: list[OriginalSignal]) -> None:
    """A sealed day (second segment gzipped), its late partition, and the current day."""
    write_original_partition(base, "2026-02-07", [signals[0:3], signals[3:6]], sealed=True, gzipped=(2,))
    write_original_partition(base, "2026-02-07-late", [signals[6:8]], sealed=True)
    write_original_partition(base, "2026-02-08", [signals[8:10], signals[10:12]])


def our_frames() -> list[tuple[str, bytes]]:
    """(signal_id, payload) of every frame in this database's own ledger, in ledger order."""
    from django.conf import settings

    frames = []
    for ref in ledger_segments(settings.LEDGER_DIR):
        read = read_segment(ref)
        assert read.clean, read.end
        frames.extend((read_head(frame.payload).signal_id, frame.payload) for frame in read.frames)
    return frames


def test_import_creates_every_signal_with_the_contract_byte_identical(original_dir, contracts):
    write_three_partitions(original_dir, contracts)

    result = ledger_import(original_dir)

    assert result.problems == []
    assert (result.partitions, result.segments, result.frames, result.imported) == (3, 5, 12, 12)
    stored = stored_contracts()
    assert stored == {s.contract["signal_id"]: canonical_json(s.contract) for s in contracts}


def test_import_fills_the_columns_from_the_contract_and_created_at_from_emitted_at(original_dir, contracts):
    original = contracts[0]
    write_original_partition(original_dir, "2026-02-07", [[original]])

    ledger_import(original_dir)

    signal = Signal.objects.select_related("event").get()
    contract = original.contract
    assert signal.input_event_hash == contract["input_event_hash"]  # the contract's 16 hex
    assert len(signal.input_event_hash) == 16
    assert (signal.signal_id, signal.trace_id, signal.title) == (
        contract["signal_id"],
        contract["trace_id"],
        contract["title"],
    )
    assert (signal.probability, signal.confidence) == (contract["probability"], contract["confidence_score"])
    assert zulu(signal.created_at) == zulu(original.emitted_at)
    assert signal.observed_at == datetime.fromisoformat(contract["observed_at"])
    source, external_id = contract["source_event_id"].split("-", 1)
    assert (signal.source, signal.event.source, signal.event.external_id) == (source, source, external_id)
    assert signal.event.latest_signal_id == signal.signal_id


def test_a_second_import_adds_nothing(original_dir, contracts):
    write_three_partitions(original_dir, contracts)
    ledger_import(original_dir)
    ledger_drain()
    frames_before = our_frames()

    result = ledger_import(original_dir)
    ledger_drain()

    assert (result.imported, result.existing) == (0, 12)
    assert Signal.objects.count() == 12
    assert SourceEvent.objects.count() == len({s.contract["source_event_id"] for s in contracts})
    assert not LedgerOutbox.objects.exists()
    assert our_frames() == frames_before


def test_a_torn_tail_is_reported_with_its_location_and_the_frames_before_it_import(original_dir, contracts):
    directory = write_original_partition(original_dir, "2026-02-08", [contracts[0:4]])
    segment = directory / segment_name(1)
    good_size = segment.stat().st_size
    torn = encode_frame(b'{"schema_version":"1.0.0","signal_id":"OMEN-TORN"}')[:-9]
    with segment.open("ab") as file:
        file.write(torn)

    result = ledger_import(original_dir)

    assert result.imported == 4
    assert set(stored_contracts()) == {s.contract["signal_id"] for s in contracts[0:4]}
    [problem] = result.problems
    assert problem.where == f"2026-02-08/signals-001.wal@{good_size}"
    assert "torn tail" in problem.what


def flip_a_byte_of_frame(segment, index: int) -> tuple[int, int]:
    """Damage frame ``index`` (0-based) inside its payload; return its offset and the next frame's."""
    data = bytearray(segment.read_bytes())
    offset = 0
    for _ in range(index):
        offset += 8 + int.from_bytes(data[offset : offset + 4], "big")
    following = offset + 8 + int.from_bytes(data[offset : offset + 4], "big")
    data[offset + 20] ^= 0xFF  # the CRC no longer matches; valid frames follow
    segment.write_bytes(bytes(data))
    return offset, following


def test_a_corrupt_frame_is_skipped_and_the_import_resynchronises_at_the_next_valid_frame(original_dir, contracts):
    directory = write_original_partition(original_dir, "2026-02-08", [contracts[0:4], contracts[4:6]])
    damaged, following = flip_a_byte_of_frame(directory / segment_name(1), 1)

    result = ledger_import(original_dir)

    assert set(stored_contracts()) == {s.contract["signal_id"] for s in [contracts[0], *contracts[2:6]]}
    [problem] = result.problems
    assert problem.where == f"2026-02-08/signals-001.wal@{damaged}"
    assert problem.what.startswith(f"damaged frame (crc_mismatch): {following - damaged} bytes skipped")
    assert [(str(d.location), d.skipped_bytes) for d in result.damaged] == [
        (f"2026-02-08/signals-001.wal@{damaged}", following - damaged)
    ]
    assert result.skipped_bytes == following - damaged


def test_a_flipped_byte_in_the_third_frame_loses_only_that_frame_and_a_second_run_reports_it_again(
    original_dir, contracts
):
    directory = write_original_partition(original_dir, "2026-02-08", [contracts[0:6]])
    damaged, _ = flip_a_byte_of_frame(directory / segment_name(1), 2)

    first = ledger_import(original_dir)
    second = ledger_import(original_dir)

    assert set(stored_contracts()) == {s.contract["signal_id"] for s in [*contracts[0:2], *contracts[3:6]]}
    assert (first.imported, second.imported, second.existing) == (5, 0, 5)
    assert (
        [str(d.location) for d in first.damaged]
        == [str(d.location) for d in second.damaged]
        == [f"2026-02-08/signals-001.wal@{damaged}"]
    )


def test_strict_stops_at_the_first_damaged_frame_of_a_segment(original_dir, contracts):
    directory = write_original_partition(original_dir, "2026-02-08", [contracts[0:6]])
    damaged, _ = flip_a_byte_of_frame(directory / segment_name(1), 2)

    result = ledger_import(original_dir, strict=True)

    assert set(stored_contracts()) == {s.contract["signal_id"] for s in contracts[0:2]}
    assert result.damaged == []
    [problem] = result.problems
    assert problem.where == f"2026-02-08/signals-001.wal@{damaged}"
    assert "--strict: the rest of the segment was skipped" in problem.what


def test_the_import_command_prints_the_damaged_ranges_and_exits_1(original_dir, contracts):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    directory = write_original_partition(original_dir, "2026-02-08", [contracts[0:6]])
    damaged, following = flip_a_byte_of_frame(directory / segment_name(1), 2)
    err = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("ledger", "import", str(original_dir), stdout=StringIO(), stderr=err)

    assert failed.value.returncode == 1
    table = err.getvalue().splitlines()
    assert table[0].split() == ["partition", "segment", "offset", "bytes", "skipped", "damage"]
    assert table[1].split() == ["2026-02-08", "signals-001.wal", str(damaged), str(following - damaged), "crc_mismatch"]
    assert Signal.objects.count() == 5


def test_a_contract_missing_a_field_is_reported_naming_it_and_the_others_import(original_dir, contracts):
    broken = OriginalSignal(
        {k: v for k, v in contracts[1].contract.items() if k != "confidence_level"},
        contracts[1].full_input_hash,
        contracts[1].emitted_at,
    )
    write_original_partition(original_dir, "2026-02-08", [[contracts[0], broken, contracts[2]]])

    result = ledger_import(original_dir)

    assert result.imported == 2
    [problem] = result.problems
    assert problem.where.startswith("2026-02-08/signals-001.wal@")
    assert "signal.confidence_level: missing" in problem.what


def test_a_source_event_id_without_a_known_source_takes_it_from_probability_source_or_is_kept_whole(
    original_dir, contracts
):
    stock = {**contracts[0].contract, "source_event_id": "stock-AAPL-2020110600", "probability_source": "yahoo"}
    unknown = {**contracts[1].contract, "source_event_id": "ais-42", "probability_source": "marinetraffic"}
    write_original_partition(
        original_dir,
        "2026-02-08",
        [
            [
                OriginalSignal(stock, "a" * 64, contracts[0].emitted_at),
                OriginalSignal(unknown, "b" * 64, contracts[1].emitted_at),
            ]
        ],
    )

    result = ledger_import(original_dir)

    assert result.problems == []
    stored = {s.source_event_id: (s.source, s.event.external_id) for s in Signal.objects.select_related("event")}
    assert stored == {
        "stock-AAPL-2020110600": ("yahoo", "AAPL-2020110600"),
        "ais-42": ("original", "ais-42"),  # a source OMEN does not poll: the original's, id whole
    }


def test_a_manifest_that_disagrees_with_its_segment_is_reported(original_dir, contracts):
    directory = write_original_partition(original_dir, "2026-02-07", [contracts[0:3]], sealed=True)
    segment = directory / segment_name(1)
    data = segment.read_bytes()
    segment.write_bytes(data[: 8 + int.from_bytes(data[0:4], "big")])  # frames lost at a boundary

    result = ledger_import(original_dir)

    assert result.imported == 1
    messages = [str(problem) for problem in result.problems]
    assert any("record_count 3, the segment has 1" in message for message in messages), messages
    assert any("checksum differs" in message for message in messages), messages


def test_a_damaged_gzip_segment_gives_up_the_frames_before_the_damage(original_dir, contracts):
    directory = write_original_partition(original_dir, "2026-02-07", [contracts[0:6]], sealed=True, gzipped=(1,))
    compressed = directory / f"{segment_name(1)}.gz"
    compressed.write_bytes(compressed.read_bytes()[:-40])  # the end of the stream lost

    result = ledger_import(original_dir)

    assert 0 < result.imported < 6
    assert any("compressed segment is damaged" in str(problem) for problem in result.problems)
    assert any("torn tail" in str(problem) for problem in result.problems)


def test_garbage_segments_are_reported_without_crashing(original_dir, contracts):
    directory = write_original_partition(original_dir, "2026-02-08", [contracts[0:2]])
    (directory / segment_name(2)).write_bytes(b"\xff\xff\xff\xff" + b"\x00" * 64)
    (directory / f"{segment_name(3)}.gz").write_bytes(b"not gzip at all")

    result = ledger_import(original_dir)

    assert result.imported == 2
    locations = {problem.where.split("@")[0] for problem in result.problems}
    assert locations == {"2026-02-08/signals-002.wal", "2026-02-08/signals-003.wal.gz"}


def test_frames_that_verify_but_hold_no_usable_envelope_are_reported_one_by_one(original_dir, contracts):
    good = original_envelope(contracts[0], partition="2026-02-08", sequence=ledger_sequence(1, 1))
    envelope = orjson.loads(good)
    deep = good.replace(b'"signal":{', b'"signal":{"nested":' + b"[" * 300 + b"]" * 300 + b",", 1)
    far_future = {**envelope, "emitted_at": "9999-12-31T23:59:59-01:00"}
    payloads = [b"not json", b"[1, 2]", b'{"signal": 7}', deep, orjson.dumps(far_future), good]
    directory = original_dir / "2026-02-08"
    directory.mkdir(parents=True)
    (directory / segment_name(1)).write_bytes(b"".join(encode_frame(payload) for payload in payloads))

    result = ledger_import(original_dir)

    assert (result.frames, result.imported) == (6, 1)
    whats = [problem.what for problem in result.problems]
    assert len(whats) == 5
    assert "payload: is not JSON" in whats[0] and "payload: is not a JSON object" in whats[1]
    assert "signal: missing" in whats[2] and "cannot be stored as JSON" in whats[3] and "emitted_at" in whats[4]


def test_progress_reports_every_segment_up_to_the_total(original_dir, contracts):
    write_three_partitions(original_dir, contracts)
    calls = []

    ledger_import(original_dir, progress=lambda done, total: calls.append((done, total)))

    total = calls[0][1]
    assert len(calls) == 1 + 5
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_import_refuses_a_directory_without_partitions(tmp_path):
    (tmp_path / "signals-001.wal").write_bytes(b"")

    with pytest.raises(ImportRefused, match="no partition directories"):
        ledger_import(tmp_path)


def test_frames_written_after_an_import_record_every_signal_and_chain(original_dir, contracts, settings):
    write_three_partitions(original_dir, contracts)

    ledger_import(original_dir, batch_size=5)  # several transactions, several drains
    ledger_drain()

    assert not LedgerOutbox.objects.exists()
    frames = our_frames()
    assert sorted(signal_id for signal_id, _ in frames) == sorted(s.contract["signal_id"] for s in contracts)
    previous = GENESIS_HASH
    for _, payload in frames:
        envelope = orjson.loads(payload)
        assert (envelope["prev_hash"], envelope["operation"]) == (previous, "create")
        assert canonical_json(envelope["signal"]) == stored_contracts()[envelope["signal_id"]]
        previous = payload_hash(payload)
    report = ledger_verify()
    assert report.ok, report.problems


def test_import_refuses_a_path_that_is_no_directory(tmp_path):
    with pytest.raises(ImportRefused, match="is not a directory"):
        ledger_import(tmp_path / "nowhere")


def test_import_refuses_this_databases_own_ledger(ledger_dir):
    ledger_dir.mkdir(parents=True, exist_ok=True)

    with pytest.raises(ImportRefused, match="this database's own ledger: use `ledger replay`"):
        ledger_import(ledger_dir)


def rewrite_manifest(directory, change) -> None:
    manifest = orjson.loads((directory / "_manifest.json").read_bytes())
    (directory / "_manifest.json").write_bytes(orjson.dumps(change(manifest)))


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (None, "2026-02-07", "_manifest.json cannot be read"),
        (
            lambda manifest: {**manifest, "segments": "all of them"},
            "2026-02-07",
            "_manifest.json has no list of segments",
        ),
        (
            lambda manifest: {**manifest, "segments": manifest["segments"][:1]},
            "2026-02-07/signals-002.wal@0",
            "segment is not listed in the partition's _manifest.json",
        ),
        (
            lambda manifest: {**manifest, "segments": [*manifest["segments"], {"file": "signals-003.wal"}]},
            "2026-02-07/signals-003.wal",
            "listed in _manifest.json but missing",
        ),
    ],
    ids=["unreadable", "no-segment-list", "segment-not-listed", "listed-segment-missing"],
)
def test_a_manifest_that_cannot_vouch_for_the_segments_is_reported_and_every_frame_imports(
    original_dir, contracts, change, where, what
):
    directory = write_original_partition(original_dir, "2026-02-07", [contracts[0:2], contracts[2:4]], sealed=True)
    if change is None:
        (directory / "_manifest.json").write_text('{"segments": [')  # cut short
    else:
        rewrite_manifest(directory, change)

    result = ledger_import(original_dir)

    assert result.imported == 4
    [problem] = result.problems
    assert problem.where == where
    assert problem.what.startswith(what), problem.what


@pytest.mark.parametrize(
    ("checksum", "problems"),
    [
        (lambda data: f"sha256:{hashlib.sha256(data).hexdigest()}", []),  # a sealed partition of ours
        (lambda data: f"sha256:{hashlib.sha256(data + b'!').hexdigest()}", ["checksum differs from _manifest.json"]),
        (lambda data: "md5:00000000000000000000000000000000", []),  # a kind this code does not know: not checked
    ],
    ids=["sha256-matches", "sha256-differs", "unknown-kind"],
)
def test_manifest_checksums_are_checked_in_the_kind_they_are_spelled_in(original_dir, contracts, checksum, problems):
    directory = write_original_partition(original_dir, "2026-02-07", [contracts[0:3]], sealed=True)
    data = (directory / segment_name(1)).read_bytes()

    def with_checksum(manifest):
        manifest["segments"][0]["checksum"] = checksum(data)
        return manifest

    rewrite_manifest(directory, with_checksum)

    result = ledger_import(original_dir)

    assert result.imported == 3
    assert [problem.what.split(" (")[0] for problem in result.problems] == problems


@pytest.mark.parametrize("batch_size", [1, 2000])
def test_a_signal_framed_twice_is_imported_once(original_dir, contracts, batch_size):
    """The original reused sequences and could write a frame twice: the first one counts."""
    write_original_partition(original_dir, "2026-02-08", [[contracts[0], contracts[1], contracts[0]]])

    result = ledger_import(original_dir, batch_size=batch_size)

    assert (result.frames, result.imported, result.existing) == (3, 2, 1)
    assert Signal.objects.count() == 2


def test_a_segment_that_cannot_be_read_is_reported_and_the_others_import(original_dir, contracts):
    directory = write_original_partition(original_dir, "2026-02-08", [contracts[0:2]])
    (directory / segment_name(2)).symlink_to(directory / "gone.wal")  # listed, but nothing to read

    result = ledger_import(original_dir)

    assert result.imported == 2
    [problem] = result.problems
    assert problem.where == "2026-02-08/signals-002.wal@0"
    assert problem.what.startswith("cannot be read: ")


@pytest.mark.parametrize(
    ("gzipped", "what"),
    [((), "bytes, more than a segment holds: skipped"), ((1,), "decompresses to more than 200 bytes")],
    ids=["raw", "gzipped"],
)
def test_a_segment_larger_than_any_segment_is_skipped_unread(original_dir, contracts, monkeypatch, gzipped, what):
    """A file far past the original's segment size is not one of its segments: it is not read into memory."""
    from ledger.services import import_original

    monkeypatch.setattr(import_original, "MAX_SEGMENT_BYTES", 200)  # a contract's frame alone is larger
    write_original_partition(original_dir, "2026-02-07", [contracts[0:2]], sealed=True, gzipped=gzipped)

    result = ledger_import(original_dir)

    assert (result.frames, result.imported) == (0, 0)
    assert [problem.where for problem in result.problems] == [f"2026-02-07/{segment_name(1)}{'.gz' * bool(gzipped)}@0"]
    assert what in result.problems[0].what
