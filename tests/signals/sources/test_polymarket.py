from datetime import UTC, datetime

import pytest

from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.polymarket import parse_markets
from signals.sources.registry import SOURCES
from tests.support.recorded import recorded_json

FETCHED_AT = datetime(2026, 2, 8, 12, 0, tzinfo=UTC)


def load(name):
    return recorded_json(name)


def market(**overrides):
    record = {
        "id": "517310",
        "question": "Will the Red Sea close?",
        "description": "Shipping lanes.",
        "slug": "red-sea-close",
        "conditionId": "0xaf9d",
        "outcomePrices": '["0.045", "0.955"]',
        "liquidity": "19209.42167",
        "liquidityNum": 19209.42167,
        "volume": "1067832.94112",
        "volumeNum": 1067832.94112,
        "oneDayPriceChange": -0.002,
        "endDate": "2025-12-31T12:00:00Z",
        "updatedAt": "2026-02-07T20:57:04.974481Z",
    }
    record.update(overrides)
    for key in [k for k, v in record.items() if v is ...]:
        del record[key]
    return record


def one(record) -> RawEvent | ParseFailure:
    (result,) = parse_markets([record], fetched_at=FETCHED_AT)
    return result


def test_all_250_recorded_markets_parse_into_raw_events(capsys):
    results = parse_markets(load("polymarket_gamma_markets_active_part1.json"), fetched_at=FETCHED_AT)
    assert len(results) == 250
    assert all(isinstance(r, RawEvent) for r in results)
    assert capsys.readouterr() == ("", "")
    first = results[0]
    assert first.event_id == "polymarket-517310"
    assert first.probability == 0.045
    assert first.liquidity == 19209.42167
    assert first.url == "https://polymarket.com/event/will-trump-deport-less-than-250000"
    assert first.observed_at == datetime(2026, 2, 7, 20, 57, 4, 974481, tzinfo=UTC)
    assert first.resolution_date == datetime(2025, 12, 31, 12, tzinfo=UTC)
    assert first.trader_count is None


def test_events_reply_yields_its_four_nested_markets():
    results = parse_markets(load("polymarket_gamma_events_active_1event.json"), fetched_at=FETCHED_AT)
    assert [r.external_id for r in results] == ["516926", "824952", "692250", "692258"]
    assert all(isinstance(r, RawEvent) for r in results)
    assert results[0].liquidity == 0.0  # this market reports no liquidity at all
    single = parse_markets(load("polymarket_gamma_events_active_1event.json")[0], fetched_at=FETCHED_AT)
    assert [r.external_id for r in single] == ["516926", "824952", "692250", "692258"]


def test_field_mapping():
    event = one(market())
    assert (event.movement, event.market_id, event.volume) == (-0.002, "0xaf9d", 1067832.94112)
    assert event.description == "Shipping lanes."


def test_integer_id_missing_description_and_string_only_numbers_are_accepted():
    event = one(market(id=42, description=..., liquidityNum=..., volumeNum=..., liquidity="1500.5"))
    assert (event.external_id, event.description, event.liquidity, event.volume) == ("42", "", 1500.5, 1067832.94112)


def test_outcome_prices_as_a_real_list_is_accepted():
    assert one(market(outcomePrices=[0.3, 0.7])).probability == 0.3


def test_observed_at_falls_back_to_fetched_at_and_reparsing_is_deterministic():
    assert one(market(updatedAt=...)).observed_at == FETCHED_AT
    assert one(market()) == one(market())


