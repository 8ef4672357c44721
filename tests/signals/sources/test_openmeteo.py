import json
from datetime import UTC, datetime, timedelta

import pytest

from signals.pipeline import Accepted, PipelineContext, Rejected, evaluate
from signals.pipeline.events import ParseFailure, RawEvent
from signals.pipeline.ids import input_event_hash
from signals.sources.openmeteo import parse_forecast, parse_marine, parse_openmeteo
from signals.sources.registry import SOURCES
from tests.support.recorded import RECORDED_DIR

FORECAST_FILE = "openmeteo_v1_forecast_hourly_tampa.json"
MARINE_FILE = "openmeteo_v1_marine_hourly_tampa.json"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # long after the recorded week: no hour in the 48-h window


def load(name):
    return json.loads((RECORDED_DIR / name).read_text(encoding="utf-8"))


def forecast(**hourly):
    """A small forecast reply (times in UTC) with the given hourly series."""
    times = [f"2026-09-01T{h:02d}:00" for h in range(len(next(iter(hourly.values()), [])))]
    return {
        "latitude": 27.9506,
        "longitude": -82.4572,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "hourly_units": {"time": "iso8601", "wind_speed_10m": "km/h", "weather_code": "wmo code"},
        "hourly": {"time": times, **hourly},
    }


def marine(**hourly):
    reply = forecast(**hourly)
    reply["hourly_units"] = {"time": "iso8601", "wave_height": "m", "swell_wave_height": "m"}
    return reply


def one(records) -> RawEvent | ParseFailure:
    (record,) = records
    return record


def failure(records) -> ParseFailure:
    record = one(records)
    assert isinstance(record, ParseFailure), record
    return record


# --------------------------------------------------------------------------- recorded replies


def test_recorded_forecast_gives_one_calm_event_at_the_windiest_hour_converted_from_knots():
    event = one(parse_forecast(load(FORECAST_FILE), fetched_at=NOW, port="Tampa"))

    assert isinstance(event, RawEvent)
    # The windiest hour is 14.6 kn at 17:00 local (UTC-4) on 29 July.
    assert event.observed_at == datetime(2026, 7, 29, 21, tzinfo=UTC)
    assert event.attributes["wind"] == pytest.approx(14.6 * 1.852, abs=0.01)
    assert event.external_id == "forecast-27.89_-82.52-2026072921"
    assert event.event_id == "openmeteo-forecast-27.89_-82.52-2026072921"
    assert event.source == "openmeteo"
    assert event.probability == 0.1
    assert event.probability_is_estimate is True
    assert event.attributes["severe"] is False
    assert event.title == "Calm weather near 27.89, -82.52: wind up to 27.0 km/h"
    assert "Tampa" in event.description and "all 168 hours" in event.description


def test_recorded_forecast_is_rejected_by_the_pipeline_as_irrelevant():
    for port in ("", "Tampa"):
        decision = evaluate(one(parse_forecast(load(FORECAST_FILE), fetched_at=NOW, port=port)), PipelineContext())
        assert isinstance(decision, Rejected)
        assert decision.rule == "semantic_relevance"
        assert decision.status == "REJECTED_IRRELEVANT_SEMANTIC"


def test_recorded_marine_gives_one_calm_event_at_the_highest_wave_and_is_rejected():
    event = one(parse_marine(load(MARINE_FILE), fetched_at=NOW, port="Tampa"))

    assert isinstance(event, RawEvent)
    assert event.external_id == "marine-27.88_-82.46-2026080115"
    assert event.observed_at == datetime(2026, 8, 1, 15, tzinfo=UTC)  # 0.38 m at 11:00 local
    assert event.attributes["wave"] == 0.38
    assert event.title == "Calm sea near 27.88, -82.46: waves up to 0.38 m"
    assert event.probability == 0.1
    decision = evaluate(event)
    assert isinstance(decision, Rejected) and decision.rule == "semantic_relevance"


def test_registered_parser_detects_marine_replies_and_needs_only_fetched_at():
    forecast_event = one(SOURCES["openmeteo"].parser(load(FORECAST_FILE), fetched_at=NOW))
    marine_event = one(SOURCES["openmeteo"].parser(load(MARINE_FILE), fetched_at=NOW))

    assert forecast_event.attributes["kind"] == "forecast"
    assert marine_event.attributes["kind"] == "marine"
    assert marine_event == one(parse_marine(load(MARINE_FILE), fetched_at=NOW))


def test_same_reply_twice_gives_equal_events_and_hashes():
    first = parse_openmeteo(load(FORECAST_FILE), fetched_at=NOW, port="Tampa")
    second = parse_openmeteo(load(FORECAST_FILE), fetched_at=NOW, port="Tampa")
    assert first == second
    assert input_event_hash(first[0]) == input_event_hash(second[0])


