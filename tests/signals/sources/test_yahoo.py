import copy
import json
from datetime import UTC, datetime

import pytest

from signals.pipeline import Accepted, PipelineContext, Rejected, evaluate
from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.registry import SOURCES
from signals.sources.yahoo import parse_chart, probability
from tests.support.recorded import RECORDED_DIR

CASSETTE = "yahoo_v8_chart_AAPL_1d_2020-08-31_2020-11-07_cassette.json"
FETCHED_AT = datetime(2020, 11, 7, 12, tzinfo=UTC)
LAST_BAR = datetime(2020, 11, 6, 14, 30, tzinfo=UTC)  # timestamp 1604673000


def body():
    """The reply body the cassette recorded (the parser takes {"chart": ...})."""
    return json.loads((RECORDED_DIR / CASSETTE).read_text(encoding="utf-8"))["response"]["bodyJson"]


def with_closes(symbol="AAPL", *, last=None, previous=None, tail=None):
    """The recorded chart, renamed to ``symbol``, with its last closes replaced."""
    payload = body()
    result = payload["chart"]["result"][0]
    result["meta"]["symbol"] = symbol
    closes = result["indicators"]["quote"][0]["close"]
    if previous is not None:
        closes[-2] = previous
    if last is not None:
        closes[-1] = last
    if tail is not None:
        closes[-len(tail) :] = tail
    return payload


def one(payload, **options) -> RawEvent | ParseFailure:
    (record,) = parse_chart(payload, fetched_at=FETCHED_AT, **options)
    return record


def failure(payload) -> ParseFailure:
    record = one(payload)
    assert isinstance(record, ParseFailure), record
    return record


# --------------------------------------------------------------------------- recorded reply


def test_recorded_aapl_chart_gives_one_no_spike_event_for_the_last_two_closes():
    event = one(body())

    assert isinstance(event, RawEvent)
    assert event.source == "yahoo"
    assert event.external_id == "AAPL-2020110614"
    assert event.event_id == "stock-AAPL-2020110614"
    assert event.observed_at == LAST_BAR
    # 119.03 -> 118.69 on 5-6 Nov 2020.
    assert event.attributes["change_pct"] == pytest.approx(
        (118.69000244140625 / 119.02999877929688 - 1) * 100, abs=1e-4
    )
    assert event.attributes["spike"] is False and event.attributes["severity"] == "none"
    assert event.title == "AAPL moved -0.3% (no spike)"
    assert event.probability == pytest.approx(0.5 + 0.02 * 0.2856, abs=1e-4)
    assert event.probability_is_estimate is True
    assert (event.liquidity, event.volume) == (0.0, 0.0)


def test_recorded_aapl_chart_is_rejected_by_the_pipeline_as_irrelevant():
    decision = evaluate(one(body()), PipelineContext())
    assert isinstance(decision, Rejected)
    assert decision.rule == "semantic_relevance"


def test_registered_parser_needs_only_fetched_at_and_is_deterministic():
    assert SOURCES["yahoo"].parser(body(), fetched_at=FETCHED_AT) == parse_chart(body(), fetched_at=FETCHED_AT)
    assert parse_chart(body(), fetched_at=FETCHED_AT) == parse_chart(
        body(), fetched_at=datetime(2030, 1, 1, tzinfo=UTC)
    )


# --------------------------------------------------------------------------- spikes


def test_aapl_fall_beyond_three_percent_is_a_moderate_spike():
    event = one(with_closes(previous=115.28, last=110.44))

    assert event.title == "AAPL (Apple Inc.) fell 4.2% to 110.44 USD (spike: threshold 3%)"
    assert event.attributes["severity"] == "moderate"
    assert event.probability == pytest.approx(0.5 + 0.02 * 4.1985 + 0.05, abs=1e-4)
    # Apple's share price carries no logistics-risk vocabulary: the pipeline decides it is irrelevant.
    assert isinstance(evaluate(event), Rejected)


