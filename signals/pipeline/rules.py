"""Validation rules: each takes (event, text analysis, context) and returns a RuleResult.

Rules are pure: no clock, no I/O, no state between calls. Weights: a term in the
question/title counts 1, a term found only in the description counts 0.5, and
Polymarket's resolution-rules boilerplate and multi-word names count 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from math import exp, log, sqrt
from typing import Any, NamedTuple

from . import vocab
from .context import PipelineContext
from .events import HistoryPoint, RawEvent
from .ids import news_fingerprint, normalise_domain
from .text import TITLE_WEIGHT, WEIGHT_LABELS, TextAnalysis
from .types import RuleStatus

_PASSED = RuleStatus.PASSED


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_name: str
    rule_version: str
    status: RuleStatus
    score: float  # rounded to 4 decimals
    reasoning: str
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is _PASSED


def _r4(value: float) -> float:
    return round(value, 4)


def _fmt_weight(weight: float) -> str:
    return WEIGHT_LABELS[weight >= TITLE_WEIGHT]


# --------------------------------------------------------------------------- market status

MARKET_STATUS = ("market_status", "1.0.0")
_CLOSED_STATES = {
    "closed": "closed",
    "resolved": "resolved",
    "archived": "archived",
    "ended": "past its end date",
}


def describe_closure(event: RawEvent) -> str:
    """'resolved on 2026-01-05 04:22 UTC with outcome "No"' and the like."""
    text = _CLOSED_STATES.get(event.closed_state, event.closed_state)
    if event.closed_at is not None:
        text += f" {'on' if event.closed_state != 'ended' else 'since'} {event.closed_at:%Y-%m-%d %H:%M} UTC"
    if event.outcome is not None:
        text += f" with outcome {event.outcome!r}"
    return text


def market_status_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    """A market that no longer trades, or is past its end date, is never a live signal.

    If OMEN tracked it (issued it a signal) while it traded, the observation passes on to the
    other rules: a closed market's becomes a RESOLVED signal recording how it ended, an ended
    one's a MONITORING signal until it closes. Otherwise it is a "market closed" rejection.
    """
    params = {
        "state": event.closed_state,
        "closed_at": event.closed_at.isoformat() if event.closed_at is not None else None,
        "outcome": event.outcome,
        "tracked": ctx.tracked,
    }
    described = describe_closure(event)
    if not ctx.tracked:
        return RuleResult(
            *MARKET_STATUS,
            RuleStatus.REJECTED_MARKET_CLOSED,
            0.0,
            f"Market closed: {described}, and OMEN never tracked it while it traded.",
            params,
        )
    recorded = "MONITORING until it closes" if event.closed_state == "ended" else "RESOLVED"
    return RuleResult(
        *MARKET_STATUS,
        _PASSED,
        1.0,
        f"Market {described}; OMEN tracked it, so this observation is recorded as {recorded}.",
        params,
    )


# --------------------------------------------------------------------------- liquidity

LIQUIDITY = ("liquidity", "1.0.0")


def liquidity_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    minimum = ctx.min_liquidity
    liquidity = event.liquidity
    params = {"liquidity": round(liquidity, 2), "min_liquidity": minimum}
    if liquidity >= minimum:
        score = 1.0 if minimum <= 0 else liquidity / (10 * minimum)
        # min(1, score) rounded; 1.0 needs no round() (which costs a decimal conversion).
        score = 1.0 if score >= 1.0 else round(score, 4)
        return RuleResult(
            *LIQUIDITY,
            _PASSED,
            score,
            f"Liquidity ${liquidity:,.2f} meets the ${minimum:,.2f} minimum; "
            f"score = min(1, liquidity / (10 x minimum)).",
            params,
        )
    return RuleResult(
        *LIQUIDITY,
        RuleStatus.REJECTED_LOW_LIQUIDITY,
        round(liquidity / minimum, 4),
        f"Liquidity ${liquidity:,.2f} is below the ${minimum:,.2f} minimum.",
        params,
    )


# --------------------------------------------------------------------------- semantic

SEMANTIC = ("semantic_relevance", "3.0.0")
SEMANTIC_THRESHOLD = 0.3
_WEIGHT_NOTE = (
    "Question terms weigh 1, description-only terms 0.5, resolution boilerplate and "
    "names such as 'Immigration and Customs Enforcement' 0, so boilerplate alone never passes."
)
_NO_RISK_TERMS = (
    "No risk terms (geopolitical, shipping, energy, labor, climate, regulatory) "
    "in the question or description. " + _WEIGHT_NOTE
)


def counted_categories(analysis: TextAnalysis) -> frozenset[str]:
    """The conditional risk categories (vocab.CONDITIONAL_CATEGORIES) whose condition holds.

    Political and macro terms count beside a major economy (a party's, a city's or a state's race
    in the question decides no national power); an incident counts at a named facility.
    """
    counted = set()
    if analysis.economies:
        counted.add("macro")
        if not analysis.not_national:
            counted.add("political")
    if analysis.facility_incident:
        counted.add("disruption")
    return frozenset(counted)


_CONDITIONAL = frozenset(vocab.CONDITIONAL_CATEGORIES)


def semantic_relevance_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    if analysis.mention_question:
        mentions = sorted({t.canonical for t in analysis.title_terms if t.speech or t.social_post})
        return RuleResult(
            *SEMANTIC,
            RuleStatus.REJECTED_IRRELEVANT_SEMANTIC,
            0.0,
            f"A question about what someone will say or post ({', '.join(map(repr, mentions))}), "
            "not about what will happen.",
            {"mention_terms": mentions},
        )
    blocked = [t.canonical for t in analysis.title_terms if t.blocked]
    if blocked:
        blocked = sorted(set(blocked))
        strong = sorted({t.canonical for t in analysis.title_terms if t.strong})
        # An operator's block term vetoes whatever else the question holds.
        if not strong or any(t.veto for t in analysis.title_terms):
            return RuleResult(
                *SEMANTIC,
                RuleStatus.REJECTED_IRRELEVANT_SEMANTIC,
                0.0,
                f"Off-topic (sports/entertainment): the question names {', '.join(map(repr, blocked))}.",
                {"blocked_terms": blocked},
            )
        # A court case, a regulator or a sanction on a sport is the analyst's business: scored.
    counted = counted_categories(analysis)
    # One pass over the risk terms in canonical order (``ranked`` is pre-sorted),
    # so every list below comes out sorted without sorting it again.
    category_weight: dict[str, float] = {}
    category_terms: dict[str, list[str]] = {}
    category_labels: dict[str, list[str]] = {}  # "term (question)" per category, for the reasoning
    question_terms: list[str] = []
    description_only_terms: list[str] = []
    match_weight = 0.0
    for canonical, weight, in_title, term in analysis.ranked:
        categories = term.risk
        if not categories:
            continue
        if not _CONDITIONAL.isdisjoint(categories):
            categories = tuple(c for c in categories if c not in _CONDITIONAL or c in counted)
            if not categories:
                continue
        weight *= term.weight
        if in_title:
            question_terms.append(canonical)
        else:
            description_only_terms.append(canonical)
        label = term.labels[in_title]
        for category in categories:
            if category in category_weight:
                category_weight[category] = max(category_weight[category], weight)
                category_terms[category].append(canonical)
                category_labels[category].append(label)
            else:
                category_weight[category] = weight
                category_terms[category] = [canonical]
                category_labels[category] = [label]
            match_weight += weight
    # A conditional category weighs as much as the strongest part of its condition.
    for category in _CONDITIONAL.intersection(category_weight):
        condition = analysis.facility_weight if category == "disruption" else analysis.economy_weight
        category_weight[category] = max(category_weight[category], condition)
    categories_sorted = sorted(category_terms)
    params = {
        "categories": {c: category_terms[c] for c in categories_sorted},
        "question_terms": question_terms,
        "description_only_terms": description_only_terms,
        "threshold": SEMANTIC_THRESHOLD,
    }
    if blocked:
        params["blocked_terms_overridden"] = blocked
    if analysis.economies:
        params["economies"] = list(analysis.economies)
    if not category_terms:
        return RuleResult(*SEMANTIC, RuleStatus.REJECTED_IRRELEVANT_SEMANTIC, 0.1, _NO_RISK_TERMS, params)
    category_sum = sum(category_weight.values())
    score = round(min(1.0, 0.2 * category_sum + 0.1 * match_weight), 4)
    found = "; ".join(f"{c}: " + ", ".join(category_labels[c]) for c in categories_sorted)
    formula = f"score = min(1, 0.2 x {category_sum:g} categories + 0.1 x {match_weight:g} matches) = {score:g}"
    if score < SEMANTIC_THRESHOLD:
        return RuleResult(
            *SEMANTIC,
            RuleStatus.REJECTED_IRRELEVANT_SEMANTIC,
            score,
            f"Semantic relevance {score:g} is below {SEMANTIC_THRESHOLD:g} ({found}); {formula}. " + _WEIGHT_NOTE,
            params,
        )
    return RuleResult(
        *SEMANTIC,
        _PASSED,
        score,
        f"Relevant to {found}; {formula}. " + _WEIGHT_NOTE,
        params,
    )


# --------------------------------------------------------------------------- geographic

GEOGRAPHIC = ("geographic_relevance", "4.0.0")


def _logistics_base(weight: float) -> float:
    if weight < 2:
        return 0.3
    if weight < 4:
        return 0.5
    if weight < 6:
        return 0.7
    return 0.9


def geographic_relevance_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    ranked = analysis.ranked  # canonical order
    chokepoints: dict[str, float] = {}
    evidence: list[str] = []
    for _canonical, weight, in_title, term in ranked:
        # Named chokepoints, then those within PROXIMITY_KM of a named place;
        # both lists and their evidence texts are precomputed per term.
        names = term.all_chokepoints
        if names:
            for name in names:
                if weight > chokepoints.get(name, 0.0):
                    chokepoints[name] = weight
            evidence.extend(term.geo_evidence[in_title])
    if chokepoints:
        n = sum(chokepoints.values())
        score = round(min(1.0, 0.3 * n + 0.4), 4)
        return RuleResult(
            *GEOGRAPHIC,
            _PASSED,
            score,
            f"Relevant to {len(chokepoints)} chokepoint(s): {'; '.join(evidence)}; "
            f"score = min(1, 0.3 x {n:g} + 0.4) = {score:g}.",
            {
                "chokepoints": {k: chokepoints[k] for k in sorted(chokepoints)},
                "proximity_km": vocab.PROXIMITY_KM,
            },
        )
    # No chokepoint: score the logistics terms (in canonical order, like ``ranked``).
    logistics_terms: dict[str, float] = {}
    labels: list[str] = []
    category_set: set[str] = set()
    total = 0.0
    for canonical, weight, in_title, term in ranked:
        if term.logistics:
            weight *= term.weight
            logistics_terms[canonical] = weight
            labels.append(term.labels[in_title])
            category_set.update(term.logistics)
            total += weight
    categories = sorted(category_set)
    params = {
        "logistics_terms": logistics_terms,
        "categories": categories,
        "weighted_count": total,
    }
    if total < 1:
        scope = _scope_without_logistics(analysis)
        if scope is not None:
            params["scope"] = scope
            return RuleResult(
                *GEOGRAPHIC,
                _PASSED,
                SCOPE_SCORE,
                f"No chokepoint and no logistics term, but {scope}: score {SCOPE_SCORE:g}.",
                params,
            )
        reason = "No chokepoint and no logistics term"
        if logistics_terms:
            reason = (
                f"No chokepoint; only description-only logistics term(s) "
                f"{', '.join(map(repr, logistics_terms))} (weight {total:g}, 1 needed)"
            )
        return RuleResult(
            *GEOGRAPHIC,
            RuleStatus.REJECTED_IRRELEVANT_GEOGRAPHY,
            0.1,
            reason + ". Description-only terms weigh 0.5.",
            params,
        )
    bonus = 0.1 * sum(1 for cat in vocab.BONUS_LOGISTICS_CATEGORIES if cat in category_set)
    base = _logistics_base(total)
    score = round(min(1.0, base + bonus), 4)
    return RuleResult(
        *GEOGRAPHIC,
        _PASSED,
        score,
        f"No chokepoint; {total:g} weighted logistics term(s) "
        f"({', '.join(labels)}) "
        f"in {', '.join(categories)}: base {base:g} + bonus {bonus:g} = {score:g}.",
        params,
    )


SCOPE_SCORE = 0.5


def _scope_without_logistics(analysis: TextAnalysis) -> str | None:
    """Why an event with no logistics term still matters where goods move, or None.

    A decision on national power, policy or regulation (a court, a regulator) of a major economy
    reaches its whole trade; an incident at a named plant, port or mine stops what it ships.
    """
    if analysis.facility_incident:
        return "an incident at a named facility (a supply-chain disruption)"
    if not analysis.economies:
        return None
    counted = counted_categories(analysis) | {"regulatory"}
    kinds = [c for c in ("political", "macro", "regulatory") if c in counted and _names_category(analysis, c)]
    if kinds:
        return f"{' and '.join(kinds)} risk of {', '.join(analysis.economies)} (national scope)"
    return None


def _names_category(analysis: TextAnalysis, category: str) -> bool:
    return any(category in term.risk for term in analysis.occurrences)


# --------------------------------------------------------------------------- anomaly

ANOMALY = ("anomaly_detection", "2.0.0")
ANOMALY_REJECT_AT = 0.5  # total risk at which an observation is taken for manipulation
MIN_HISTORY = 10  # earlier points the z-score checks need

# Each check's threshold and the risk it adds when it trips.
EXTREME_LOW, EXTREME_HIGH, EXTREME_RISK = 0.05, 0.95, 0.3
PROBABILITY_Z_LIMIT, PROBABILITY_Z_RISK = 3.0, 0.2
JUMP_LIMIT, JUMP_RISK = 0.5, 0.4
CHANGE_RATE_Z_LIMIT, CHANGE_RATE_Z_RISK = 2.5, 0.15
FEW_TRADERS, THIN_MARKET_VOLUME, FEW_TRADERS_RISK = 10, 10_000, 0.3
VOLUME_Z_LIMIT, VOLUME_Z_RISK = 3.0, 0.15

_NO_ANOMALY = "Manipulation risk 0 (no anomaly)."


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    return mean, sqrt(sum((v - mean) ** 2 for v in values) / n)


def _z(value: float, values: Sequence[float]) -> float | None:
    mean, std = _mean_std(values)
    return None if std == 0 else abs(value - mean) / std


def _history_order(h: HistoryPoint) -> tuple:
    return (h.observed_at, h.probability, h.volume)


class _Observation(NamedTuple):
    """What the anomaly checks look at: the event and the market's strictly earlier points."""

    event: RawEvent
    history: list[HistoryPoint]  # oldest first
    probabilities: list[float]
    enough_history: bool  # for the z-score checks
    delta: float | None  # the move the source reports, else the move since the last known point


