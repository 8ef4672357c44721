"""Property tests: whatever an Open-Meteo, news or Yahoo reply holds, parsing and evaluating never raise."""

import copy
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals.pipeline import Accepted, Rejected, evaluate
from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.news import parse_newsapi, parse_newsdata
from signals.sources.openmeteo import parse_forecast, parse_marine, parse_openmeteo
from signals.sources.yahoo import parse_chart
from tests.support.recorded import RECORDED_DIR
from tests.support.strategies import json_values

FETCHED_AT = datetime(2026, 7, 28, 12, tzinfo=UTC)


def load(name):
    return json.loads((RECORDED_DIR / name).read_text(encoding="utf-8"))


FORECAST = load("openmeteo_v1_forecast_hourly_tampa.json")
MARINE = load("openmeteo_v1_marine_hourly_tampa.json")
NEWSAPI_ARTICLE = load("newsapi_v2_everything_q_tesla_part1.json")["articles"][0]
NEWSDATA_ARTICLE = load("newsdata_api1_latest_size5.json")["results"][1]
CHART = load("yahoo_v8_chart_AAPL_1d_2020-08-31_2020-11-07_cassette.json")["response"]["bodyJson"]

# Values that look almost right: times, numbers as strings, series of the wrong length.
near_values = (
    st.sampled_from(["2026-07-28T13:00", "2026-07-28 13:00:00", "2024-07-20 08:19:00", "2024-02-12T15:57:26Z", ""])
    | st.lists(st.one_of(st.none(), st.floats(min_value=-10, max_value=200), st.integers(-5, 120)), max_size=5)
    | st.floats(min_value=-1e6, max_value=1e6)
)
values = json_values | near_values


def assert_record(record, source):
    if isinstance(record, ParseFailure):
        assert record.source == source
        assert record.field and record.field in record.reason
        assert len(record.reason) < 2000 and len(record.excerpt) <= 500
    else:
        assert isinstance(record, RawEvent)
        assert record.source == source
        assert 0.0 <= record.probability <= 1.0
        assert record.probability_is_estimate is True
        assert record.observed_at.tzinfo is not None
        assert record.event_id.endswith(record.external_id)
        assert isinstance(evaluate(record), Accepted | Rejected)


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- Open-Meteo

REPLY_FIELDS = ["latitude", "longitude", "utc_offset_seconds", "hourly", "hourly_units", "current", "current_units"]
FORECAST_SERIES = ["time", "windspeed_10m", "wind_speed_10m", "weather_code"]
MARINE_SERIES = ["time", "wave_height", "swell_wave_height"]


@pytest.mark.parametrize(
    ("base", "series", "parser"), [(FORECAST, FORECAST_SERIES, parse_forecast), (MARINE, MARINE_SERIES, parse_marine)]
)
@SETTINGS
@given(data=st.data())
def test_any_mutated_open_meteo_reply_parses_to_one_event_or_a_failure_naming_a_field(base, series, parser, data):
    reply = copy.deepcopy(base)
    reply.update(data.draw(st.dictionaries(st.sampled_from(REPLY_FIELDS), values, max_size=2), label="reply"))
    if isinstance(reply.get("hourly"), dict):
        hourly = reply["hourly"]
        hourly.update(data.draw(st.dictionaries(st.sampled_from(series), values, max_size=2), label="series"))
        for name, index, value in data.draw(
            st.lists(st.tuples(st.sampled_from(series), st.integers(0, 200), values), max_size=4), label="cells"
        ):
            if isinstance(hourly.get(name), list) and index < len(hourly[name]):
                hourly[name][index] = value

    for parse in (parser, parse_openmeteo):
        (record,) = parse(reply, fetched_at=FETCHED_AT, port="Tampa")
        assert_record(record, "openmeteo")


@SETTINGS
@given(payload=json_values)
def test_any_json_document_is_open_meteo_records_or_a_clear_value_error(payload):
    try:
        records = parse_openmeteo(payload, fetched_at=FETCHED_AT)
    except ValueError as exc:
        assert str(exc)
    else:
        for record in records:
            assert_record(record, "openmeteo")


# --------------------------------------------------------------------------- news


@SETTINGS
@given(
    changes=st.dictionaries(st.sampled_from(sorted(NEWSAPI_ARTICLE) + ["source"]), values, min_size=1, max_size=4),
    removed=st.lists(st.sampled_from(sorted(NEWSAPI_ARTICLE)), max_size=3),
)
def test_any_mutated_newsapi_article_parses_to_an_event_or_a_failure_naming_a_field(changes, removed):
    article = {k: v for k, v in NEWSAPI_ARTICLE.items() if k not in removed}
    article.update(changes)
    (record,) = parse_newsapi({"status": "ok", "articles": [article]}, fetched_at=FETCHED_AT)
    assert_record(record, "newsapi")


@SETTINGS
@given(
    changes=st.dictionaries(
        st.sampled_from(sorted(NEWSDATA_ARTICLE) + ["source_name"]), values, min_size=1, max_size=4
    ),
    removed=st.lists(st.sampled_from(sorted(NEWSDATA_ARTICLE)), max_size=3),
)
def test_any_mutated_newsdata_article_parses_to_an_event_or_a_failure_naming_a_field(changes, removed):
    article = {k: v for k, v in NEWSDATA_ARTICLE.items() if k not in removed}
    article.update(changes)
    (record,) = parse_newsdata({"status": "success", "results": [article]}, fetched_at=FETCHED_AT)
    assert_record(record, "newsdata")


@SETTINGS
@given(payload=json_values)
def test_any_json_document_is_news_records_or_a_clear_value_error(payload):
    for parser, source in ((parse_newsapi, "newsapi"), (parse_newsdata, "newsdata")):
        try:
            records = parser(payload, fetched_at=FETCHED_AT)
        except ValueError as exc:
            assert str(exc)
        else:
            for record in records:
                assert_record(record, source)


# --------------------------------------------------------------------------- Yahoo

RESULT_FIELDS = ["meta", "timestamp", "indicators"]
META_FIELDS = ["symbol", "currency", "longName", "shortName"]


@SETTINGS
@given(data=st.data())
def test_any_mutated_chart_result_parses_to_one_event_or_a_failure_naming_a_field(data):
    payload = copy.deepcopy(CHART)
    result = payload["chart"]["result"][0]
    result.update(data.draw(st.dictionaries(st.sampled_from(RESULT_FIELDS), values, max_size=1), label="result"))
    if isinstance(result.get("meta"), dict):
        result["meta"].update(
            data.draw(st.dictionaries(st.sampled_from(META_FIELDS), values, max_size=2), label="meta")
        )
    closes = None
    quotes = result["indicators"].get("quote") if isinstance(result.get("indicators"), dict) else None
    if isinstance(quotes, list) and quotes and isinstance(quotes[0], dict):
        closes = quotes[0].get("close")
    for series, index, value in data.draw(
        st.lists(st.tuples(st.sampled_from(["close", "timestamp"]), st.integers(40, 48), values), max_size=4),
        label="cells",
    ):
        target = closes if series == "close" else result.get("timestamp")
        if isinstance(target, list) and index < len(target):
            target[index] = value

    (record,) = parse_chart(payload, fetched_at=FETCHED_AT)
    assert_record(record, "yahoo")


@SETTINGS
@given(payload=json_values)
def test_any_json_document_is_chart_records_or_a_clear_value_error(payload):
    try:
        records = parse_chart(payload, fetched_at=FETCHED_AT)
    except ValueError as exc:
        assert str(exc)
    else:
        for record in records:
            assert_record(record, "yahoo")
