"""Whole-word, case-insensitive matching of the vocabularies, compiled at import.

Text is lower-cased and cut into words at every character that is neither a
letter nor a digit (one C-level ``str.translate`` + ``split``), then all
vocabularies are matched in a single left-to-right pass over the words, the
longest phrase first at each position. This is the same result as one regex
alternation ``\\b(?:longest|...|shortest)\\b`` over every term with
``[^a-z0-9]+`` between words, at about a third of its cost on a 1 KB text;
``tests/signals/pipeline/test_text.py`` checks the two agree on real data.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt

from . import vocab
from .types import SignalType

# Every ASCII punctuation/space and the common typographic marks become a word break.
_BREAKS = string.punctuation + string.whitespace + "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0\u00ab\u00bb"
_BREAK_TABLE = str.maketrans({c: " " for c in _BREAKS})


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (letters and digits, Unicode-aware)."""
    return text.lower().translate(_BREAK_TABLE).split()


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: one instance per phrase
class Term:
    canonical: str  # the vocabulary spelling, singular ("tariff")
    blocked: bool
    risk: tuple[str, ...]  # risk categories
    chokepoints: tuple[str, ...]
    location: str | None  # gazetteer key
    logistics: tuple[str, ...]
    regions: tuple[str, ...]
    types: tuple[SignalType, ...]
    impact: int  # -1 negative, +1 positive, 0 none
    # Derived at import from the fields above, so that the per-event code of
    # rules.py and enrich.py does table look-ups instead of rebuilding them.
    near: tuple[tuple[str, int], ...] = ()  # NEAR_CHOKEPOINTS[location], or ()
    all_chokepoints: tuple[str, ...] = ()  # chokepoints, then those near location
    keyword: bool = False  # reported in keywords_matched (risk/logistics/chokepoint/type term)
    type_ranks: tuple[int, ...] = ()  # positions of ``types`` in SignalType order
    # Reasoning fragments, indexed by "found in the question" (False/True):
    # "tariff (description only, x0.5)" / "tariff (question)".
    labels: tuple[str, str] = ("", "")
    # geographic_relevance evidence, same indexing: "'suez' names Suez Canal (question)", ...
    geo_evidence: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    @property
    def meaningful(self) -> bool:
        """True if the term feeds relevance (names and boilerplate do not)."""
        return bool(self.risk or self.chokepoints or self.logistics or self.location)


TITLE_WEIGHT = 1.0
DESCRIPTION_WEIGHT = 0.5
# How a weight is named in reasoning texts, by "found in the question".
WEIGHT_LABELS = {False: "description only, x0.5", True: "question"}


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    dp, dl = p2 - p1, radians(lon2 - lon1)
    a = sin(dp / 2) ** 2 + cos(p1) * cos(p2) * sin(dl / 2) ** 2
    return 2 * 6371.0 * asin(sqrt(a))


def _near_chokepoints() -> dict[str, tuple[tuple[str, float], ...]]:
    out = {}
    for place, (lat, lon) in vocab.LOCATIONS.items():
        near = []
        for name, (clat, clon, _terms) in sorted(vocab.CHOKEPOINTS.items()):
            km = haversine_km(lat, lon, clat, clon)
            if km <= vocab.PROXIMITY_KM:
                near.append((name, round(km)))
        out[place] = tuple(near)
    return out


# place -> ((chokepoint, km), ...) within PROXIMITY_KM, computed once.
NEAR_CHOKEPOINTS = _near_chokepoints()


def _variants(term: str) -> list[str]:
    for suffix in ("(es)", "(s)"):
        if term.endswith(suffix):
            base = term[: -len(suffix)]
            return [base, base + suffix[1:-1]]
    return [term]