def _observation(event: RawEvent, ctx: PipelineContext) -> _Observation:
    # Only strictly earlier points: re-evaluating an event after its own point was stored
    # must give the same decision. (No history at all is the common case: skip the sort.)
    points = ctx.history.get(event.market_key, ()) if ctx.history else ()
    history = sorted((h for h in points if h.observed_at < event.observed_at), key=_history_order) if points else []
    probabilities = [h.probability for h in history]
    if event.movement is not None:
        delta = event.movement
    elif history:
        delta = event.probability - probabilities[-1]
    else:
        delta = None
    return _Observation(event, history, probabilities, len(history) >= MIN_HISTORY, delta)


# A check records what it measured in ``checks`` and returns what it saw when it trips.
AnomalyCheck = Callable[[_Observation, dict[str, Any]], str | None]


class _Check(NamedTuple):
    name: str
    run: AnomalyCheck
    risk: float  # added to the observation's manipulation risk when the check trips


def _extreme_probability(seen: _Observation, checks: dict[str, Any]) -> str | None:
    p = seen.event.probability
    if p < EXTREME_LOW or p > EXTREME_HIGH:
        return f"probability {p:g} outside [{EXTREME_LOW:g}, {EXTREME_HIGH:g}]"
    return None


def _probability_z(seen: _Observation, checks: dict[str, Any]) -> str | None:
    if not seen.enough_history:
        return None
    z = _z(seen.event.probability, seen.probabilities)
    checks["probability_z"] = None if z is None else _r4(z)
    if z is not None and z > PROBABILITY_Z_LIMIT:
        return f"probability z-score {z:.2f} > {PROBABILITY_Z_LIMIT:g}"
    return None


