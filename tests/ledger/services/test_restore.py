"""Restoring: a frame's envelope back into a Signal row and its SourceEvent, for replay and import."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ledger.services.restore import ContractError, restore_payload, restore_signal, signal_rows, source_events_restore
from signals.models import SourceEvent
from signals.models.contract import canonical_json
from signals.pipeline import Accepted, evaluate
from signals.public import signals_insert
from tests.support.factories import FixedEventFactory
from utilities.bulk_sql import datetime_adapter

EMITTED_AT = "2026-02-07T20:00:05.000000Z"


def envelope(**contract_changes) -> dict:
    """An envelope like the writer's (only the fields restoring reads), around a real contract."""
    decision = evaluate(FixedEventFactory())
    assert isinstance(decision, Accepted)
    contract = copy.deepcopy(decision.signal)
    for name, value in contract_changes.items():
        if value is None:
            contract.pop(name, None)
        else:
            contract[name] = value
    return {"signal_id": decision.signal_id, "emitted_at": EMITTED_AT, "signal": contract}


def test_a_contract_becomes_the_row_ingest_would_have_written():
    document = envelope()
    contract = document["signal"]

    restored = restore_payload(orjson.dumps(document))

    assert (restored.source, restored.external_id) == ("polymarket", "1001")
    assert restored.signal_id == contract["signal_id"]
    assert restored.row.source_event_id == "polymarket-1001"
    row = restored.row
    assert (row.probability, row.confidence) == (contract["probability"], contract["confidence_score"])
    assert restored.row.observed_at == FixedEventFactory().observed_at
    assert restored.row.created_at == datetime(2026, 2, 7, 20, 0, 5, tzinfo=UTC)
    assert restored.row.contract == canonical_json(contract)
    assert restored.url == contract["source_url"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "payload: is not JSON"),
        (b"[1, 2]", "payload: is not a JSON object"),
        (b'{"signal": "text"}', "signal: missing, or not a JSON object"),
    ],
)
def test_a_payload_that_is_no_envelope_is_refused_naming_what(payload, message):
    with pytest.raises(ContractError, match=message):
        restore_payload(payload)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"probability": 1.5}, "signal.probability", "1.5 is outside [0, 1]"),
        ({"probability": "high"}, "signal.probability", "must be a number"),
        ({"signal_type": "ALIENS"}, "signal.signal_type", "'ALIENS' is not one of"),
        ({"observed_at": "yesterday"}, "signal.observed_at", "not an ISO-8601 timestamp"),
        ({"title": "x" * 501}, "signal.title", "is 501 characters, the column holds 500"),
        ({"title": 42}, "signal.title", "must be text, not 42"),
        ({"ruleset_version": ""}, "signal.ruleset_version", "is empty"),
        ({"observed_at": 1770494400}, "signal.observed_at", "must be an ISO-8601 timestamp, not 1770494400"),
        ({"input_event_hash": 12345}, "signal.input_event_hash", "must be text, not 12345"),
        ({"status": None}, "signal.status", "missing"),
        ({"trace_id": "a\x00b"}, "signal.trace_id", "contains a NUL character"),
        ({"trace_id": "t" * 513}, "signal.trace_id", "is 513 characters, an id longer than 512 characters cannot"),
    ],
)
def test_a_field_the_columns_cannot_hold_is_refused_naming_the_field(changes, field, message):
    with pytest.raises(ContractError) as caught:
        restore_signal(envelope(**changes))

    assert caught.value.field == field
    assert message in str(caught.value)


def test_an_envelope_naming_another_signal_is_refused():
    document = envelope()
    document["signal_id"] = "OMEN-000000000000"

    with pytest.raises(ContractError, match="envelope says 'OMEN-000000000000'"):
        restore_signal(document)


def test_identity_fields_the_original_left_out_of_the_contract_come_from_its_envelope():
    document = envelope(trace_id=None, input_event_hash=None)
    document["deterministic_trace_id"] = "0123456789abcdef"
    document["input_event_hash"] = "sha256:" + "ab" * 32

    restored = restore_signal(document)

    assert restored.row.trace_id == "0123456789abcdef"
    assert restored.row.input_event_hash == "ab" * 32  # the column holds the hex, without the prefix


def test_a_source_event_id_whose_prefix_is_no_source_takes_the_source_from_probability_source():
    restored = restore_signal(envelope(source_event_id="stock-AAPL-2020110600", probability_source="Yahoo"))

    assert (restored.source, restored.external_id) == ("yahoo", "AAPL-2020110600")  # as Yahoo's parser names it


@pytest.mark.parametrize(
    ("source_event_id", "probability_source"),
    [("elsewhere-42", "Reuters"), ("frame-test", "test"), ("original-7", None), ("no dash at all", "polymarket ")],
)
def test_a_source_omen_does_not_poll_is_the_original_with_the_whole_source_event_id(
    source_event_id, probability_source
):
    restored = restore_signal(envelope(source_event_id=source_event_id, probability_source=probability_source))

    assert (restored.source, restored.external_id) == ("original", source_event_id)


