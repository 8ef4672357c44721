"""Build the signal contract (a plain, JSON-ready dict) from a validated event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from . import vocab
from .confidence import Confidence, signal_status
from .enrich import Enrichment, impact_hints
from .events import RawEvent
from .rules import RuleResult
from .types import ConfidenceLevel, RuleStatus, SignalStatus

TITLE_MAX = 500
DESCRIPTION_MAX = 5000
TAGS_MAX = 10
_DAY = 86400.0

# member -> its value: the same str object ``.value`` returns, without the
# enum property call per field and per event.
_RULE_STATUS = {m: m.value for m in RuleStatus}
_SIGNAL_STATUS = {m: m.value for m in SignalStatus}
_CONFIDENCE_LEVEL = {m: m.value for m in ConfidenceLevel}
_RESOLVED = SignalStatus.RESOLVED.value
_MONITORING = SignalStatus.MONITORING.value


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC with "Z"; a naive datetime is taken as UTC."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    elif dt.utcoffset():
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat() + "Z"


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def event_horizon(event: RawEvent) -> str:
    if event.resolution_date is None:
        return "unknown"
    days = (_aware(event.resolution_date) - _aware(event.observed_at)).total_seconds() / _DAY
    if days < 0:
        return "past_resolution_date"
    if days <= 7:
        return "short_term"
    if days <= 90:
        return "medium_term"
    return "long_term"


def signal_freshness(event: RawEvent) -> str:
    """Age of the underlying fact at observation time (never the wall clock)."""
    published = event.attributes.get("published_at")
    if not isinstance(published, datetime):
        return "current"  # a market/forecast observation describes its own time
    hours = (_aware(event.observed_at) - _aware(published)).total_seconds() / 3600
    if hours <= 2:
        return "fresh"
    if hours <= 24:
        return "recent"
    if hours <= 72:
        return "aging"
    return "stale"


def build_signal(
    *,
    event: RawEvent,
    input_hash: str,
    trace: str,
    sid: str,
    ruleset_version: str,
    results: Sequence[RuleResult],
    enrichment: Enrichment,
    confidence: Confidence,
) -> dict:
    observed = iso(event.observed_at)
    profile = enrichment.profile
    # A market that no longer trades is RESOLVED, whatever the confidence in how it was reported;
    # one past its end date that still trades awaits its resolution: MONITORING, never ACTIVE.
    if event.closed_state == "ended":
        status = _MONITORING
    elif event.closed_state:
        status = _RESOLVED
    else:
        status = _SIGNAL_STATUS[signal_status(confidence.score)]
    keywords = enrichment.keywords
    factors = confidence.factors
    n_factors = len(factors)
    validation_scores = []
    explanation = []
    for step, r in enumerate(results, start=1):
        # Share of the rule's factor in the point estimate (0.4 x factor / factors).
        factor = _FACTOR_OF_RULE.get(r.rule_name)
        if factor in factors:
            contribution = round(0.4 * factors[factor] / n_factors, 4)
        else:
            contribution = 0.0
        validation_scores.append(
            {
                "rule_name": r.rule_name,
                "rule_version": r.rule_version,
                "score": r.score,
                "reasoning": r.reasoning,
            }
        )
        explanation.append(
            {
                "step": step,
                "rule": r.rule_name,
                "rule_version": r.rule_version,
                "status": _RULE_STATUS[r.status],
                "score": r.score,
                "parameters": r.parameters,
                "reasoning": r.reasoning,
                "confidence_contribution": contribution,
            }
        )
    signal = {
        "signal_id": sid,
        "source_event_id": event.event_id,
        "input_event_hash": input_hash,
        "trace_id": trace,
        "ruleset_version": ruleset_version,
        "signal_type": profile.value,
        "status": status,
        "category": profile.category_value,
        "probability": event.probability,
        "probability_source": event.source,
        "probability_is_estimate": event.probability_is_estimate,
        "confidence_score": confidence.score,
        "confidence_level": _CONFIDENCE_LEVEL[confidence.level],
        "confidence_factors": factors,
        "confidence_interval": confidence.interval,
        "title": event.title[:TITLE_MAX],
        "description": event.description[:DESCRIPTION_MAX],
        "tags": list(keywords[:TAGS_MAX]),
        "keywords_matched": list(keywords),
        "impact_hints": impact_hints(enrichment),
        "geographic": {
            "regions": list(enrichment.regions),
            "chokepoints": list(enrichment.chokepoints),
        },
        "temporal": {
            "event_horizon": event_horizon(event),
            "resolution_date": iso(event.resolution_date),
            "signal_freshness": signal_freshness(event),
        },
        "evidence": [
            {
                "source": event.source,
                "source_type": vocab.SOURCE_TYPES.get(event.source, "other"),
                "value": event.probability,
                "url": event.url,
                "observed_at": observed,
            }
        ],
        "validation_scores": validation_scores,
        "explanation": explanation,
        "observed_at": observed,
        "generated_at": observed,  # a replay of the same input gives the same bytes
        "source_url": event.url,
    }
    if event.closed_state:
        # Only such a market's contract has this key, so an open market's bytes are unchanged.
        finished = event.closed_state != "ended"
        signal["resolution"] = {
            "state": event.closed_state,
            "outcome": event.outcome,
            "resolved_at": iso(event.closed_at) if finished else None,
            "final_probability": event.probability if finished else None,
        }
    return signal


_FACTOR_OF_RULE = {"liquidity": "liquidity", "geographic_relevance": "geographic"}
