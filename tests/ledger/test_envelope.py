"""The envelope: built with its head first, read back from that head, or parsed when another writer
(the original OMEN) laid it out otherwise. Pure: no database."""

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from ledger.envelope import GENESIS_HASH, EnvelopeError, EnvelopeHead, build_payload, format_timestamp, read_head

WHEN = "2026-11-20T12:00:00.000000Z"


def payload(**changes) -> bytes:
    fields = {
        "prev_hash": GENESIS_HASH,
        "ledger_sequence": (1 << 32) | 1,
        "outbox_id": 7,
        "operation": "create",
        "signal_id": "OMEN-0123456789AB",
        "trace_id": "0123456789abcdef",
        "input_event_hash": "ab" * 32,
        "source_event_id": "polymarket-1001",
        "ruleset_version": "2026.11.0",
        "observed_at": WHEN,
        "emitted_at": WHEN,
        "ledger_written_at": WHEN,
        "ledger_partition": "2026-11-20",
        "contract_json": '{"signal_id":"OMEN-0123456789AB"}',
        **changes,
    }
    return build_payload(**fields)


def test_the_writers_envelope_is_read_back_from_its_head():
    head = read_head(payload())

    assert head == EnvelopeHead("OMEN-0123456789AB", (1 << 32) | 1, GENESIS_HASH, 7, "create")


def test_the_contract_is_embedded_byte_for_byte_after_the_envelopes_own_fields():
    contract = b'{"b":1,"a":[2, 3]}'  # not canonical: kept as given, never re-encoded

    document = payload(contract_json=contract)

    assert document.endswith(b',"signal":' + contract + b"}")
    assert orjson.loads(document)["signal"] == {"b": 1, "a": [2, 3]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"operation": "upsert"}, "operation must be one of"), ({"contract_json": "[1]"}, "must be a JSON object")],
)
def test_an_envelope_that_would_not_read_back_is_never_built(changes, message):
    with pytest.raises(ValueError, match=message):
        payload(**changes)


def test_an_original_envelope_is_parsed_and_the_fields_it_lacks_are_none():
    original = orjson.dumps(
        {"schema_version": "1.0.0", "signal_id": "OMEN-0123456789AB", "signal": {}, "ledger_sequence": 5}
    )

    assert read_head(original) == EnvelopeHead("OMEN-0123456789AB", 5, None, None, None)


def test_head_fields_of_the_wrong_type_are_read_as_missing():
    odd = orjson.dumps(
        {"signal_id": "OMEN-1", "ledger_sequence": True, "prev_hash": 12, "outbox_id": "7", "operation": "upsert"}
    )

    assert read_head(odd) == EnvelopeHead("OMEN-1", None, None, None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "payload is not JSON"),
        (b"[1, 2]", "payload is not a JSON object"),
        (b'{"signal": {}}', "envelope has no signal_id"),
        (b'{"signal_id": ""}', "envelope has no signal_id"),
        (b'{"signal_id": 42}', "envelope has no signal_id"),
    ],
    ids=["not-json", "not-an-object", "no-signal-id", "empty-signal-id", "numeric-signal-id"],
)
def test_a_payload_that_is_no_envelope_is_refused(data, message):
    with pytest.raises(EnvelopeError, match=message):
        read_head(data)


def test_timestamps_are_utc_with_z_and_microseconds():
    moment = datetime(2026, 11, 20, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))

    assert format_timestamp(moment) == "2026-11-20T12:00:00.000005Z"
    assert format_timestamp(moment.astimezone(UTC)) == "2026-11-20T12:00:00.000005Z"


def test_a_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2026, 11, 20, 12))
