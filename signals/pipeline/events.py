"""Typed values that flow through the pipeline. No Django import here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One observation of one external thing (a market, an article, a ticker).

    Produced by a source parser, consumed by the pipeline. ``observed_at`` is the
    time the observation describes (taken from the reply, so re-ingesting the
    same reply gives the same signal); it is excluded from ``input_event_hash``.
    """

    source: str  # "polymarket", "openmeteo", "newsapi", "newsdata", "yahoo"
    external_id: str  # the source's own id ("517310")
    event_id: str  # "polymarket-517310": the signal contract's source_event_id
    title: str
    description: str
    probability: float  # [0, 1]
    observed_at: datetime  # aware, UTC
    url: str = ""
    movement: float | None = None  # change of probability over the last day
    keywords: tuple[str, ...] = ()  # source-provided tags, sorted
    market_id: str = ""
    volume: float = 0.0
    liquidity: float = 0.0
    trader_count: int | None = None
    resolution_date: datetime | None = None
    probability_is_estimate: bool = False
    # "" while a market trades; "closed", "resolved" (closed with its prices at 0/1) or
    # "archived" once it no longer does; "ended" when its end date is past but it still trades,
    # awaiting its resolution. Such a market never yields an ACTIVE signal (rules.market_status_rule).
    closed_state: str = ""
    closed_at: datetime | None = None  # when it closed (or was due to), if the source says
    outcome: str | None = None  # the winning outcome's label, once the prices settled at 0/1
    # Source-specific extras the rules may read (news domain, published_at, ...).
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def market_key(self) -> str:
        """Key of this thing's probability history: source + external id."""
        return f"{self.source}:{self.external_id}"


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """A record of a source reply that could not become a RawEvent."""

    source: str
    external_id: str  # "" when the record has no usable id
    field: str  # the offending field, e.g. "outcomePrices"
    reason: str  # for people: names the field and the value
    excerpt: str  # bounded excerpt of the record


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One earlier observation of the same market (from ProbabilityPoint)."""

    observed_at: datetime
    probability: float
    volume: float = 0.0
