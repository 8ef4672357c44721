"""The one list of sources: for each, its parser and what polling it means.

``ingest_file`` parses a saved reply with a source's ``parser``; ``source_poll`` sends the
source's ``requests`` with ``fetch_json`` and parses each reply with the same parser (passing
the request's ``parse_options``); the beat schedule has one poll entry per source here.

Pure: reads the configuration it is given (Django's settings in practice), does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from signals.sources.news import parse_newsapi, parse_newsdata
from signals.sources.openmeteo import parse_forecast, parse_marine, parse_openmeteo
from signals.sources.polymarket import count_markets, parse_markets
from signals.sources.yahoo import parse_chart


@dataclass(frozen=True)
class SourceRequest:
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Extra keyword arguments for the parser (a port's name, a symbol's threshold).
    parse_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceDefinition:
    name: str
    # parser(payload, *, fetched_at, **parse_options) -> RawEvents and ParseFailures; raises
    # ValueError when the payload as a whole is not a reply of this source.
    parser: Callable[..., list]
    requests: Callable[[Any], list[SourceRequest]]
    # Why the source cannot be polled with this configuration (a missing key), or None.
    disabled_reason: Callable[[Any], str | None] = lambda config: None
    # follow_up(config, external_ids) -> the requests that fetch those of its things by id:
    # markets OMEN issued signals for that left the active list, to see how they ended.
    follow_up: Callable[[Any, list[str]], list[SourceRequest]] | None = None
    # records_in(payload) -> how many records the parser reads from it, counted without parsing
    # one (0 for a payload it refuses whole): the ingest API bounds a request's records by it.
    records_in: Callable[[Any], int] = lambda payload: 0
    # Its records' observed_at is a forecast's hour, ahead of the fetch by design (Open-Meteo's
    # worst hour to come); any other source's is a time that has passed.
    forecasts: bool = False
    # The record's field its observed_at is read from, to name in a rejection.
    observed_at_field: str = "observed_at"


def _polymarket_requests(config) -> list[SourceRequest]:
    return [
        SourceRequest(
            url=f"{config.POLYMARKET_GAMMA_API_URL.rstrip('/')}/markets",
            params={"active": "true", "closed": "false", "limit": config.POLYMARKET_MARKET_LIMIT},
        )
    ]


# Gamma takes ``id`` once per market; this many per request keeps the URL short.
FOLLOW_UP_IDS_PER_REQUEST = 50


def _polymarket_follow_up(config, external_ids: list[str]) -> list[SourceRequest]:
    """Closed markets by id: Gamma's active list drops a market once it closes.

    Gamma filters on ``closed=false`` unless told otherwise, even when asked by id.
    """
    url = f"{config.POLYMARKET_GAMMA_API_URL.rstrip('/')}/markets"
    step = FOLLOW_UP_IDS_PER_REQUEST
    return [
        SourceRequest(url=url, params={"id": external_ids[i : i + step], "closed": "true"})
        for i in range(0, len(external_ids), step)
    ]


def _openmeteo_requests(config) -> list[SourceRequest]:
    requests = []
    for name, (latitude, longitude) in config.OMEN_PORTS.items():
        where = {"latitude": latitude, "longitude": longitude, "timezone": "UTC", "forecast_days": 2}
        requests.append(
            SourceRequest(
                url=f"{config.OPENMETEO_API_URL.rstrip('/')}/forecast",
                params={**where, "hourly": "wind_speed_10m,weather_code", "wind_speed_unit": "kmh"},
                parse_options={"port": name, "kind": "forecast"},
            )
        )
        requests.append(
            SourceRequest(
                url=f"{config.OPENMETEO_MARINE_API_URL.rstrip('/')}/marine",
                params={**where, "hourly": "wave_height,swell_wave_height"},
                parse_options={"port": name, "kind": "marine"},
            )
        )
    return requests


def _parse_openmeteo(payload, *, fetched_at, port="", kind=None):
    """A polled reply is a forecast or a marine one, as its request says; a saved reply (no
    request) is told apart per location by its wave_height / swell_wave_height series."""
    parser = {"forecast": parse_forecast, "marine": parse_marine}.get(kind, parse_openmeteo)
    return parser(payload, fetched_at=fetched_at, port=port)


def _newsapi_requests(config) -> list[SourceRequest]:
    return [
        SourceRequest(
            url=f"{config.NEWSAPI_API_URL.rstrip('/')}/everything",
            params={"q": query, "language": "en", "sortBy": "publishedAt", "pageSize": 50},
            # In a header, not the URL, so it never lands in access logs.
            headers={"X-Api-Key": config.NEWSAPI_KEY},
        )
        for query in config.NEWS_QUERIES
    ]


def _newsdata_requests(config) -> list[SourceRequest]:
    return [
        SourceRequest(
            url=f"{config.NEWSDATA_API_URL.rstrip('/')}/latest",
            params={"apikey": config.NEWSDATA_KEY, "language": "en", "q": query},
        )
        for query in config.NEWS_QUERIES
    ]


def _yahoo_requests(config) -> list[SourceRequest]:
    return [
        SourceRequest(
            url=f"{config.YAHOO_CHART_API_URL.rstrip('/')}/{symbol}",
            params={"interval": "1d", "range": "5d"},
            parse_options={"thresholds": dict(config.STOCK_WATCHLIST)},
        )
        for symbol in config.STOCK_WATCHLIST
    ]


def _list_length(payload: Any, *keys: str) -> int:
    """The length of the array under ``keys`` (none: the payload itself), 0 where there is none."""
    for key in keys:
        payload = payload.get(key) if isinstance(payload, dict) else None
    return len(payload) if isinstance(payload, list) else 0


def _openmeteo_locations(payload: Any) -> int:
    return 1 if isinstance(payload, dict) else _list_length(payload)


def _needs(setting: str):
    def reason(config) -> str | None:
        return None if getattr(config, setting) else f"{setting} is not set: set it to poll this source"

    return reason


SOURCES: dict[str, SourceDefinition] = {
    "polymarket": SourceDefinition(
        "polymarket",
        parse_markets,
        _polymarket_requests,
        follow_up=_polymarket_follow_up,
        records_in=count_markets,
        observed_at_field="updatedAt",
    ),
    "openmeteo": SourceDefinition(
        "openmeteo", _parse_openmeteo, _openmeteo_requests, records_in=_openmeteo_locations, forecasts=True
    ),
    "newsapi": SourceDefinition(
        "newsapi",
        parse_newsapi,
        _newsapi_requests,
        _needs("NEWSAPI_KEY"),
        records_in=lambda payload: _list_length(payload, "articles"),
    ),
    "newsdata": SourceDefinition(
        "newsdata",
        parse_newsdata,
        _newsdata_requests,
        _needs("NEWSDATA_KEY"),
        records_in=lambda payload: _list_length(payload, "results"),
    ),
    "yahoo": SourceDefinition(
        "yahoo",
        parse_chart,
        _yahoo_requests,
        records_in=lambda payload: _list_length(payload, "chart", "result"),
        observed_at_field="timestamp",
    ),
}
