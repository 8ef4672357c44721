"""Replies the real services sent, read in place from ``../shared/fixtures/recorded``.

They are never copied into the repository; CI has ``../shared`` beside the checkout too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDED_DIR = ROOT.parent / "shared" / "fixtures" / "recorded"

MARKETS = "polymarket_gamma_markets_active_part1.json"
EVENTS = "polymarket_gamma_events_active_1event.json"
FORECAST = "openmeteo_v1_forecast_hourly_tampa.json"
MARINE = "openmeteo_v1_marine_hourly_tampa.json"
NEWSAPI = "newsapi_v2_everything_q_tesla_part1.json"
NEWSDATA = "newsdata_api1_latest_size5.json"
NEWSDATA_ERROR = "newsdata_api1_latest_error.json"
YAHOO_CASSETTE = "yahoo_v8_chart_AAPL_1d_2020-08-31_2020-11-07_cassette.json"

# When the recorded Polymarket markets are taken to have been fetched.
MARKETS_FETCHED_AT = datetime(2026, 2, 8, 12, 0, tzinfo=UTC)


def recorded_path(name: str) -> Path:
    assert RECORDED_DIR.is_dir(), f"recorded replies are missing: expected them in {RECORDED_DIR}"
    return RECORDED_DIR / name


def recorded_bytes(name: str) -> bytes:
    return recorded_path(name).read_bytes()


@cache
def _recorded_text(name: str) -> str:
    return recorded_path(name).read_text(encoding="utf-8")


def recorded_json(name: str):
    """A fresh decoded copy each call: tests may change what they get."""
    return json.loads(_recorded_text(name))


def recorded_markets():
    """The recorded Polymarket markets as the parser makes them (RawEvents and ParseFailures)."""
    from signals.sources.polymarket import parse_markets

    return parse_markets(recorded_json(MARKETS), fetched_at=MARKETS_FETCHED_AT)