def _build_index() -> tuple[dict[str, tuple[tuple[tuple[str, ...], Term], ...]], int]:
    tags: dict[tuple[str, ...], dict] = {}

    def add(raw: str, key: str, value: object) -> None:
        forms = _variants(raw)
        canonical = " ".join(words(forms[0]))
        for form in forms:
            toks = tuple(words(form))
            entry = tags.setdefault(
                toks,
                {
                    "canonical": canonical,
                    "blocked": False,
                    "risk": set(),
                    "chokepoints": set(),
                    "location": None,
                    "logistics": set(),
                    "regions": set(),
                    "types": set(),
                    "impact": 0,
                },
            )
            if key == "blocked":
                entry["blocked"] = True
            elif key == "location":
                entry["location"] = value
            elif key == "impact":
                entry["impact"] = value
            elif key != "neutral":
                entry[key].add(value)

    for raw in vocab.NEUTRAL_NAMES:
        add(raw, "neutral", None)
    for raw in vocab.SPORTS_ENTERTAINMENT_BLOCKLIST:
        add(raw, "blocked", None)
    for category, terms in vocab.RISK_CATEGORIES.items():
        for raw in terms:
            add(raw, "risk", category)
    for name, (_lat, _lon, terms) in vocab.CHOKEPOINTS.items():
        for raw in terms:
            add(raw, "chokepoints", name)
    for place in vocab.LOCATIONS:
        add(place, "location", place)
    for category, terms in vocab.LOGISTICS_TERMS.items():
        for raw in terms:
            add(raw, "logistics", category)
    for region, terms in vocab.REGIONS.items():
        for raw in terms:
            add(raw, "regions", region)
    for signal_type, terms in vocab.SIGNAL_TYPE_PATTERNS.items():
        for raw in terms:
            add(raw, "types", signal_type)
    for raw in vocab.NEGATIVE_IMPACT_WORDS:
        add(raw, "impact", -1)
    for raw in vocab.POSITIVE_IMPACT_WORDS:
        add(raw, "impact", 1)

    type_order = {t: i for i, t in enumerate(SignalType)}
    by_first: dict[str, list[tuple[tuple[str, ...], Term]]] = {}
    for toks, e in tags.items():
        canonical = e["canonical"]
        chokepoints = tuple(sorted(e["chokepoints"]))
        location = e["location"]
        near = NEAR_CHOKEPOINTS[location] if location else ()
        logistics = tuple(sorted(e["logistics"]))
        types = tuple(sorted(e["types"], key=type_order.__getitem__))
        labels = (f"{canonical} ({WEIGHT_LABELS[False]})", f"{canonical} ({WEIGHT_LABELS[True]})")
        geo_evidence = tuple(
            tuple(f"'{canonical}' names {name} ({label})" for name in chokepoints)
            + tuple(f"'{canonical}' lies {km} km from {name} ({label})" for name, km in near)
            for label in (WEIGHT_LABELS[False], WEIGHT_LABELS[True])
        )
        term = Term(
            canonical=canonical,
            blocked=e["blocked"],
            risk=tuple(sorted(e["risk"])),
            chokepoints=chokepoints,
            location=location,
            logistics=logistics,
            regions=tuple(sorted(e["regions"])),
            types=types,
            impact=e["impact"],
            near=near,
            all_chokepoints=chokepoints + tuple(name for name, _km in near),
            keyword=bool(e["risk"] or logistics or chokepoints or types),
            # UNCLASSIFIED can neither win the classification nor be reported.
            type_ranks=tuple(type_order[t] for t in types if t is not SignalType.UNCLASSIFIED),
            labels=labels,
            geo_evidence=geo_evidence,
        )
        by_first.setdefault(toks[0], []).append((toks, term))
    index = {
        first: tuple(sorted(entries, key=lambda item: (-len(item[0]), item[0]))) for first, entries in by_first.items()
    }
    return index, len(tags)


_INDEX, TERM_COUNT = _build_index()
_FIRST_WORDS = frozenset(_INDEX)


def all_terms() -> Iterable[tuple[tuple[str, ...], Term]]:
    """Every (words, term) pair of the compiled vocabulary, longest first per word."""
    for first in sorted(_INDEX):
        yield from _INDEX[first]


