"""Every source polled against a real local server serving its recorded replies."""

import json

import pytest

from signals.models import Rejection, Signal, SourceRun
from signals.services.poll import source_poll
from signals.sources.http import FetchPolicy
from tests.support.recorded_server import Reply

pytestmark = pytest.mark.django_db
FAST = FetchPolicy(attempts=2, read_timeout=2, total_timeout=4, backoff_base=0.01, jitter=0)


def recorded(recorded_dir, name):
    return (recorded_dir / name).read_bytes()


def assert_every_record_is_a_signal_or_a_rejection(run, expected_records):
    assert run.outcome == SourceRun.Outcome.OK, run.error
    assert run.fetched == expected_records
    assert run.accepted + run.rejected + run.unchanged == expected_records
    assert Signal.objects.filter(source=run.source).count() == run.accepted
    rejections = Rejection.objects.filter(source=run.source)
    assert rejections.count() == run.rejected
    assert not rejections.filter(reason="").exists()


def test_openmeteo_polls_forecast_and_marine_for_each_watched_port(source_server, settings, recorded_dir):
    settings.OPENMETEO_API_URL = settings.OPENMETEO_MARINE_API_URL = source_server.url
    settings.OMEN_PORTS = {"Tampa": (27.95, -82.46)}
    source_server.route("/forecast", Reply(body=recorded(recorded_dir, "openmeteo_v1_forecast_hourly_tampa.json")))
    source_server.route("/marine", Reply(body=recorded(recorded_dir, "openmeteo_v1_marine_hourly_tampa.json")))

    run = source_poll(source="openmeteo", policy=FAST)

    assert_every_record_is_a_signal_or_a_rejection(run, 2)
    assert run.requests == 2
    paths = sorted(path for path, _ in source_server.requests)
    assert "latitude=27.95" in paths[0] and "hourly=wind_speed_10m" in paths[0]
    assert "hourly=wave_height" in paths[1]


def test_newsapi_sends_its_key_in_a_header(source_server, settings, recorded_dir):
    settings.NEWSAPI_API_URL, settings.NEWSAPI_KEY, settings.NEWS_QUERIES = source_server.url, "k-123", ["tesla"]
    source_server.route("/everything", Reply(body=recorded(recorded_dir, "newsapi_v2_everything_q_tesla_part1.json")))

    run = source_poll(source="newsapi", policy=FAST)

    assert_every_record_is_a_signal_or_a_rejection(run, 50)
    path, headers = source_server.requests[0]
    assert headers["X-Api-Key"] == "k-123" and "k-123" not in path


def test_newsdata_latest_articles(source_server, settings, recorded_dir):
    settings.NEWSDATA_API_URL, settings.NEWSDATA_KEY, settings.NEWS_QUERIES = source_server.url, "nd-key", ["port"]
    source_server.route("/latest", Reply(body=recorded(recorded_dir, "newsdata_api1_latest_size5.json")))

    run = source_poll(source="newsdata", policy=FAST)

    assert_every_record_is_a_signal_or_a_rejection(run, 5)


def test_newsdata_error_envelope_is_a_failed_run_naming_the_api_message(source_server, settings, recorded_dir):
    settings.NEWSDATA_API_URL, settings.NEWSDATA_KEY, settings.NEWS_QUERIES = source_server.url, "nd-key", ["port"]
    source_server.route("/latest", Reply(body=recorded(recorded_dir, "newsdata_api1_latest_error.json")))

    run = source_poll(source="newsdata", policy=FAST)

    assert run.outcome == SourceRun.Outcome.FAILED
    assert "UnsupportedParameter" in run.error


@pytest.mark.parametrize("source, setting", [("newsapi", "NEWSAPI_KEY"), ("newsdata", "NEWSDATA_KEY")])
def test_a_news_source_without_a_key_is_disabled_not_failing(source_server, settings, source, setting):
    setattr(settings, setting, "")

    run = source_poll(source=source, policy=FAST)

    assert run.outcome == SourceRun.Outcome.DISABLED
    assert f"{setting} is not set" in run.error
    assert source_server.requests == []


def test_yahoo_polls_each_watched_symbol(source_server, settings, recorded_dir):
    cassette = json.loads(recorded(recorded_dir, "yahoo_v8_chart_AAPL_1d_2020-08-31_2020-11-07_cassette.json"))
    settings.YAHOO_CHART_API_URL, settings.STOCK_WATCHLIST = source_server.url, {"AAPL": 3.0}
    source_server.route("/AAPL", Reply(body=json.dumps(cassette["response"]["bodyJson"]).encode()))

    run = source_poll(source="yahoo", policy=FAST)

    assert_every_record_is_a_signal_or_a_rejection(run, 1)
    assert "interval=1d" in source_server.requests[0][0]
