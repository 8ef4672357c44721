"""Source parsers: decoded reply -> RawEvent / ParseFailure. HTTP clients live elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from signals.pipeline.events import ParseFailure, RawEvent

from .news import parse_newsapi, parse_newsdata
from .openmeteo import parse_openmeteo
from .polymarket import parse_markets
from .yahoo import parse_chart

Parser = Callable[..., list[RawEvent | ParseFailure]]

# source name -> parser(payload, *, fetched_at); other sources register here.
PARSERS: dict[str, Parser] = {
    "polymarket": parse_markets,
    "openmeteo": parse_openmeteo,  # forecast; a location with wave_height/swell_wave_height is parsed as marine
    "newsapi": parse_newsapi,
    "newsdata": parse_newsdata,
    "yahoo": parse_chart,
}


def parse(source: str, payload: Any, *, fetched_at: datetime) -> list[RawEvent | ParseFailure]:
    try:
        parser = PARSERS[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(sorted(PARSERS))}") from None
    return parser(payload, fetched_at=fetched_at)
