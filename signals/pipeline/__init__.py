"""The signal pipeline: pure functions, no Django, no I/O.

``evaluate(event, context)`` runs the rules in order (market status, liquidity,
semantic, geographic, anomaly, news quality), stops at the first rejection, then
enriches, classifies, scores and builds the signal contract.
"""

from .context import PipelineContext
from .engine import Accepted, Rejected, evaluate
from .events import HistoryPoint, ParseFailure, RawEvent
from .ids import RULESET_VERSION
from .types import Category, ConfidenceLevel, RuleStatus, SignalStatus, SignalType, Stage

__all__ = [
    "RULESET_VERSION",
    "Accepted",
    "Category",
    "ConfidenceLevel",
    "HistoryPoint",
    "ParseFailure",
    "PipelineContext",
    "RawEvent",
    "Rejected",
    "RuleStatus",
    "SignalStatus",
    "SignalType",
    "Stage",
    "evaluate",
]