def test_crude_oil_spike_is_accepted_as_an_energy_signal_and_a_small_move_is_rejected():
    spike = one(with_closes("CL=F", previous=40.0, last=37.6))  # -6 %: 1.5x the 4 % threshold
    assert spike.title == "CL=F (WTI crude oil futures) fell 6.0% to 37.60 USD (spike: threshold 4%)"
    assert spike.attributes["severity"] == "major"
    assert spike.probability == pytest.approx(0.5 + 0.12 + 0.10)
    decision = evaluate(spike)
    assert isinstance(decision, Accepted)
    assert decision.signal["signal_type"] == "ENERGY_SUPPLY"

    calm = one(with_closes("CL=F", previous=40.0, last=39.6))
    assert calm.title == "CL=F moved -1.0% (no spike)"
    assert "crude" not in (calm.title + calm.description).lower()
    assert isinstance(evaluate(calm), Rejected)


@pytest.mark.parametrize(
    ("change", "threshold", "expected", "severity"),
    [
        (0.0, 3, 0.5, "none"),
        (2.9, 3, 0.558, "none"),
        (3.0, 3, 0.5 + 0.06 + 0.05, "moderate"),
        (-4.5, 3, 0.5 + 0.09 + 0.10, "major"),
        (6.0, 3, 0.5 + 0.12 + 0.15, "extreme"),
        (20.0, 15, 0.5 + 0.2 + 0.05, "moderate"),
        (50.0, 3, 0.85, "extreme"),  # 0.5 + 0.2 + 0.15 = 0.85, the ceiling
    ],
)
def test_probability_is_half_plus_scaled_move_plus_severity_bonus(change, threshold, expected, severity):
    assert probability(change, threshold) == (pytest.approx(expected), severity)


def test_watchlist_thresholds_apply_by_symbol_and_can_be_replaced():
    payload = with_closes("^VIX", previous=30.0, last=33.0)  # +10 %, below the VIX 15 % threshold
    assert one(payload).attributes["threshold_pct"] == 15.0
    assert one(payload).attributes["spike"] is False
    custom = one(payload, thresholds={"^vix": 5.0})
    assert custom.attributes["threshold_pct"] == 5.0
    assert custom.attributes["severity"] == "extreme"


def test_invalid_thresholds_are_refused():
    with pytest.raises(ValueError, match="positive number"):
        parse_chart(body(), fetched_at=FETCHED_AT, thresholds={"AAPL": 0})


# --------------------------------------------------------------------------- nulls and malformed results


def test_null_closes_are_skipped_and_the_last_non_null_bar_is_observed():
    payload = with_closes(tail=[100.0, None, 110.0, None])
    event = one(payload)

    timestamps = payload["chart"]["result"][0]["timestamp"]
    assert event.observed_at == datetime.fromtimestamp(timestamps[-2], tz=UTC)
    assert event.attributes["change_pct"] == pytest.approx(10.0)
    assert event.external_id == f"AAPL-{event.observed_at:%Y%m%d%H}"


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (
            lambda r: r["indicators"]["quote"][0].update(close=[None] * 48 + [118.69]),
            "indicators.quote.close",
            "1 non-null close(s)",
        ),
        (lambda r: r["indicators"]["quote"][0].update(close=[None] * 49), "indicators.quote.close", "0 non-null"),
        (
            lambda r: r["indicators"]["quote"][0].update(close=[]) or r.update(timestamp=[]),
            "indicators.quote.close",
            "two are needed",
        ),
        (
            lambda r: r["indicators"]["quote"][0]["close"].pop(),
            "indicators.quote.close",
            "48 values but timestamp has 49",
        ),
        (
            lambda r: r["indicators"]["quote"][0]["close"].__setitem__(-1, "118.69"),
            "indicators.quote.close",
            "positive number",
        ),
        (
            lambda r: r["indicators"]["quote"][0]["close"].__setitem__(-1, 0),
            "indicators.quote.close",
            "positive number",
        ),
        (
            lambda r: r["indicators"]["quote"][0]["close"].__setitem__(-1, float("inf")),
            "indicators.quote.close",
            "positive",
        ),
        (lambda r: r["indicators"]["quote"][0].pop("close"), "indicators.quote.close", "must be a list"),
        (lambda r: r["indicators"].update(quote=[]), "indicators.quote.close", "must be a list"),
        (lambda r: r.pop("indicators"), "indicators.quote.close", "must be a list"),
        (lambda r: r.update(timestamp=None), "timestamp", "must be a list"),
        (lambda r: r["timestamp"].__setitem__(-1, "yesterday"), "timestamp", "unix seconds"),
        (lambda r: r["timestamp"].__setitem__(-1, 10**20), "timestamp", "impossible unix time"),
        (lambda r: r["timestamp"].__setitem__(-1, r["timestamp"][-2]), "timestamp", "not increasing"),
        (lambda r: r["meta"].pop("symbol"), "meta.symbol", "non-empty string"),
        (lambda r: r["meta"].update(symbol="A" * 10_000_000), "meta.symbol", "at most 30"),
        (lambda r: r["meta"].update(symbol=["AAPL"]), "meta.symbol", "non-empty string"),
        (lambda r: r.update(meta=None), "meta", "must be an object"),
    ],
)
def test_malformed_chart_result_is_a_parse_failure_naming_the_field(mutate, field, words):
    payload = body()
    mutate(payload["chart"]["result"][0])

    bad = failure(payload)

    assert (bad.source, bad.field) == ("yahoo", field)
    assert field in bad.reason and words in bad.reason
    assert len(bad.reason) < 500 and len(bad.excerpt) <= 500


