"""Enrich and classify: keywords, chokepoints, regions, signal type, impact hints."""

from __future__ import annotations

from dataclasses import dataclass

from . import vocab
from .text import TextAnalysis
from .types import Category, SignalType


@dataclass(frozen=True, slots=True)
class TypeProfile:
    """What the contract says about one signal type, as plain strings, computed at import."""

    signal_type: SignalType
    value: str  # signal_type.value
    category: Category
    category_value: str  # category.value
    domains: tuple[str, ...]  # sorted
    asset_types: tuple[str, ...]  # sorted
    negative: bool  # in vocab.NEGATIVE_TYPES


def _profile(signal_type: SignalType) -> TypeProfile:
    category = vocab.TYPE_CATEGORY[signal_type]
    return TypeProfile(
        signal_type=signal_type,
        value=signal_type.value,
        category=category,
        category_value=category.value,
        domains=tuple(sorted(vocab.TYPE_DOMAINS[signal_type])),
        asset_types=tuple(sorted(vocab.TYPE_ASSET_TYPES[signal_type])),
        negative=signal_type in vocab.NEGATIVE_TYPES,
    )


# Indexed by a type's position in SignalType (``Term.type_ranks``); the
# declaration order is also the classifier's tie-break order.
_PROFILES: tuple[TypeProfile, ...] = tuple(_profile(t) for t in SignalType)
_UNCLASSIFIED = _PROFILES[list(SignalType).index(SignalType.UNCLASSIFIED)]


@dataclass(frozen=True, slots=True)
class Enrichment:
    keywords: tuple[str, ...]  # sorted canonical terms
    chokepoints: tuple[str, ...]  # sorted
    regions: tuple[str, ...]  # sorted
    signal_type: SignalType
    type_hits: tuple[tuple[str, float], ...]  # (type, weighted hits), non-zero, by type order
    category: Category
    direction: str  # negative / positive / neutral / unknown
    profile: TypeProfile  # static data of ``signal_type`` (value, category, domains, ...)


def enrich(analysis: TextAnalysis) -> Enrichment:
    keywords: set[str] = set()
    chokepoints: set[str] = set()
    regions: set[str] = set()
    hits: dict[int, float] = {}  # type rank -> weighted hits
    negative = positive = 0.0
    for term, weight in analysis.occurrences.items():
        if term.keyword:
            keywords.add(term.canonical)
        if term.all_chokepoints:  # named ones and those near a named place
            chokepoints.update(term.all_chokepoints)
        if term.regions:
            regions.update(term.regions)
        for rank in term.type_ranks:
            hits[rank] = hits.get(rank, 0.0) + weight
        if term.impact < 0:
            negative += weight
        elif term.impact > 0:
            positive += weight

    ranks = sorted(hits)  # SignalType order
    profile = _UNCLASSIFIED
    best = 0.0
    for rank in ranks:  # strict ">" keeps the first type on a tie
        if hits[rank] > best:
            profile, best = _PROFILES[rank], hits[rank]

    if profile.negative:
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
        signal_type=profile.signal_type,
        type_hits=tuple([(_PROFILES[rank].value, hits[rank]) for rank in ranks]),
        category=profile.category,
        direction=direction,
        profile=profile,
    )


def impact_hints(enrichment: Enrichment) -> dict:
    profile = enrichment.profile
    return {
        "domains": list(profile.domains),
        "direction": enrichment.direction,
        "affected_asset_types": list(profile.asset_types),
        "keywords": list(enrichment.keywords),
    }