def test_a_later_fetch_of_the_same_old_reply_gives_the_same_event():
    assert parse_forecast(load(FORECAST_FILE), fetched_at=NOW) == parse_forecast(
        load(FORECAST_FILE), fetched_at=NOW + timedelta(days=3)
    )


def test_only_the_48_hours_after_fetched_at_count_when_the_series_covers_them():
    reply = load(FORECAST_FILE)
    fetched_at = datetime(2026, 7, 31, 4, 30, tzinfo=UTC)  # 00:30 local on 31 July, after the windiest hour
    event = one(parse_forecast(reply, fetched_at=fetched_at))

    start = datetime(2026, 7, 31, 4, tzinfo=UTC)
    assert start <= event.observed_at < start + timedelta(hours=48)
    local = [datetime.fromisoformat(t).replace(tzinfo=UTC) + timedelta(hours=4) for t in reply["hourly"]["time"]]
    in_window = [
        w
        for t, w in zip(local, reply["hourly"]["windspeed_10m"], strict=True)
        if start <= t < start + timedelta(hours=48)
    ]
    assert len(in_window) == 48
    assert event.attributes["wind"] == pytest.approx(max(in_window) * 1.852, abs=0.01)
    assert max(in_window) < 14.6
    assert "48 hours in the next 48 h" in event.description


# --------------------------------------------------------------------------- severe conditions


def test_severe_forecast_is_titled_with_risk_words_and_accepted_as_a_climate_event():
    reply = forecast(wind_speed_10m=[20.0, 74.0, 30.0], weather_code=[3, 65, 61])
    event = one(parse_forecast(reply, fetched_at=datetime(2026, 9, 1, tzinfo=UTC), port="Tampa"))

    assert event.title == "Extreme weather at Tampa port: gale-force wind 74 km/h, heavy rain (code 65)"
    assert event.observed_at == datetime(2026, 9, 1, 1, tzinfo=UTC)
    assert event.probability == pytest.approx(0.5 + 0.45 * (74 - 50) / 50)  # wind exceedance 0.48 > code 0.25
    assert event.attributes["severe"] is True
    decision = evaluate(event)
    assert isinstance(decision, Accepted)
    assert decision.signal["signal_type"] == "CLIMATE_EVENT"
    assert decision.signal["probability_is_estimate"] is True


def test_severe_forecast_without_a_port_name_is_still_accepted():
    reply = forecast(wind_speed_10m=[20.0, 30.0], weather_code=[3, 95])
    event = one(parse_forecast(reply, fetched_at=datetime(2026, 9, 1, tzinfo=UTC)))

    assert event.title == "Extreme weather at 27.95, -82.46: thunderstorm (code 95)"
    assert event.probability == pytest.approx(0.5 + 0.45 * 0.5)
    assert isinstance(evaluate(event), Accepted)


def test_hurricane_force_wind_is_capped_at_probability_095():
    event = one(parse_forecast(forecast(wind_speed_10m=[150.0]), fetched_at=NOW))
    assert "hurricane-force wind 150 km/h" in event.title
    assert event.probability == 0.95


def test_calm_weather_at_a_port_named_like_a_chokepoint_is_still_rejected():
    event = one(parse_forecast(forecast(wind_speed_10m=[10.0, 12.0]), fetched_at=NOW, port="Suez"))

    assert "Suez" not in event.title
    assert "Suez" in event.description
    assert isinstance(evaluate(event), Rejected)


def test_watch_list_names_the_nearest_watched_port_when_no_port_is_given():
    watch = {"Tampa": (27.95, -82.45), "Houston": (29.75, -95.36)}
    event = one(parse_forecast(forecast(wind_speed_10m=[60.0]), fetched_at=NOW, watch=watch))
    assert event.title.startswith("Extreme weather at Tampa port:")
    far = one(parse_forecast(forecast(wind_speed_10m=[60.0]), fetched_at=NOW, watch={"Houston": (29.75, -95.36)}))
    assert far.attributes["port"] == ""


def test_dangerous_waves_are_titled_for_shipping_and_accepted():
    reply = marine(wave_height=[1.0, 5.0, 2.0], swell_wave_height=[0.5, 2.0, 1.0])
    event = one(parse_marine(reply, fetched_at=NOW, port="Tampa"))

    assert event.title == "Dangerous sea for shipping at Tampa port: waves 5.0 m, swell 2.0 m"
    assert event.probability == pytest.approx(0.5 + 0.45 * 0.25)
    assert event.observed_at == datetime(2026, 9, 1, 1, tzinfo=UTC)
    decision = evaluate(event)
    assert isinstance(decision, Accepted)


