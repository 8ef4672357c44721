"""The hand-labelled relevance set: every recorded record, labelled by an analyst's judgement.

``tests/data/relevance_labels.csv`` (source, external_id, label, reason, title) was labelled by
reading each record against the analyst's brief (docs/pipeline.md, "Relevance"), before the
rules were tuned; a label is never changed to fit the rules. This module pairs each label with
the event the parsers make of the recorded reply, and scores the relevance verdicts against them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.support.recorded import (
    EVENTS,
    FORECAST,
    MARINE,
    MARKETS,
    MARKETS_FETCHED_AT,
    NEWSAPI,
    NEWSDATA,
    YAHOO_CASSETTE,
    recorded_json,
)

LABELS_CSV = Path(__file__).resolve().parents[1] / "data" / "relevance_labels.csv"
RELEVANT, NOT_RELEVANT = "relevant", "not_relevant"
# News and weather are judged as of when they were recorded, like the markets.
_NEWS_FETCHED_AT = datetime(2024, 5, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Label:
    source: str
    external_id: str
    relevant: bool
    reason: str
    title: str


@dataclass(frozen=True)
class Disagreement:
    label: Label
    predicted: bool
    rule: str
    reason: str


@dataclass
class Score:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def precision(self) -> float:
        kept = self.true_positive + self.false_positive
        return self.true_positive / kept if kept else 1.0

    @property
    def recall(self) -> float:
        relevant = self.true_positive + self.false_negative
        return self.true_positive / relevant if relevant else 1.0


def labels() -> list[Label]:
    with LABELS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        if row["label"] not in (RELEVANT, NOT_RELEVANT):
            raise ValueError(f"{LABELS_CSV}: label {row['label']!r} of {row['external_id']} is neither")
        out.append(Label(row["source"], row["external_id"], row["label"] == RELEVANT, row["reason"], row["title"]))
    return out


def recorded_events() -> dict[tuple[str, str], object]:
    """Every event the parsers make of the recorded replies, by (source, external id)."""
    from signals.sources.registry import SOURCES

    replies = [
        ("polymarket", MARKETS, MARKETS_FETCHED_AT),
        ("polymarket", EVENTS, MARKETS_FETCHED_AT),
        ("newsapi", NEWSAPI, _NEWS_FETCHED_AT),
        ("newsdata", NEWSDATA, _NEWS_FETCHED_AT),
        ("openmeteo", FORECAST, MARKETS_FETCHED_AT),
        ("openmeteo", MARINE, MARKETS_FETCHED_AT),
        ("yahoo", YAHOO_CASSETTE, MARKETS_FETCHED_AT),
    ]
    events = {}
    for source, name, fetched_at in replies:
        payload = recorded_json(name)
        if source == "yahoo":
            payload = payload["response"]["bodyJson"]
        for record in SOURCES[source].parser(payload, fetched_at=fetched_at):
            if hasattr(record, "title"):  # a RawEvent, not a ParseFailure
                events[(record.source, record.external_id)] = record
    return events


def score(judge: Callable) -> Score:
    """``judge(event)`` returns a verdict with ``relevant``, ``rule`` and ``reason``."""
    events = recorded_events()
    result = Score()
    for label in labels():
        event = events.get((label.source, label.external_id))
        if event is None:
            raise LookupError(f"labelled record {label.source}:{label.external_id} is not in the recorded replies")
        verdict = judge(event)
        if verdict.relevant and label.relevant:
            result.true_positive += 1
        elif verdict.relevant:
            result.false_positive += 1
        elif label.relevant:
            result.false_negative += 1
        else:
            result.true_negative += 1
        if verdict.relevant != label.relevant:
            result.disagreements.append(Disagreement(label, verdict.relevant, verdict.rule, verdict.reason))
    return result