def _jump(seen: _Observation, checks: dict[str, Any]) -> str | None:
    delta = seen.delta
    checks["delta_probability"] = None if delta is None else round(delta, 4)
    if delta is not None and abs(delta) > JUMP_LIMIT:
        return f"probability change {delta:+.4f} beyond {JUMP_LIMIT:g}"
    return None


def _change_rate_z(seen: _Observation, checks: dict[str, Any]) -> str | None:
    if not seen.enough_history:
        return None
    probs = seen.probabilities
    diffs = [b - a for a, b in zip(probs, probs[1:], strict=False)]
    z = _z(seen.event.probability - probs[-1], diffs)
    checks["change_rate_z"] = None if z is None else _r4(z)
    if z is not None and z > CHANGE_RATE_Z_LIMIT:
        return f"change-rate z-score {z:.2f} > {CHANGE_RATE_Z_LIMIT:g}"
    return None


def _few_traders(seen: _Observation, checks: dict[str, Any]) -> str | None:
    traders, volume = seen.event.trader_count, seen.event.volume
    if traders is None:
        checks["trader_check"] = "skipped: the source reports no trader count"
    elif traders < FEW_TRADERS and volume > THIN_MARKET_VOLUME:
        return f"{traders} traders with volume ${volume:,.0f}"
    return None


