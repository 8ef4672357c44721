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

import hashlib
import json
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt
from typing import NamedTuple

from . import vocab
from .ids import RULESET_VERSION
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
    strong: bool = False  # a strong risk term: the blocklist never vetoes a question holding one
    facility: bool = False  # a plant, port, mine...: where an incident is a supply-chain disruption
    economy: str | None = None  # the major economy the term names (a country, leader or central bank)
    not_national: bool = False  # a party's, a city's or a state's race ("nomination", "mayor")
    speech: bool = False  # "say", "mention", "endorse": a question may be about words, not events
    social_post: bool = False  # "tweet", "post about": a question about posts is about words
    veto: bool = False  # an operator's block term: vetoes even a question with a strong risk term
    weight: float = 1.0  # an operator's term may weigh more or less than a built-in one (1)

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


WATCH, BLOCK = "watch", "block"
# An operator's watch term of a risk category also counts as this logistics category, so that
# it can pass geographic_relevance as a built-in term of the category would.
OPERATOR_LOGISTICS = {
    "geopolitical": "geopolitical",
    "shipping": "shipping",
    "energy": "energy",
    "labor": "labor",
    "climate": "weather",
    "regulatory": "trade",
}


# The signal type an operator's watch term votes for, by its category.
OPERATOR_TYPES = {
    "geopolitical": SignalType.GEOPOLITICAL_CONFLICT,
    "shipping": SignalType.SHIPPING_ROUTE_RISK,
    "energy": SignalType.ENERGY_SUPPLY,
    "labor": SignalType.LABOR_DISRUPTION,
    "climate": SignalType.CLIMATE_EVENT,
    "regulatory": SignalType.REGULATORY_CHANGE,
    "political": SignalType.POLITICAL_POLICY,
    "macro": SignalType.POLITICAL_POLICY,
    "disruption": SignalType.SUPPLY_CHAIN_DISRUPTION,
}


def _copy_entry(entry: dict) -> dict:
    return {key: set(value) if isinstance(value, set) else value for key, value in entry.items()}


def _merge_entry(into: dict, other: dict) -> None:
    """What ``other`` counts for, added to ``into`` (its canonical spelling and weight kept)."""
    for key, value in other.items():
        if isinstance(value, set):
            into[key] |= value
        elif key in ("blocked", "strong", "facility", "not_national", "speech", "social_post") and value:
            into[key] = True
        elif key in ("location", "economy") and value is not None and into[key] is None:
            into[key] = value
        elif key == "impact" and value and not into[key]:
            into[key] = value


def _inner_entries(toks: tuple[str, ...], entries: dict[tuple[str, ...], dict]) -> list[dict]:
    """The built-in terms found inside a phrase, longest first at each position, no overlaps."""
    found, i = [], 0
    while i < len(toks):
        for size in range(len(toks) - i, 0, -1):
            entry = entries.get(toks[i : i + size])
            if entry is not None:
                found.append(entry)
                i += size
                break
        else:
            i += 1
    return found


class OperatorTerm(NamedTuple):
    """A term an operator added in the admin (signals.RelevanceTerm), merged over the built-ins."""

    term: str
    kind: str  # WATCH or BLOCK
    category: str  # a key of vocab.RISK_CATEGORIES (a watch term's); "" for a blocked term
    weight: float = 1.0


