"""Property tests: whatever a Gamma reply holds, parsing and evaluating never raise."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals.pipeline import Accepted, Rejected, evaluate
from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.polymarket import parse_markets
from tests.support.recorded import RECORDED_DIR
from tests.support.strategies import json_values

FETCHED_AT = datetime(2026, 2, 8, tzinfo=UTC)
MARKET = json.loads((RECORDED_DIR / "polymarket_gamma_markets_active_part1.json").read_text())[0]
FIELDS = sorted(MARKET) + ["liquidityNum", "volumeNum", "oneDayPriceChange", "endDate"]

price_strings = st.lists(st.one_of(st.floats(), st.text(max_size=6), st.integers()), max_size=3).map(json.dumps)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.dictionaries(st.sampled_from(FIELDS), json_values | price_strings, min_size=1, max_size=4),
    removed=st.lists(st.sampled_from(FIELDS), max_size=3),
)
def test_any_mutated_market_parses_to_an_event_or_a_failure_naming_a_field(changes, removed):
    market = {k: v for k, v in MARKET.items() if k not in removed}
    market.update(changes)

    (record,) = parse_markets([market], fetched_at=FETCHED_AT)

    if isinstance(record, ParseFailure):
        assert record.field and record.field in record.reason
        assert len(record.excerpt) <= 2000
    else:
        assert isinstance(record, RawEvent)
        assert 0.0 <= record.probability <= 1.0
        assert record.liquidity >= 0 and record.volume >= 0
        assert isinstance(evaluate(record), Accepted | Rejected)


@settings(max_examples=100, deadline=None)
@given(payload=json_values)
def test_any_json_document_is_a_list_of_records_or_a_clear_value_error(payload):
    try:
        records = parse_markets(payload, fetched_at=FETCHED_AT)
    except ValueError as exc:
        assert str(exc)
    else:
        assert all(isinstance(r, RawEvent | ParseFailure) for r in records)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "0001-01-02T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_dates_outside_sane_years_are_a_failure_naming_the_field(value):
    market = dict(MARKET, updatedAt=value)

    (record,) = parse_markets([market], fetched_at=FETCHED_AT)

    assert isinstance(record, ParseFailure)
    assert record.field == "updatedAt"


def test_a_nul_in_the_question_is_a_failure_naming_the_field():
    (record,) = parse_markets([dict(MARKET, question="Red Sea\x00")], fetched_at=FETCHED_AT)

    assert isinstance(record, ParseFailure) and record.field == "question"


@pytest.mark.parametrize("field", ["oneDayPriceChange", "liquidityNum", "volumeNum"])
def test_an_integer_too_large_for_a_float_is_a_failure_naming_the_field(field):
    (record,) = parse_markets([dict(MARKET, **{field: 10**400})], fetched_at=FETCHED_AT)

    assert isinstance(record, ParseFailure) and record.field == field


def test_a_yes_price_too_large_for_a_float_is_a_failure():
    (record,) = parse_markets([dict(MARKET, outcomePrices=[10**400, 0])], fetched_at=FETCHED_AT)

    assert isinstance(record, ParseFailure) and record.field == "outcomePrices"