def test_dangerous_swell_alone_makes_the_sea_dangerous():
    event = one(parse_marine(marine(wave_height=[1.0], swell_wave_height=[6.0]), fetched_at=NOW))
    assert event.attributes["severe"] is True
    assert event.probability == pytest.approx(0.5 + 0.45 * 0.2)


def test_wave_heights_in_feet_are_converted_to_metres():
    reply = marine(wave_height=[14.0])
    reply["hourly_units"]["wave_height"] = "ft"
    event = one(parse_marine(reply, fetched_at=NOW))
    assert event.attributes["wave"] == pytest.approx(14 * 0.3048, abs=0.01)
    assert event.attributes["severe"] is True


def test_the_current_block_wins_over_the_hourly_series():
    reply = forecast(wind_speed_10m=[90.0])
    reply["current"] = {"time": "2026-09-02T10:15", "interval": 900, "wind_speed_10m": 12.0, "weather_code": 2}
    reply["current_units"] = {"wind_speed_10m": "km/h"}
    event = one(parse_forecast(reply, fetched_at=NOW))

    assert event.observed_at == datetime(2026, 9, 2, 10, 15, tzinfo=UTC)
    assert event.attributes["severe"] is False
    assert "current conditions" in event.description


def test_unix_times_are_read_as_utc():
    reply = forecast(wind_speed_10m=[10.0, 11.0])
    reply["hourly"]["time"] = [1_788_220_800, 1_788_224_400]
    event = one(parse_forecast(reply, fetched_at=NOW))
    assert event.observed_at == datetime.fromtimestamp(1_788_224_400, tz=UTC)


def test_each_location_of_a_multi_location_reply_gives_its_own_record():
    good = forecast(wind_speed_10m=[10.0])
    bad = forecast(wind_speed_10m=[10.0])
    del bad["latitude"]
    records = parse_forecast([good, bad, "nonsense"], fetched_at=NOW)

    assert [type(r) for r in records] == [RawEvent, ParseFailure, ParseFailure]
    assert records[1].field == "latitude"
    assert records[2].field == "location"


# --------------------------------------------------------------------------- malformed replies


def test_nulls_inside_a_series_are_skipped():
    reply = forecast(wind_speed_10m=[10.0, None, 30.0], weather_code=[1, 2, None])
    reply["hourly"]["time"][0] = None
    event = one(parse_forecast(reply, fetched_at=NOW))
    assert event.attributes["wind"] == 30.0
    assert "weather_code" not in event.attributes and "code" not in event.attributes


def test_recorded_forecast_with_its_windiest_hour_nulled_picks_the_next_windiest():
    reply = load(FORECAST_FILE)
    reply["hourly"]["windspeed_10m"][65] = None
    event = one(parse_forecast(reply, fetched_at=NOW))
    assert isinstance(event, RawEvent)
    assert event.observed_at != datetime(2026, 7, 29, 21, tzinfo=UTC)
    assert event.attributes["wind"] < 14.6 * 1.852


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda r: r["hourly"].pop("time"), "hourly.time", "must be a list"),
        (lambda r: r["hourly"].update(time="2026-09-01T00:00"), "hourly.time", "must be a list"),
        (lambda r: r["hourly"].update(time=[]), "hourly.time", "is empty"),
        (lambda r: r["hourly"]["time"].__setitem__(1, "yesterday"), "hourly.time", "not ISO-8601"),
        (lambda r: r["hourly"]["time"].__setitem__(1, ["x"]), "hourly.time", "ISO-8601"),
        (lambda r: r["hourly"]["time"].__setitem__(1, "x" * 10_000_000), "hourly.time", "ISO-8601"),
        (lambda r: r["hourly"]["time"].__setitem__(1, 10**20), "hourly.time", "impossible unix time"),
        (lambda r: r["hourly"]["wind_speed_10m"].pop(), "hourly.wind_speed_10m", "has 2 values but hourly.time has 3"),
        (lambda r: r["hourly"].update(wind_speed_10m=None), "hourly.wind_speed_10m", "must be a list"),
        (lambda r: r["hourly"]["wind_speed_10m"].__setitem__(0, "fast"), "hourly.wind_speed_10m", "numbers or nulls"),
        (lambda r: r["hourly"]["wind_speed_10m"].__setitem__(0, float("nan")), "hourly.wind_speed_10m", "numbers"),
        (lambda r: r["hourly"]["wind_speed_10m"].__setitem__(0, True), "hourly.wind_speed_10m", "numbers"),
        (lambda r: r["hourly"]["wind_speed_10m"].__setitem__(0, -5), "hourly.wind_speed_10m", "negative"),
        (lambda r: r["hourly"]["weather_code"].__setitem__(0, 6.5), "hourly.weather_code", "WMO codes"),
        (lambda r: r["hourly"]["weather_code"].__setitem__(0, 300), "hourly.weather_code", "WMO codes"),
        (
            lambda r: r["hourly"].update(wind_speed_10m=[None] * 3, weather_code=[None] * 3),
            "hourly.wind_speed_10m",
            "only nulls",
        ),
        (lambda r: r.pop("hourly"), "hourly", "must be an object"),
        (lambda r: r.update(hourly=[1, 2]), "hourly", "must be an object"),
        (
            lambda r: r["hourly"].pop("wind_speed_10m") and r["hourly"].pop("weather_code"),
            "hourly",
            "no wind_speed_10m or weather_code",
        ),
        (
            lambda r: r["hourly_units"].update(wind_speed_10m="furlongs"),
            "hourly_units.wind_speed_10m",
            "must be one of",
        ),
        (lambda r: r.update(latitude="27.9"), "latitude", "must be a number"),
        (lambda r: r.update(longitude=200.0), "longitude", "within [-180, 180]"),
        (lambda r: r.update(latitude=None), "latitude", "must be a number"),
        (lambda r: r.update(utc_offset_seconds="-4h"), "utc_offset_seconds", "integer"),
        (lambda r: r.update(current="now"), "current", "must be an object"),
        (lambda r: r.update(current={"wind_speed_10m": 80}), "current.time", "missing"),
        (
            lambda r: r.update(current={"time": "2026-09-01T00:00", "wind_speed_10m": "x"}),
            "current.wind_speed_10m",
            "numbers",
        ),
    ],
)
def test_malformed_forecast_is_a_parse_failure_naming_the_field(mutate, field, words):
    reply = forecast(wind_speed_10m=[10.0, 20.0, 30.0], weather_code=[1, 2, 3])
    mutate(reply)

    bad = failure(parse_forecast(reply, fetched_at=NOW))

    assert bad.field == field
    assert field in bad.reason and words in bad.reason
    assert bad.source == "openmeteo"
    assert len(bad.reason) < 500 and len(bad.excerpt) <= 500


