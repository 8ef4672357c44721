from signals.models.probability_point import ProbabilityPoint
from signals.models.rejection import Rejection
from signals.models.relevance_term import RelevanceTerm
from signals.models.signal import Signal
from signals.models.source_event import SourceEvent
from signals.models.source_run import SourceRun, SourceState

__all__ = ["ProbabilityPoint", "Rejection", "RelevanceTerm", "Signal", "SourceEvent", "SourceRun", "SourceState"]