@pytest.mark.parametrize(
    "overrides,field,shown",
    [
        ({"outcomePrices": '["0.045", "0.9'}, "outcomePrices", '["0.045", "0.9'),
        ({"outcomePrices": '{"yes": 0.4}'}, "outcomePrices", "yes"),
        ({"outcomePrices": "[]"}, "outcomePrices", "[]"),
        ({"outcomePrices": '["1.2", "-0.2"]'}, "outcomePrices", "1.2"),
        ({"outcomePrices": '["abc", "0.5"]'}, "outcomePrices", "abc"),
        ({"outcomePrices": '["NaN", "0.5"]'}, "outcomePrices", "NaN"),
        ({"outcomePrices": ...}, "outcomePrices", "missing"),
        ({"outcomePrices": 0.5}, "outcomePrices", "0.5"),
        ({"liquidityNum": -5.0}, "liquidityNum", "-5.0"),
        ({"liquidityNum": ..., "liquidity": "-1"}, "liquidity", "-1"),
        ({"liquidityNum": ..., "liquidity": "lots"}, "liquidity", "lots"),
        ({"volumeNum": [1]}, "volumeNum", "list"),
        ({"volumeNum": float("inf")}, "volumeNum", "inf"),
        ({"question": ...}, "question", "missing"),
        ({"question": 123}, "question", "int"),
        ({"question": "  "}, "question", "empty"),
        ({"description": {"a": 1}}, "description", "dict"),
        ({"id": ...}, "id", "None"),
        ({"id": True}, "id", "True"),
        ({"id": 1.5}, "id", "1.5"),
        ({"slug": 7}, "slug", "int"),
        ({"oneDayPriceChange": "0.1"}, "oneDayPriceChange", "0.1"),
        ({"endDate": "soon"}, "endDate", "soon"),
        ({"updatedAt": 1700000000}, "updatedAt", "1700000000"),
    ],
)
def test_malformed_field_is_a_parse_failure_naming_field_and_value(overrides, field, shown):
    result = one(market(**overrides))
    assert isinstance(result, ParseFailure)
    assert result.field == field
    assert field in result.reason and shown in result.reason
    assert result.source == "polymarket"
    assert len(result.excerpt) <= 500


def test_escape_sequences_bells_and_line_breaks_are_removed_from_every_text_field():
    """Whole ANSI and OSC sequences go, BEL goes, CR/LF becomes one space; nothing else changes."""
    event = one(
        market(
            id="\x1b[31m517310\x1b[0m",
            question="\x1b[1;31mWill the Red Sea\x07 close?\x1b[0m\r\nBy June",
            description="\x1b]0;pwned\x07Shipping lanes.\r\n\r\nSee rules.\x9b2J",
            slug="red-sea\x1b[Kclose\r\n",
            conditionId="0xaf9d\x07",
        )
    )

    assert isinstance(event, RawEvent)
    assert event.title == "Will the Red Sea close? By June"
    assert event.description == "Shipping lanes. See rules."
    assert event.url == "https://polymarket.com/event/red-seaclose"
    assert (event.external_id, event.event_id, event.market_id) == ("517310", "polymarket-517310", "0xaf9d")


def test_a_failure_shows_values_escaped_and_keys_cleaned():
    """A rejection's reason and excerpt carry no control character, whichever part of the record held one."""
    record = dict(market(question="\x1b[31mRed Sea\x07", outcomePrices="\x1b]0;x\x07"), **{"\x1b[31mnote\r\n": 1})

    failure = one(record)

    assert isinstance(failure, ParseFailure) and failure.field == "outcomePrices"
    assert "\\x1b" in failure.reason and "\x1b" not in failure.reason + failure.excerpt
    assert "note: 1" in failure.excerpt


def test_ten_megabyte_title_is_a_bounded_parse_failure():
    result = one(market(question="x" * 10_000_000))
    assert isinstance(result, ParseFailure) and result.field == "question"
    assert "10,000,000" in result.reason
    assert len(result.excerpt) <= 500 and len(result.reason) < 300


def test_question_at_the_limit_is_accepted():
    assert isinstance(one(market(question="x" * 10_000)), RawEvent)


def test_non_object_market_is_a_parse_failure_and_the_batch_goes_on():
    results = parse_markets(["oops", market()], fetched_at=FETCHED_AT)
    assert isinstance(results[0], ParseFailure) and isinstance(results[1], RawEvent)


@pytest.mark.parametrize("payload", ["[]", 42, None, b"{}"])
def test_payload_of_the_wrong_shape_raises_value_error_naming_the_expectation(payload):
    if payload == "[]":
        assert parse_markets([], fetched_at=FETCHED_AT) == []
        return
    with pytest.raises(ValueError, match="JSON array of markets or events"):
        parse_markets(payload, fetched_at=FETCHED_AT)


def test_registry_maps_polymarket_to_its_parser():
    assert SOURCES["polymarket"].parser is parse_markets
    assert SOURCES["polymarket"].parser([market()], fetched_at=FETCHED_AT)[0].external_id == "517310"
