"""Enrich and classify: keywords, chokepoints, regions, signal type, impact hints."""

from __future__ import annotations

from dataclasses import dataclass

from . import vocab
from .text import NEAR_CHOKEPOINTS, TextAnalysis
from .types import Category, SignalType

_TYPE_ORDER = tuple(t for t in SignalType if t is not SignalType.UNCLASSIFIED)


@dataclass(frozen=True, slots=True)
class Enrichment:
    keywords: tuple[str, ...]  # sorted canonical terms
    chokepoints: tuple[str, ...]  # sorted
    regions: tuple[str, ...]  # sorted
    signal_type: SignalType
    type_hits: tuple[tuple[str, float], ...]  # (type, weighted hits), non-zero, by type order
    category: Category
    direction: str  # negative / positive / neutral / unknown


def enrich(analysis: TextAnalysis) -> Enrichment:
    keywords: set[str] = set()
    chokepoints: set[str] = set()
    regions: set[str] = set()
    hits: dict[SignalType, float] = {}
    negative = positive = 0.0
    for term, weight in analysis.occurrences.items():
        if term.risk or term.logistics or term.chokepoints or term.types:
            keywords.add(term.canonical)
        if term.chokepoints:
            chokepoints.update(term.chokepoints)
        if term.location:
            chokepoints.update(name for name, _km in NEAR_CHOKEPOINTS[term.location])
        if term.regions:
            regions.update(term.regions)
        for signal_type in term.types:
            hits[signal_type] = hits.get(signal_type, 0.0) + weight
        if term.impact < 0:
            negative += weight
        elif term.impact > 0:
            positive += weight

    signal_type = SignalType.UNCLASSIFIED
    best = 0.0
    for candidate in _TYPE_ORDER:  # strict ">" keeps the first type on a tie
        if hits.get(candidate, 0.0) > best:
            signal_type, best = candidate, hits[candidate]

    if signal_type in vocab.NEGATIVE_TYPES:
        direction = "negative"
    elif negative > positive:
        direction = "negative"
    elif positive > negative:
        direction = "positive"
    elif positive:
        direction = "neutral"
    else:
        direction = "unknown"

    return Enrichment(
        keywords=tuple(sorted(keywords)),
        chokepoints=tuple(sorted(chokepoints)),
        regions=tuple(sorted(regions)),
        signal_type=signal_type,
        type_hits=tuple((t.value, hits[t]) for t in _TYPE_ORDER if t in hits),
        category=vocab.TYPE_CATEGORY[signal_type],
        direction=direction,
    )


def impact_hints(enrichment: Enrichment) -> dict:
    return {
        "domains": sorted(vocab.TYPE_DOMAINS[enrichment.signal_type]),
        "direction": enrichment.direction,
        "affected_asset_types": sorted(vocab.TYPE_ASSET_TYPES[enrichment.signal_type]),
        "keywords": list(enrichment.keywords),
    }