def _volume_z(seen: _Observation, checks: dict[str, Any]) -> str | None:
    if seen.enough_history:
        z = _z(seen.event.volume, [h.volume for h in seen.history])
        checks["volume_z"] = None if z is None else _r4(z)
        if z is not None and z > VOLUME_Z_LIMIT:
            return f"volume z-score {z:.2f} > {VOLUME_Z_LIMIT:g}"
    elif seen.history:
        checks["z_scores"] = f"skipped: {len(seen.history)} history points, {MIN_HISTORY} needed"
    return None


# In this order: the order of the reasoning's flags, and of the risk's sum.
ANOMALY_CHECKS: tuple[_Check, ...] = (
    _Check("extreme_probability", _extreme_probability, EXTREME_RISK),
    _Check("probability_z", _probability_z, PROBABILITY_Z_RISK),
    _Check("jump", _jump, JUMP_RISK),
    _Check("change_rate_z", _change_rate_z, CHANGE_RATE_Z_RISK),
    _Check("few_traders", _few_traders, FEW_TRADERS_RISK),
    _Check("volume_z", _volume_z, VOLUME_Z_RISK),
)


def anomaly_detection_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    seen = _observation(event, ctx)
    checks: dict[str, Any] = {"history_points": len(seen.history)}
    risk = 0.0
    flags: list[str] = []
    for check in ANOMALY_CHECKS:
        seen_by_check = check.run(seen, checks)
        if seen_by_check is not None:
            risk += check.risk
            flags.append(f"{seen_by_check} (+{check.risk:g})")

    if not flags:
        # Nothing flagged, by far the common case: risk stays exactly 0, so the
        # rounding and the reasoning text are known in advance.
        checks["risk"] = 0.0
        return RuleResult(*ANOMALY, _PASSED, 1.0, _NO_ANOMALY, checks)
    risk = round(risk, 4)
    score = round(max(0.0, 1.0 - risk), 4)
    checks["risk"] = risk
    summary = "; ".join(flags)
    if risk >= ANOMALY_REJECT_AT:
        return RuleResult(
            *ANOMALY,
            RuleStatus.REJECTED_MANIPULATION_SUSPECTED,
            score,
            f"Manipulation risk {risk:g} reaches {ANOMALY_REJECT_AT:g}: {summary}.",
            checks,
        )
    return RuleResult(*ANOMALY, _PASSED, score, f"Manipulation risk {risk:g} ({summary}).", checks)