def _build_index(
    operator_terms: Iterable[OperatorTerm] = (),
) -> tuple[dict[str, tuple[tuple[tuple[str, ...], Term], ...]], int]:
    tags: dict[tuple[str, ...], dict] = {}

    def add(raw: str, key: str, value: object) -> None:
        forms = _variants(raw)
        canonical = " ".join(words(forms[0]))
        for form in forms:
            toks = tuple(words(form))
            if not toks:
                continue
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
                    "strong": False,
                    "facility": False,
                    "economy": None,
                    "not_national": False,
                    "speech": False,
                    "social_post": False,
                    "veto": False,
                    "weight": 1.0,
                },
            )
            if key in ("blocked", "strong", "facility", "not_national", "speech", "social_post", "veto"):
                entry[key] = True
            elif key in ("location", "impact", "economy", "weight"):
                entry[key] = value
            elif key == "unblocked":
                entry["blocked"] = False
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
    for economy, terms in vocab.MAJOR_ECONOMIES.items():
        for raw in terms:
            add(raw, "economy", economy)
    flags = (
        ("strong", vocab.STRONG_RISK_TERMS),
        ("facility", vocab.FACILITY_TERMS),
        ("not_national", vocab.NOT_NATIONAL_TERMS),
        ("speech", vocab.SPEECH_TERMS),
        ("social_post", vocab.SOCIAL_POST_TERMS),
    )
    for flag, terms in flags:
        for raw in terms:
            add(raw, flag, None)
    # Operators' terms last, merged over the built-ins. Matching takes the longest phrase, so an
    # operator's phrase would hide the built-in terms inside it ("taiwan strait" in "taiwan strait
    # crisis"): it inherits what they count for first, and adds its own.
    built_in = {toks: _copy_entry(entry) for toks, entry in tags.items()}
    for operator_term in operator_terms:
        for form in _variants(operator_term.term):
            for inner in _inner_entries(tuple(words(form)), built_in):
                _merge_entry(tags.setdefault(tuple(words(form)), _copy_entry(inner)), inner)
        if operator_term.kind == BLOCK:
            add(operator_term.term, "blocked", None)
            add(operator_term.term, "veto", None)
            continue
        add(operator_term.term, "unblocked", None)
        add(operator_term.term, "risk", operator_term.category)
        if operator_term.category in OPERATOR_LOGISTICS:
            add(operator_term.term, "logistics", OPERATOR_LOGISTICS[operator_term.category])
        add(operator_term.term, "types", OPERATOR_TYPES[operator_term.category])
        add(operator_term.term, "weight", float(operator_term.weight))

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
            strong=e["strong"],
            facility=e["facility"],
            economy=e["economy"],
            not_national=e["not_national"],
            speech=e["speech"],
            social_post=e["social_post"],
            veto=e["veto"],
            weight=e["weight"],
        )
        by_first.setdefault(toks[0], []).append((toks, term))
    index = {
        first: tuple(sorted(entries, key=lambda item: (-len(item[0]), item[0]))) for first, entries in by_first.items()
    }
    return index, len(tags)


def _json_default(value: object) -> object:
    return sorted(value) if isinstance(value, frozenset) else str(value)


