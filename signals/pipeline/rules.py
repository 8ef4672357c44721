"""Validation rules: each takes (event, text analysis, context) and returns a RuleResult.

Rules are pure: no clock, no I/O, no state between calls. Weights: a term in the
question/title counts 1, a term found only in the description counts 0.5, and
Polymarket's resolution-rules boilerplate and multi-word names count 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from math import exp, log, sqrt
from typing import Any, Callable, Mapping, Sequence

from . import vocab
from .context import PipelineContext
from .events import HistoryPoint, RawEvent
from .ids import news_fingerprint, normalise_domain
from .text import NEAR_CHOKEPOINTS, TITLE_WEIGHT, TextAnalysis
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


def _weighted(analysis: TextAnalysis, attr: str):
    """canonical -> (weight, tags) for terms having a non-empty ``attr``."""
    out = {}
    for canonical, (weight, term) in analysis.weights().items():
        tags = getattr(term, attr)
        if tags:
            out[canonical] = (weight, tags)
    return out


def _fmt_weight(weight: float) -> str:
    return "question" if weight >= TITLE_WEIGHT else "description only, x0.5"


# --------------------------------------------------------------------------- liquidity

LIQUIDITY = ("liquidity", "1.0.0")


def liquidity_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    minimum = ctx.min_liquidity
    liquidity = event.liquidity
    params = {"liquidity": round(liquidity, 2), "min_liquidity": minimum}
    if liquidity >= minimum:
        score = 1.0 if minimum <= 0 else min(1.0, liquidity / (10 * minimum))
        return RuleResult(
            *LIQUIDITY, _PASSED, _r4(score),
            f"Liquidity ${liquidity:,.2f} meets the ${minimum:,.2f} minimum; "
            f"score = min(1, liquidity / (10 x minimum)).",
            params,
        )
    return RuleResult(
        *LIQUIDITY, RuleStatus.REJECTED_LOW_LIQUIDITY, _r4(liquidity / minimum),
        f"Liquidity ${liquidity:,.2f} is below the ${minimum:,.2f} minimum.",
        params,
    )


# --------------------------------------------------------------------------- semantic

SEMANTIC = ("semantic_relevance", "2.0.0")
SEMANTIC_THRESHOLD = 0.3
_WEIGHT_NOTE = (
    "Question terms weigh 1, description-only terms 0.5, resolution boilerplate and "
    "names such as 'Immigration and Customs Enforcement' 0, so boilerplate alone never passes."
)


def semantic_relevance_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    blocked = sorted({t.canonical for t in analysis.title_terms if t.blocked})
    if blocked:
        return RuleResult(
            *SEMANTIC, RuleStatus.REJECTED_IRRELEVANT_SEMANTIC, 0.0,
            f"Off-topic (sports/entertainment): the question names {', '.join(map(repr, blocked))}.",
            {"blocked_terms": blocked},
        )
    matched = _weighted(analysis, "risk")
    category_weight: dict[str, float] = {}
    category_terms: dict[str, list[str]] = {}
    match_weight = 0.0
    for canonical in sorted(matched):
        weight, categories = matched[canonical]
        for category in categories:
            category_weight[category] = max(category_weight.get(category, 0.0), weight)
            category_terms.setdefault(category, []).append(canonical)
            match_weight += weight
    params = {
        "categories": {c: category_terms[c] for c in sorted(category_terms)},
        "question_terms": sorted(c for c, (w, _) in matched.items() if w >= TITLE_WEIGHT),
        "description_only_terms": sorted(c for c, (w, _) in matched.items() if w < TITLE_WEIGHT),
        "threshold": SEMANTIC_THRESHOLD,
    }
    if not matched:
        return RuleResult(
            *SEMANTIC, RuleStatus.REJECTED_IRRELEVANT_SEMANTIC, 0.1,
            "No risk terms (geopolitical, shipping, energy, labor, climate, regulatory) "
            "in the question or description. " + _WEIGHT_NOTE,
            params,
        )
    category_sum = sum(category_weight.values())
    score = _r4(min(1.0, 0.2 * category_sum + 0.1 * match_weight))
    found = "; ".join(
        f"{c}: " + ", ".join(f"{t} ({_fmt_weight(matched[t][0])})" for t in category_terms[c])
        for c in sorted(category_terms)
    )
    formula = f"score = min(1, 0.2 x {category_sum:g} categories + 0.1 x {match_weight:g} matches) = {score:g}"
    if score < SEMANTIC_THRESHOLD:
        return RuleResult(
            *SEMANTIC, RuleStatus.REJECTED_IRRELEVANT_SEMANTIC, score,
            f"Semantic relevance {score:g} is below {SEMANTIC_THRESHOLD:g} ({found}); {formula}. " + _WEIGHT_NOTE,
            params,
        )
    return RuleResult(
        *SEMANTIC, _PASSED, score,
        f"Relevant to {found}; {formula}. " + _WEIGHT_NOTE,
        params,
    )


# --------------------------------------------------------------------------- geographic

GEOGRAPHIC = ("geographic_relevance", "3.0.0")


def _logistics_base(weight: float) -> float:
    if weight < 2:
        return 0.3
    if weight < 4:
        return 0.5
    if weight < 6:
        return 0.7
    return 0.9


def geographic_relevance_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    weights = analysis.weights()
    chokepoints: dict[str, float] = {}
    evidence: list[str] = []
    for canonical in sorted(weights):
        weight, term = weights[canonical]
        for name in term.chokepoints:
            if weight > chokepoints.get(name, 0.0):
                chokepoints[name] = weight
            evidence.append(f"'{canonical}' names {name} ({_fmt_weight(weight)})")
        if term.location:
            for name, km in NEAR_CHOKEPOINTS[term.location]:
                if weight > chokepoints.get(name, 0.0):
                    chokepoints[name] = weight
                evidence.append(f"'{canonical}' lies {km} km from {name} ({_fmt_weight(weight)})")
    if chokepoints:
        n = sum(chokepoints.values())
        score = _r4(min(1.0, 0.3 * n + 0.4))
        return RuleResult(
            *GEOGRAPHIC, _PASSED, score,
            f"Relevant to {len(chokepoints)} chokepoint(s): {'; '.join(evidence)}; "
            f"score = min(1, 0.3 x {n:g} + 0.4) = {score:g}.",
            {
                "chokepoints": {k: chokepoints[k] for k in sorted(chokepoints)},
                "proximity_km": vocab.PROXIMITY_KM,
            },
        )
    logistics = {c: (w, t.logistics) for c, (w, t) in weights.items() if t.logistics}
    total = sum(w for w, _ in logistics.values())
    categories = sorted({cat for _, cats in logistics.values() for cat in cats})
    params = {
        "logistics_terms": {c: logistics[c][0] for c in sorted(logistics)},
        "categories": categories,
        "weighted_count": total,
    }
    if total < 1:
        reason = "No chokepoint and no logistics term"
        if logistics:
            reason = (
                f"No chokepoint; only description-only logistics term(s) "
                f"{', '.join(map(repr, sorted(logistics)))} (weight {total:g}, 1 needed)"
            )
        return RuleResult(
            *GEOGRAPHIC, RuleStatus.REJECTED_IRRELEVANT_GEOGRAPHY, 0.1,
            reason + ". Description-only terms weigh 0.5.",
            params,
        )
    bonus = 0.1 * sum(1 for cat in vocab.BONUS_LOGISTICS_CATEGORIES if cat in categories)
    base = _logistics_base(total)
    score = _r4(min(1.0, base + bonus))
    return RuleResult(
        *GEOGRAPHIC, _PASSED, score,
        f"No chokepoint; {total:g} weighted logistics term(s) "
        f"({', '.join(f'{c} ({_fmt_weight(logistics[c][0])})' for c in sorted(logistics))}) "
        f"in {', '.join(categories)}: base {base:g} + bonus {bonus:g} = {score:g}.",
        params,
    )


# --------------------------------------------------------------------------- anomaly

ANOMALY = ("anomaly_detection", "2.0.0")
ANOMALY_REJECT_AT = 0.5
MIN_HISTORY = 10


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    return mean, sqrt(sum((v - mean) ** 2 for v in values) / n)


def _z(value: float, values: Sequence[float]) -> float | None:
    mean, std = _mean_std(values)
    return None if std == 0 else abs(value - mean) / std


def anomaly_detection_rule(event: RawEvent, analysis: TextAnalysis, ctx: PipelineContext) -> RuleResult:
    p = event.probability
    # Only strictly earlier points: re-evaluating an event after its own point
    # was stored must give the same decision.
    history: list[HistoryPoint] = sorted(
        (h for h in ctx.history.get(event.market_key, ()) if h.observed_at < event.observed_at),
        key=lambda h: (h.observed_at, h.probability, h.volume),
    )
    risk = 0.0
    flags: list[str] = []
    checks: dict[str, Any] = {"history_points": len(history)}

    if p < 0.05 or p > 0.95:
        risk += 0.3
        flags.append(f"probability {p:g} outside [0.05, 0.95] (+0.3)")

    enough = len(history) >= MIN_HISTORY
    probs = [h.probability for h in history]
    if enough:
        z = _z(p, probs)
        checks["probability_z"] = None if z is None else _r4(z)
        if z is not None and z > 3:
            risk += 0.2
            flags.append(f"probability z-score {z:.2f} > 3 (+0.2)")

    if event.movement is not None:
        delta = event.movement
    elif history:
        delta = p - probs[-1]
    else:
        delta = None
    checks["delta_probability"] = None if delta is None else _r4(delta)
    if delta is not None and abs(delta) > 0.5:
        risk += 0.4
        flags.append(f"probability change {delta:+.4f} beyond 0.5 (+0.4)")

    if enough:
        diffs = [b - a for a, b in zip(probs, probs[1:])]
        z = _z(p - probs[-1], diffs)
        checks["change_rate_z"] = None if z is None else _r4(z)
        if z is not None and z > 2.5:
            risk += 0.15
            flags.append(f"change-rate z-score {z:.2f} > 2.5 (+0.15)")

    if event.trader_count is None:
        checks["trader_check"] = "skipped: the source reports no trader count"
    elif event.trader_count < 10 and event.volume > 10_000:
        risk += 0.3
        flags.append(f"{event.trader_count} traders with volume ${event.volume:,.0f} (+0.3)")

    if enough:
        z = _z(event.volume, [h.volume for h in history])
        checks["volume_z"] = None if z is None else _r4(z)
        if z is not None and z > 3:
            risk += 0.15
            flags.append(f"volume z-score {z:.2f} > 3 (+0.15)")
    elif history:
        checks["z_scores"] = f"skipped: {len(history)} history points, {MIN_HISTORY} needed"

    risk = _r4(risk)
    score = _r4(max(0.0, 1.0 - risk))
    checks["risk"] = risk
    summary = "; ".join(flags) if flags else "no anomaly"
    if risk >= ANOMALY_REJECT_AT:
        return RuleResult(
            *ANOMALY, RuleStatus.REJECTED_MANIPULATION_SUSPECTED, score,
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
        return RuleResult(*NEWS_QUALITY, rejected, 0.0,
                          f"Duplicate article: same title from {domain or 'an unknown domain'} already seen.", params)
    if credibility < 0.3:
        return RuleResult(*NEWS_QUALITY, rejected, _r4(combined),
                          f"Domain {domain!r} credibility {credibility:g} is below 0.3.", params)
    if fresh < 0.1:
        return RuleResult(*NEWS_QUALITY, rejected, _r4(combined),
                          f"Article recency {fresh:.4f} is below 0.1 ({age_text}).", params)
    if combined < 0.2:
        return RuleResult(*NEWS_QUALITY, rejected, _r4(combined),
                          f"News quality {combined:.4f} is below 0.2.", params)
    return RuleResult(
        *NEWS_QUALITY, _PASSED, _r4(combined),
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


def _is_market(event: RawEvent) -> bool:
    # Estimated probabilities (weather, news, stock moves) have no order book.
    return not event.probability_is_estimate


def _always(event: RawEvent) -> bool:
    return True


def _is_news(event: RawEvent) -> bool:
    return event.source in vocab.NEWS_SOURCES


RULES: tuple[Rule, ...] = (
    Rule(*LIQUIDITY, _is_market, liquidity_rule),
    Rule(*SEMANTIC, _always, semantic_relevance_rule),
    Rule(*GEOGRAPHIC, _always, geographic_relevance_rule),
    Rule(*ANOMALY, _always, anomaly_detection_rule),
    Rule(*NEWS_QUALITY, _is_news, news_quality_rule),
)