# --------------------------------------------------------------------------- news quality

NEWS_QUALITY = ("news_quality", "1.0.0")
RECENCY_FULL_HOURS = 2.0
RECENCY_HALF_LIFE_HOURS = 6.0
RECENCY_MAX_HOURS = 72.0


def domain_credibility(domain: str) -> float:
    domain = normalise_domain(domain)
    while domain:
        if domain in vocab.NEWS_DOMAIN_TIERS:
            return vocab.NEWS_DOMAIN_TIERS[domain]
        _, _, domain = domain.partition(".")
    return vocab.NEWS_DEFAULT_CREDIBILITY


def recency(age_hours: float) -> float:
    if age_hours <= RECENCY_FULL_HOURS:
        return 1.0
    if age_hours > RECENCY_MAX_HOURS:
        return 0.0
    return exp(-log(2) * age_hours / RECENCY_HALF_LIFE_HOURS)


def news_quality_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    domain = normalise_domain(str(event.attributes.get("domain") or ""))
    published_at = event.attributes.get("published_at")
    credibility = domain_credibility(domain)
    fingerprint = news_fingerprint(event.title, domain)
    if isinstance(published_at, datetime):
        age = max(0.0, (event.observed_at - published_at).total_seconds() / 3600)
        fresh = recency(age)
        age_text = f"{age:.1f} h old at observation"
    else:
        age, fresh, age_text = None, 0.0, "no publication time"
    combined = 0.6 * credibility + 0.4 * fresh
    params = {
        "domain": domain,
        "credibility": credibility,
        "age_hours": None if age is None else _r4(age),
        "recency": _r4(fresh),
        "combined": _r4(combined),
        "fingerprint": fingerprint,
    }
    rejected = RuleStatus.REJECTED_RULE
    if fingerprint in ctx.seen_news_fingerprints:
        return RuleResult(
            *NEWS_QUALITY,
            rejected,
            0.0,
            f"Duplicate article: same title from {domain or 'an unknown domain'} already seen.",
            params,
        )
    if credibility < 0.3:
        return RuleResult(
            *NEWS_QUALITY,
            rejected,
            _r4(combined),
            f"Domain {domain!r} credibility {credibility:g} is below 0.3.",
            params,
        )
    if fresh < 0.1:
        return RuleResult(
            *NEWS_QUALITY, rejected, _r4(combined), f"Article recency {fresh:.4f} is below 0.1 ({age_text}).", params
        )
    if combined < 0.2:
        return RuleResult(*NEWS_QUALITY, rejected, _r4(combined), f"News quality {combined:.4f} is below 0.2.", params)
    return RuleResult(
        *NEWS_QUALITY,
        _PASSED,
        _r4(combined),
        f"{domain or 'unknown domain'} credibility {credibility:g}, recency {fresh:.4f} ({age_text}); "
        f"0.6 x credibility + 0.4 x recency = {combined:.4f}.",
        params,
    )


