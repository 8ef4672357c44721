"""Builders of pipeline inputs for tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from signals.pipeline.events import HistoryPoint, RawEvent

RECORDED = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "recorded"
MARKETS_FILE = RECORDED / "polymarket_gamma_markets_active_part1.json"
EVENTS_FILE = RECORDED / "polymarket_gamma_events_active_1event.json"
FETCHED_AT = datetime(2026, 2, 8, 12, 0, tzinfo=UTC)
OBSERVED_AT = datetime(2026, 2, 7, 20, 0, tzinfo=UTC)


def make_event(**overrides) -> RawEvent:
    """A liquid, relevant, unremarkable Polymarket-like event; override any field."""
    fields = dict(
        source="polymarket",
        external_id="1001",
        event_id="polymarket-1001",
        title="Will Houthi attacks close the Red Sea to shipping by June?",
        description="Container lines have rerouted vessels around the Cape of Good Hope.",
        probability=0.42,
        observed_at=OBSERVED_AT,
        url="https://polymarket.com/event/red-sea",
        movement=0.01,
        market_id="0xabc",
        volume=250_000.0,
        liquidity=50_000.0,
        resolution_date=datetime(2026, 6, 30, 12, 0, tzinfo=UTC),
    )
    fields.update(overrides)
    return RawEvent(**fields)


def make_news(**overrides) -> RawEvent:
    attributes = {
        "domain": "reuters.com",
        "published_at": OBSERVED_AT - timedelta(hours=1),
    }
    attributes.update(overrides.pop("attributes", {}))
    fields = dict(
        source="newsapi",
        external_id="https://www.reuters.com/a",
        event_id="newsapi-a",
        title="Port strike halts container traffic at Rotterdam",
        description="Dockworkers walked out on Monday.",
        probability=0.6,
        probability_is_estimate=True,
        liquidity=0.0,
        volume=0.0,
        movement=None,
        attributes=attributes,
    )
    fields.update(overrides)
    return make_event(**fields)


def history(probabilities, *, volumes=None, end=OBSERVED_AT) -> list[HistoryPoint]:
    """Points one hour apart, the last one an hour before ``end``."""
    n = len(probabilities)
    volumes = volumes or [100_000.0] * n
    return [
        HistoryPoint(observed_at=end - timedelta(hours=n - i), probability=p, volume=v)
        for i, (p, v) in enumerate(zip(probabilities, volumes, strict=True))
    ]


@cache
def recorded_payload(path: Path = MARKETS_FILE):
    return json.loads(path.read_text(encoding="utf-8"))


def recorded_events():
    from signals.sources.polymarket import parse_markets

    return parse_markets(recorded_payload(), fetched_at=FETCHED_AT)
