"""``evaluate``: one raw event in, one decision out (Accepted or Rejected)."""

from __future__ import annotations

from dataclasses import dataclass

from .build import build_signal
from .confidence import compute_confidence
from .context import PipelineContext
from .enrich import enrich
from .events import RawEvent
from .ids import input_event_hash, news_fingerprint, signal_id, trace_id
from .rules import RULES, RuleResult
from .types import RuleStatus, Stage
from .vocab import NEWS_SOURCES

_DEFAULT_CONTEXT = PipelineContext()

# Plain-string values of the enums, looked up once instead of per event.
_PASSED = RuleStatus.PASSED
_VALIDATION = Stage.VALIDATION.value
_GENERATION = Stage.GENERATION.value
_REJECTED_RULE = RuleStatus.REJECTED_RULE.value
_RULE_STATUS = {m: m.value for m in RuleStatus}  # member -> the str ``.value`` returns


@dataclass(frozen=True, slots=True)
class Accepted:
    signal: dict  # the full signal contract, JSON-ready
    signal_id: str
    trace_id: str
    input_event_hash: str
    news_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    stage: str  # "validation" | "generation"
    rule: str
    rule_version: str
    status: str  # a REJECTED_* RuleStatus
    reason: str
    score: float
    input_event_hash: str


def evaluate(event: RawEvent, context: PipelineContext = _DEFAULT_CONTEXT) -> Accepted | Rejected:
    """Validate, enrich, classify and score ``event``; pure and deterministic."""
    input_hash = input_event_hash(event)
    vocabulary = context.vocabulary
    ruleset_version = vocabulary.ruleset_version
    # The text is matched once; every rule and the enrichment read this analysis.
    analysis = vocabulary.analyse(event.title, event.description, event.keywords)
    results: list[RuleResult] = []
    liquidity = geographic = None  # the rule scores confidence needs
    for rule in RULES:
        if not rule.applies(event):
            continue
        try:
            result = rule.run(event, analysis, context)
        except Exception as exc:  # one faulty rule rejects this event only
            result = RuleResult(
                rule.name,
                rule.version,
                RuleStatus.REJECTED_RULE_ERROR,
                0.0,
                f"Rule {rule.name} {rule.version} raised {type(exc).__name__}: {exc}"[:500],
            )
        if result.status is not _PASSED:
            return Rejected(
                stage=_VALIDATION,
                rule=result.rule_name,
                rule_version=result.rule_version,
                status=_RULE_STATUS[result.status],
                reason=result.reasoning,
                score=result.score,
                input_event_hash=input_hash,
            )
        results.append(result)
        # Like a {rule_name: score} dict: a later result of the same name wins.
        if result.rule_name == "liquidity":
            liquidity = result.score
        elif result.rule_name == "geographic_relevance":
            geographic = result.score

    confidence = compute_confidence(
        liquidity=liquidity,
        geographic=geographic,
        reliability=context.reliability(event.source),
    )
    if confidence.score < context.min_confidence:
        return Rejected(
            stage=_GENERATION,
            rule="min_confidence",
            rule_version=ruleset_version,
            status=_REJECTED_RULE,
            reason=f"Confidence {confidence.score:.4f} is below the minimum {context.min_confidence:g}.",
            score=confidence.score,
            input_event_hash=input_hash,
        )
    trace = trace_id(input_hash, ruleset_version)
    sid = signal_id(trace)
    signal = build_signal(
        event=event,
        input_hash=input_hash,
        trace=trace,
        sid=sid,
        ruleset_version=ruleset_version,
        results=results,
        enrichment=enrich(analysis),
        confidence=confidence,
    )
    fingerprint = None
    if event.source in NEWS_SOURCES:
        fingerprint = news_fingerprint(event.title, str(event.attributes.get("domain") or ""))
    return Accepted(
        signal=signal, signal_id=sid, trace_id=trace, input_event_hash=input_hash, news_fingerprint=fingerprint
    )