# --------------------------------------------------------------------------- order

RuleFn = Callable[[RawEvent, TextAnalysis, PipelineContext], RuleResult]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    version: str
    applies: Callable[[RawEvent], bool]
    run: RuleFn


def _is_closed(event: RawEvent) -> bool:
    return bool(event.closed_state)


FINISHED_STATES = frozenset({"closed", "resolved", "archived"})


def _is_live_market(event: RawEvent) -> bool:
    # Estimated probabilities (weather, news, stock moves) have no order book. A closed
    # market's book is emptied and its price jumps to 0 or 1: liquidity and the anomaly
    # checks measure a trading market, and would reject every final observation. An ended
    # market still trades.
    return not event.probability_is_estimate and event.closed_state not in FINISHED_STATES


def _is_live(event: RawEvent) -> bool:
    return event.closed_state not in FINISHED_STATES


def _always(event: RawEvent) -> bool:
    return True


def _is_news(event: RawEvent) -> bool:
    return event.source in vocab.NEWS_SOURCES


RULES: tuple[Rule, ...] = (
    Rule(*MARKET_STATUS, _is_closed, market_status_rule),
    Rule(*LIQUIDITY, _is_live_market, liquidity_rule),
    Rule(*SEMANTIC, _always, semantic_relevance_rule),
    Rule(*GEOGRAPHIC, _always, geographic_relevance_rule),
    Rule(*ANOMALY, _is_live, anomaly_detection_rule),
    Rule(*NEWS_QUALITY, _is_news, news_quality_rule),
)