def test_truncated_recorded_marine_series_is_a_parse_failure():
    reply = load(MARINE_FILE)
    reply["hourly"]["wave_height"] = reply["hourly"]["wave_height"][:100]
    bad = failure(parse_marine(reply, fetched_at=NOW))
    assert bad.field == "hourly.wave_height"
    assert bad.external_id == "marine-27.88_-82.46"
    assert "100 values but hourly.time has 168" in bad.reason


def test_forecast_reply_given_to_the_marine_parser_is_a_parse_failure_naming_hourly():
    bad = failure(parse_marine(load(FORECAST_FILE), fetched_at=NOW))
    assert bad.field == "hourly"
    assert "wave_height" in bad.reason


@pytest.mark.parametrize("payload", ["text", 42, None, True])
def test_payload_that_is_not_a_reply_raises_value_error(payload):
    with pytest.raises(ValueError, match="JSON object"):
        parse_forecast(payload, fetched_at=NOW)


def test_open_meteo_error_envelope_raises_value_error_with_its_reason():
    with pytest.raises(ValueError, match="Latitude must be in range"):
        parse_openmeteo(
            {"error": True, "reason": "Latitude must be in range of -90 to 90°. Given: 100.0."}, fetched_at=NOW
        )


def test_naive_fetched_at_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_forecast(load(FORECAST_FILE), fetched_at=datetime(2026, 1, 1))


# --------------------------------------------------------------------------- control characters


def test_a_port_name_with_escape_sequences_bells_and_line_breaks_reaches_the_title_clean():
    """Open-Meteo's reply supplies only numbers and times; the place name is the only text that reaches
    its title and description, and it is cleaned like any source text."""
    reply = forecast(wind_speed_10m=[74.0], weather_code=[65])

    event = one(parse_forecast(reply, fetched_at=NOW, port="\x1b[31mTampa\x1b[0m\x07\r\nBay\x1b]0;pwned\x07"))

    assert event.title == "Extreme weather at Tampa Bay port: gale-force wind 74 km/h, heavy rain (code 65)"
    assert event.description.startswith("Open-Meteo forecast for Tampa Bay (27.95, -82.46), ")
    assert event.attributes["port"] == "Tampa Bay"


def test_a_watched_ports_name_is_cleaned_too():
    watch = {"\x1b[1mTampa\x07\r\n": (27.95, -82.45)}

    event = one(parse_marine(marine(wave_height=[6.0]), fetched_at=NOW, watch=watch))

    assert event.title == "Dangerous sea for shipping at Tampa port: waves 6.0 m"
    assert event.attributes["port"] == "Tampa"
