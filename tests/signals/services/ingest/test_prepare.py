"""Ingest's pure step: records in, typed rows out, with no database."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

import orjson

from signals.pipeline import HistoryPoint
from signals.services.ingest.prepare import RECENT_HISTORY_POINTS, batch_prepare, refusal
from signals.services.rows import SignalRow
from tests.support.factories import ParseFailureFactory, RawEventFactory

START = datetime(2026, 11, 1, tzinfo=UTC)


def same(value):
    """The backend adapter's stand-in: rows keep Python values, so tests read them as they are."""
    return value


def prepare(records, history=None):
    return batch_prepare(list(records), {} if history is None else history, {}, same)


def comparable(prepared):
    """A batch's rows without the moment it was prepared."""
    return (
        prepared.source_events,
        [(key, row._replace(created_at=None)) for key, row in prepared.signals],
        prepared.points,
        sorted(row._replace(created_at=None) for row in prepared.rejections),
    )


def test_an_accepted_event_is_a_signal_row_whose_columns_repeat_its_contract():
    event = RawEventFactory()

    prepared = prepare([event])

    ((key, row),) = prepared.signals
    contract = orjson.loads(row.contract)
    assert key == (event.source, event.external_id)
    assert isinstance(row, SignalRow)
    assert (row.signal_id, row.title, row.probability) == (
        contract["signal_id"],
        contract["title"],
        contract["probability"],
    )
    assert (row.status, row.signal_type, row.confidence) == (
        contract["status"],
        contract["signal_type"],
        contract["confidence_score"],
    )
    assert row.observed_at == row.generated_at == event.observed_at  # a replay gives the same bytes
    assert prepared.observed_at == {row.signal_id: event.observed_at}
    assert (prepared.fetched, prepared.events, prepared.rejections) == (1, 1, [])


def test_the_order_records_arrive_in_does_not_change_the_rows():
    market = RawEventFactory.build_batch(1)[0]
    records = (
        [
            RawEventFactory(
                market=market.external_id, observed_at=START + timedelta(hours=n), probability=0.3 + n / 100
            )
            for n in range(8)
        ]
        + RawEventFactory.build_batch(5)
        + [ParseFailureFactory()]
    )
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)

    assert comparable(prepare(shuffled)) == comparable(prepare(records))


def test_a_later_event_of_a_market_is_judged_with_the_earlier_ones_of_the_same_batch():
    calm = RawEventFactory(movement=None, probability=0.30, observed_at=START)
    jump = RawEventFactory(market=calm.external_id, movement=None, probability=0.97, observed_at=START + timedelta(1))

    prepared = prepare([jump, calm])

    assert len(prepared.signals) == 1
    (rejection,) = prepared.rejections
    assert (rejection.rule, rejection.status) == ("anomaly_detection", "REJECTED_MANIPULATION_SUSPECTED")
    assert "probability change +0.6700" in rejection.reason
    assert prepared.rejected_by_status == {"REJECTED_MANIPULATION_SUSPECTED": 1}
    (event_row,) = prepared.source_events
    assert (event_row.last_probability, event_row.latest_signal_id) == (0.97, prepared.signals[0][1].signal_id)


def test_the_same_observation_twice_is_one_point_and_one_signal():
    event = RawEventFactory()

    prepared = prepare([event, event])

    assert len(prepared.points) == 1 and len(prepared.signals) == 1
    assert prepared.events == 2  # the second one is counted as unchanged by the summary


def test_a_record_that_did_not_parse_is_a_rejection_naming_its_field():
    failure = ParseFailureFactory(field="liquidity", reason="liquidity is negative: -5.0")

    prepared = prepare([failure])

    (row,) = prepared.rejections
    assert (row.stage, row.rule, row.status, row.field) == ("parse", "parse", "REJECTED_PARSE", "liquidity")
    assert row.reason == "liquidity is negative: -5.0"
    assert row.input_hash == hashlib.sha256(f"liquidity|{failure.reason}|{failure.excerpt}".encode()).hexdigest()
    assert prepared.signals == [] and prepared.events == 0


def test_a_source_events_stored_history_is_its_newest_points_within_the_window():
    first = RawEventFactory(observed_at=START)
    key = first.market_key
    old = [HistoryPoint(START - timedelta(days=30), 0.3, 1.0)]  # outside the 168 h window
    recent = [HistoryPoint(START - timedelta(minutes=m), 0.3, 1.0) for m in range(RECENT_HISTORY_POINTS + 5, 0, -1)]
    history = {key: old + recent}

    prepared = prepare([first], history)

    (row,) = prepared.source_events
    stored = orjson.loads(row.recent_history)
    assert len(stored) == RECENT_HISTORY_POINTS
    assert stored[-1][0] == START.timestamp()
    assert history[key][-1].observed_at == START  # the call's cache keeps what the database keeps
    assert len(history[key]) == RECENT_HISTORY_POINTS


def test_what_no_column_can_store_is_refused_naming_the_field():
    assert refusal(RawEventFactory()) is None
    assert refusal(RawEventFactory(title="Red Sea\x00closure")).field == "title"
    assert refusal(RawEventFactory(external_id="9" * 129)).field == "id"
    too_long = refusal(RawEventFactory(url="https://example.com/" + "x" * 1000))
    assert too_long.field == "url" and "at most 1000 are kept" in too_long.reason