def _vocabulary_digest(operator_terms: tuple[OperatorTerm, ...]) -> str:
    """SHA-256 of every table the index is built from, and of the operators' terms, sorted."""
    tables = {
        name: getattr(vocab, name)
        for name in sorted(dir(vocab))
        if name.isupper() and isinstance(getattr(vocab, name), (tuple, dict, frozenset, float, int, str))
    }
    document = {"built_in": tables, "operator": sorted(operator_terms)}
    text = json.dumps(document, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


class Vocabulary:
    """The compiled vocabulary: the built-in terms, with operators' terms merged over them.

    ``ruleset_version`` is what every signal decided by it records: the rules' release and a
    short hash of the merged vocabulary, so two signals decided by different vocabularies are
    told apart, and a replay with the same vocabulary is byte-identical.
    """

    def __init__(self, operator_terms: Iterable[OperatorTerm] = ()) -> None:
        self.operator_terms = tuple(sorted(set(operator_terms)))
        self.index, self.term_count = _build_index(self.operator_terms)
        self.first_words = frozenset(self.index)
        self.digest = _vocabulary_digest(self.operator_terms)
        self.ruleset_version = f"{RULESET_VERSION}+{self.digest[:8]}"

    def all_terms(self) -> Iterable[tuple[tuple[str, ...], Term]]:
        """Every (words, term) pair, longest first per word."""
        for first in sorted(self.index):
            yield from self.index[first]

    def match_words(self, toks: list[str]) -> list[Term]:
        """Terms found in ``toks``, in order; longest phrase wins, no overlaps."""
        firsts = self.first_words
        if firsts.isdisjoint(toks):
            return []
        found: list[Term] = []
        index = self.index
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

    def analyse(self, title: str, description: str, keywords: Iterable[str] = ()) -> TextAnalysis:
        return _analyse(self, title, description, keywords)


DEFAULT_VOCABULARY = Vocabulary()
TERM_COUNT = DEFAULT_VOCABULARY.term_count


def all_terms() -> Iterable[tuple[tuple[str, ...], Term]]:
    """Every (words, term) pair of the built-in vocabulary, longest first per word."""
    return DEFAULT_VOCABULARY.all_terms()


def match_words(toks: list[str]) -> list[Term]:
    return DEFAULT_VOCABULARY.match_words(toks)


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
    # The major economies the text names, sorted: political and macro terms count beside one.
    economies: tuple[str, ...] = ()
    # A party's, a city's or a state's race in the question: "political" does not count.
    not_national: bool = False
    # A question (title with "?") about what someone will say, mention or post.
    mention_question: bool = False
    # An incident (halt, outage, fire, arson...) and a facility (plant, port, mine...) together.
    facility_incident: bool = False
    # The weight of the strongest term naming a major economy, and of a facility: a conditional
    # category weighs as much as the strongest part of its condition ("Xi Jinping out before
    # 2027?" names the leader in the question, its description the office).
    economy_weight: float = 0.0
    facility_weight: float = 0.0

    def weights(self) -> dict[str, tuple[float, Term]]:
        return self.by_canonical


# A quoted word or phrase: 'tariff', "crypto", “Red Sea”; not the apostrophes of "Trump's ... Xi's".
_QUOTED = re.compile(
    r"(?<!\w)(?:'[^'\n]{1,60}'|\"[^\"\n]{1,60}\"|\u201c[^\u201d\n]{1,60}\u201d|\u2018[^\u2019\n]{1,60}\u2019)(?!\w)"
)
# "US" and "U.S." in capitals: lower-cased, "us" would be the pronoun too.
_US = re.compile(r"\bU\.?S\.?A?\b")
# The risk categories that read the economies a text names (rules.counted_categories, the scope).
_NEEDS_ECONOMY = frozenset({"political", "macro", "regulatory"})


def _about_words(title: str, title_terms: list[Term]) -> bool:
    """A question about what someone will say or post, not about what will happen.

    Posting is always about words. Saying is when the question quotes the words ("Will Trump say
    'tariff'?"), is set at a game or a show, or names nothing the analyst watches for itself:
    "Will the Supreme Court say the tariffs are illegal?" is about the ruling.
    """
    if "?" not in title:
        return False
    if any(term.social_post for term in title_terms):
        return True
    if not any(term.speech for term in title_terms):
        return False
    if _QUOTED.search(title) or any(term.blocked for term in title_terms):
        return True  # the words quoted, or said at a game or a show
    return not any(term.strong or term.all_chokepoints for term in title_terms)


def analyse(title: str, description: str, keywords: Iterable[str] = ()) -> TextAnalysis:
    """Match title (+ source keywords, full weight) and the cleaned description (built-in vocabulary)."""
    return _analyse(DEFAULT_VOCABULARY, title, description, keywords)


def _analyse(vocabulary: Vocabulary, title: str, description: str, keywords: Iterable[str]) -> TextAnalysis:
    title_words = words(title)
    for keyword in keywords:
        title_words.append("\x00")  # a keyword never joins a phrase with its neighbour
        title_words.extend(words(keyword))
    title_terms = vocabulary.match_words(title_words)
    if description:
        desc_terms = vocabulary.match_words(strip_boilerplate(description).translate(_BREAK_TABLE).split())
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
    economies: set[str] = set()
    economy_weight = facility_weight = 0.0
    incident = needs_economy = False
    for weight, term in by_canonical.values():
        if term.economy is not None:
            economies.add(term.economy)
            economy_weight = max(economy_weight, weight)
        if term.facility:
            facility_weight = max(facility_weight, weight)
        if term.risk:
            incident = incident or "disruption" in term.risk
            needs_economy = needs_economy or not _NEEDS_ECONOMY.isdisjoint(term.risk)
    # Only a category that a major economy conditions reads it: the regex scan is skipped otherwise.
    if needs_economy:
        if _US.search(title):
            economies.add("United States")
            economy_weight = TITLE_WEIGHT
        elif description and _US.search(description):
            economies.add("United States")
            economy_weight = max(economy_weight, DESCRIPTION_WEIGHT)
    return TextAnalysis(
        tuple(title_terms),
        tuple(desc_terms),
        by_canonical,
        occurrences,
        tuple(ranked),
        economies=tuple(sorted(economies)),
        not_national=any(term.not_national for term in title_terms),
        mention_question=_about_words(title, title_terms),
        facility_incident=incident and facility_weight > 0,
        economy_weight=economy_weight,
        facility_weight=facility_weight,
    )