def test_a_result_that_is_not_an_object_is_a_parse_failure():
    bad = failure({"chart": {"result": ["AAPL"], "error": None}})
    assert bad.field == "chart.result"


# --------------------------------------------------------------------------- error envelope and shapes


def test_chart_error_raises_value_error_with_its_description():
    payload = {
        "chart": {
            "result": None,
            "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
        }
    }
    with pytest.raises(ValueError, match="Not Found: No data found, symbol may be delisted"):
        parse_chart(payload, fetched_at=FETCHED_AT)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"response": {"bodyJson": {}}},  # a cassette must be unwrapped first
        {"chart": None},
        {"chart": {"result": [], "error": None}},
        {"chart": {"result": None, "error": None}},
    ],
)
def test_payload_that_is_not_a_chart_reply_raises_value_error(payload):
    with pytest.raises(ValueError, match="chart"):
        parse_chart(payload, fetched_at=FETCHED_AT)


def test_naive_fetched_at_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_chart(body(), fetched_at=datetime(2020, 11, 7))


def test_body_is_unchanged_by_parsing():
    payload = body()
    before = copy.deepcopy(payload)
    parse_chart(payload, fetched_at=FETCHED_AT)
    assert payload == before


# --------------------------------------------------------------------------- control characters


def test_symbol_names_and_currency_lose_escape_sequences_bells_and_line_breaks():
    """The title and description the parser writes from the reply's meta carry no control character."""
    payload = with_closes("\x1b[31mAAPL\x1b[0m\x07", previous=115.28, last=110.44)
    meta = payload["chart"]["result"][0]["meta"]
    meta.update(longName="\x1b]0;pwned\x07\x1b[1mApple\x07 Inc.\x1b[0m\r\n", currency="US\x9b2JD\r\n")

    event = one(payload)

    assert event.title == "AAPL (Apple Inc.) fell 4.2% to 110.44 USD (spike: threshold 3%)"
    assert event.description.startswith("Yahoo Finance daily chart of AAPL (Apple Inc.): close 110.44 on ")
    assert (event.url, event.market_id) == ("https://finance.yahoo.com/quote/AAPL", "AAPL")
    assert event.external_id.startswith("AAPL-") and event.attributes["currency"] == "USD"


def test_chart_error_is_raised_without_control_characters():
    payload = {"chart": {"result": None, "error": {"code": "Not\x07 Found", "description": "\x1b[31mNo data\r\nfound"}}}

    with pytest.raises(ValueError) as error:
        parse_chart(payload, fetched_at=FETCHED_AT)

    assert str(error.value) == "Yahoo chart error Not Found: No data found"
