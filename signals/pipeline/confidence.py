"""Confidence score, interval, level and signal status (OMEN's formula)."""

from __future__ import annotations

from dataclasses import dataclass

from .types import ConfidenceLevel, SignalStatus

Z_SCORES = {0.90: 1.645, 0.95: 1.96, 0.99: 2.576}
INTERVAL_LEVEL = 0.95
GEOGRAPHIC_DEFAULT = 0.5

# Number of factors -> (completeness, rounded): 3 with an order book, 2 without.
_COMPLETENESS = {n: (min(1.0, n / 3), round(min(1.0, n / 3), 4)) for n in (2, 3)}


@dataclass(frozen=True, slots=True)
class Confidence:
    score: float
    level: ConfidenceLevel
    factors: dict[str, float]
    interval: dict[str, object]
    base: float
    completeness: float
    uncertainty: float


def compute_confidence(*, liquidity: float | None, geographic: float | None, reliability: float) -> Confidence:
    """``liquidity`` is None when the rule did not run (no order book): one factor fewer."""
    if geographic is None:
        geographic = GEOGRAPHIC_DEFAULT
    # The factors in the order they are summed (liquidity, geographic, reliability);
    # ``sum`` keeps the float result of the original left-to-right addition.
    values = (geographic, reliability) if liquidity is None else (liquidity, geographic, reliability)
    base = sum(values) / len(values)
    completeness, completeness_rounded = _COMPLETENESS[len(values)]
    point = 0.4 * base + 0.3 * completeness + 0.3 * reliability
    uncertainty = 0.05 + (1 - completeness) * 0.1
    if reliability < 0.9:
        uncertainty += (0.9 - reliability) * 0.1
    uncertainty = min(0.25, uncertainty)
    z = Z_SCORES[INTERVAL_LEVEL]
    score = round(point, 4)
    interval = {
        "point_estimate": score,
        "lower_bound": round(max(0.0, point - z * uncertainty), 4),
        "upper_bound": round(min(1.0, point + z * uncertainty), 4),
        "confidence_level": INTERVAL_LEVEL,
        "method": "weighted_factors_normal_approximation",
    }
    # Factors by name, sorted: geographic < liquidity < source_reliability.
    factors = {"geographic": round(geographic, 4)}
    if liquidity is not None:
        factors["liquidity"] = round(liquidity, 4)
    factors["source_reliability"] = round(reliability, 4)
    return Confidence(
        score=score,
        level=confidence_level(score),
        factors=factors,
        interval=interval,
        base=round(base, 4),
        completeness=completeness_rounded,
        uncertainty=round(uncertainty, 4),
    )


def confidence_level(score: float) -> ConfidenceLevel:
    if score >= 0.75:
        return ConfidenceLevel.HIGH
    if score >= 0.50:
        return ConfidenceLevel.MEDIUM
    return ConfidenceLevel.LOW


def signal_status(score: float) -> SignalStatus:
    if score >= 0.7:
        return SignalStatus.ACTIVE
    if score >= 0.5:
        return SignalStatus.MONITORING
    if score >= 0.3:
        return SignalStatus.CANDIDATE
    return SignalStatus.DEGRADED
