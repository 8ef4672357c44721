"""The relevance verdict alone: would the relevance rules keep this event, and why not.

``evaluate`` stops at the first rejection, so a market rejected for thin liquidity never shows
whether its question was on topic. The labelled set (``tests/data/relevance_labels.csv``) and
``bench/relevance.py`` measure the relevance rules by themselves, through this function, with
the same text analysis and rules ``evaluate`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from .context import PipelineContext
from .events import RawEvent
from .rules import GEOGRAPHIC, RULES, SEMANTIC

RELEVANCE_RULE_NAMES = (SEMANTIC[0], GEOGRAPHIC[0])
_RELEVANCE_RULES = tuple(rule for rule in RULES if rule.name in RELEVANCE_RULE_NAMES)
_DEFAULT_CONTEXT = PipelineContext()


@dataclass(frozen=True, slots=True)
class Verdict:
    relevant: bool
    rule: str  # the rule that rejected the event, "" when relevant
    reason: str  # that rule's reasoning, or the last passing rule's


def relevance_verdict(event: RawEvent, context: PipelineContext = _DEFAULT_CONTEXT) -> Verdict:
    analysis = context.vocabulary.analyse(event.title, event.description, event.keywords)
    reason = ""
    for rule in _RELEVANCE_RULES:
        if not rule.applies(event):
            continue
        result = rule.run(event, analysis, context)
        if not result.passed:
            return Verdict(False, result.rule_name, result.reasoning)
        reason = result.reasoning
    return Verdict(True, "", reason)