def match_words(toks: list[str]) -> list[Term]:
    """Terms found in ``toks``, in order; longest phrase wins, no overlaps."""
    firsts = _FIRST_WORDS
    if firsts.isdisjoint(toks):
        return []
    found: list[Term] = []
    index = _INDEX
    resume = 0
    for i in [i for i, tok in enumerate(toks) if tok in firsts]:
        if i < resume:
            continue
        for key, term in index[toks[i]]:
            size = len(key)
            if size == 1 or tuple(toks[i : i + size]) == key:
                found.append(term)
                resume = i + size
                break
    return found


def match(text: str) -> list[Term]:
    return match_words(words(text))


_NON_SPACE = re.compile(r"\S*")
_MARKERS = vocab.BOILERPLATE_SENTENCE_MARKERS


def strip_boilerplate(description: str) -> str:
    """Lower-cased description without URLs and resolution-rules sentences.

    Plain ``str.find`` scans: on this hot path they cost a third of a regex.
    """
    text = description.lower()
    cuts: list[tuple[int, int]] = []
    for scheme in ("http", "www."):
        at = text.find(scheme)
        while at != -1:
            end = _NON_SPACE.match(text, at).end()
            cuts.append((at, end))
            at = text.find(scheme, end)
    for marker in _MARKERS:
        at = text.find(marker)
        while at != -1:
            begin = max(text.rfind(". ", 0, at), text.rfind("\n", 0, at)) + 1
            dot = text.find(". ", at)
            newline = text.find("\n", at)
            if dot == -1:
                end = len(text) if newline == -1 else newline + 1
            else:
                end = dot + 1 if newline == -1 or dot < newline else newline + 1
            cuts.append((begin, end))
            at = text.find(marker, end)
    if not cuts:
        return text
    cuts.sort()
    pieces = []
    pos = 0
    for begin, end in cuts:
        if begin > pos:
            pieces.append(text[pos:begin])
        if end > pos:
            pos = end
    pieces.append(text[pos:])
    return " ".join(pieces)


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    """What the vocabularies found in an event: title terms weigh 1, description 0.5."""

    title_terms: tuple[Term, ...]
    description_terms: tuple[Term, ...]
    # canonical -> (weight, term): 1.0 if anywhere in the title, else 0.5.
    by_canonical: dict[str, tuple[float, Term]]
    # term -> weighted number of occurrences (title 1 each, description 0.5 each).
    occurrences: dict[Term, float]
    # ``by_canonical`` as (canonical, weight, in_title, term), sorted by canonical:
    # sorted once here for semantic_relevance and geographic_relevance.
    ranked: tuple[tuple[str, float, bool, Term], ...] = ()

    def weights(self) -> dict[str, tuple[float, Term]]:
        return self.by_canonical


def analyse(title: str, description: str, keywords: Iterable[str] = ()) -> TextAnalysis:
    """Match title (+ source keywords, full weight) and the cleaned description."""
    title_words = words(title)
    for keyword in keywords:
        title_words.append("\x00")  # a keyword never joins a phrase with its neighbour
        title_words.extend(words(keyword))
    title_terms = match_words(title_words)
    if description:
        desc_terms = match_words(strip_boilerplate(description).translate(_BREAK_TABLE).split())
    else:
        desc_terms = []
    by_canonical: dict[str, tuple[float, Term]] = {}
    occurrences: dict[Term, float] = {}
    for term in desc_terms:
        by_canonical[term.canonical] = (DESCRIPTION_WEIGHT, term)
        occurrences[term] = occurrences.get(term, 0.0) + DESCRIPTION_WEIGHT
    for term in title_terms:
        by_canonical[term.canonical] = (TITLE_WEIGHT, term)
        occurrences[term] = occurrences.get(term, 0.0) + TITLE_WEIGHT
    ranked = []
    for canonical in sorted(by_canonical):
        weight, term = by_canonical[canonical]
        ranked.append((canonical, weight, weight >= TITLE_WEIGHT, term))
    return TextAnalysis(tuple(title_terms), tuple(desc_terms), by_canonical, occurrences, tuple(ranked))
