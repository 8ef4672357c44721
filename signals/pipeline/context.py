"""What the caller knows beyond the event itself (history, reliability, seen news)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import MappingProxyType

from .events import HistoryPoint
from .text import DEFAULT_VOCABULARY, Vocabulary

_EMPTY: Mapping = MappingProxyType({})

DEFAULT_SOURCE_RELIABILITY = 0.85


@dataclass(frozen=True)
class PipelineContext:
    """Inputs of ``evaluate`` other than the event; nothing here is global state.

    ``history`` maps ``RawEvent.market_key`` to that market's earlier points;
    ``seen_news_fingerprints`` holds fingerprints of news already ingested; ``tracked`` says
    whether OMEN observed this event's market before (it has a SourceEvent), which decides what
    a closed market becomes; ``vocabulary`` decides relevance and gives the ruleset version.
    """

    history: Mapping[str, Sequence[HistoryPoint]] = field(default_factory=lambda: _EMPTY)
    source_reliability: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    seen_news_fingerprints: AbstractSet[str] = frozenset()
    min_liquidity: float = 1000.0
    min_confidence: float = 0.3
    tracked: bool = False
    # The built-in terms, or the built-ins with an operator's terms merged over them.
    vocabulary: Vocabulary = DEFAULT_VOCABULARY

    def reliability(self, source: str) -> float:
        value = float(self.source_reliability.get(source, DEFAULT_SOURCE_RELIABILITY))
        return min(1.0, max(0.0, value))