def test_missing_times_fall_back_generated_at_to_observed_at_and_observed_at_to_the_envelope():
    from_contract = envelope(generated_at=None)
    from_envelope = envelope(generated_at=None, observed_at=None)
    from_envelope["observed_at"] = "2026-02-07T21:00:00Z"

    contract_observed = restore_signal(from_contract).row
    envelope_observed = restore_signal(from_envelope).row

    assert contract_observed.generated_at == contract_observed.observed_at == FixedEventFactory().observed_at
    assert envelope_observed.generated_at == envelope_observed.observed_at == datetime(2026, 2, 7, 21, tzinfo=UTC)
    with pytest.raises(ContractError, match="signal.observed_at: missing"):
        restore_signal(envelope(observed_at=None))


def test_what_the_contract_lacks_is_added_to_the_stored_contract_and_nothing_else_changes():
    document = envelope(trace_id=None, input_event_hash=None, generated_at=None, observed_at=None)
    document.update(
        deterministic_trace_id="trace-x", input_event_hash="sha256:" + "ab" * 32, observed_at="2026-02-07T21:00:00"
    )

    stored = orjson.loads(restore_signal(document).row.contract)

    assert stored == {
        **document["signal"],
        "trace_id": "trace-x",
        "input_event_hash": "ab" * 32,  # as a contract spells it
        "observed_at": "2026-02-07T21:00:00",  # the text it was given
        "generated_at": "2026-02-07T21:00:00",
    }
    assert restore_signal({"signal": stored, "emitted_at": EMITTED_AT}).row == restore_signal(document).row


def test_the_contracts_input_event_hash_wins_over_the_envelopes_and_loses_its_prefix():
    document = envelope(input_event_hash="sha256:0123456789abcdef")
    document["input_event_hash"] = "sha256:" + "f" * 64

    restored = restore_signal(document)

    assert restored.row.input_event_hash == "0123456789abcdef"
    assert orjson.loads(restored.row.contract)["input_event_hash"] == "sha256:0123456789abcdef"  # kept as written


def test_a_url_the_column_cannot_hold_is_left_out_and_the_signal_kept():
    restored = restore_signal(envelope(source_url="https://example.com/" + "x" * 2000))

    assert restored.url == ""


def moved(document: dict, *, hours: float, probability: float, title: str) -> dict:
    """The same market observed at another time: another signal of the same SourceEvent."""
    document = copy.deepcopy(document)
    contract = document["signal"]
    observed = datetime(2026, 2, 7, 20, tzinfo=UTC) + timedelta(hours=hours)
    contract["observed_at"] = contract["generated_at"] = observed.isoformat().replace("+00:00", "Z")
    contract["signal_id"] = document["signal_id"] = f"OMEN-{int(hours * 10) + 100:012X}"
    contract["probability"], contract["title"] = probability, title
    return document


@pytest.mark.django_db
def test_frames_out_of_time_order_move_their_source_event_only_forward():
    base = envelope()
    newer = restore_signal(moved(base, hours=2, probability=0.6, title="Newer title"))
    older = restore_signal(moved(base, hours=-3, probability=0.2, title="Older title"))
    to_db = datetime_adapter()

    for restored in (newer, older):
        signals_insert(signal_rows([restored], source_events_restore([restored], to_db), to_db))

    event = SourceEvent.objects.get(source="polymarket", external_id="1001")
    assert (event.title, event.last_probability, event.latest_signal_id) == ("Newer title", 0.6, newer.signal_id)
    assert event.last_seen_at == newer.row.observed_at
    assert event.first_seen_at == older.row.observed_at  # the earliest frame is the first sighting


@pytest.mark.django_db
def test_a_known_source_event_keeps_the_history_ingest_stored():
    history = "[[1770000000.0, 0.4, 100.0]]"
    SourceEvent.objects.create(
        source="polymarket",
        external_id="1001",
        title="Stored",
        first_seen_at=datetime(2026, 2, 1, tzinfo=UTC),
        last_seen_at=datetime(2026, 2, 1, tzinfo=UTC),
        recent_history=history,
    )
    restored = restore_signal(envelope())
    to_db = datetime_adapter()

    pks = source_events_restore([restored], to_db)
    signals_insert(signal_rows([restored], pks, to_db))

    event = SourceEvent.objects.get()
    assert pks == {("polymarket", "1001"): event.pk}
    assert event.recent_history == history
    assert event.title == restored.row.title and event.latest_signal_id == restored.signal_id


@pytest.mark.django_db
def test_signal_rows_pair_each_row_with_its_source_events_key():
    restored = restore_signal(envelope())
    to_db = datetime_adapter()

    ((event_pk, row),) = signal_rows([restored], {("polymarket", "1001"): 42}, to_db)

    assert event_pk == 42
    assert (row.signal_id, row.source_event_id, row.contract) == (
        restored.signal_id,
        "polymarket-1001",
        restored.row.contract,
    )
    assert row.observed_at == to_db(restored.row.observed_at) and row.created_at == to_db(restored.row.created_at)
