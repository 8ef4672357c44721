"""Django choices for the contract's value sets; the pipeline owns the values."""

from django.db import models

from signals.pipeline import types as pipeline_types


def _choices(name, enum):
    return models.TextChoices(name, [(member.name, member.value) for member in enum])


class Source(models.TextChoices):
    POLYMARKET = "polymarket", "Polymarket"
    OPENMETEO = "openmeteo", "Open-Meteo"
    NEWSAPI = "newsapi", "NewsAPI"
    NEWSDATA = "newsdata", "NewsData.io"
    YAHOO = "yahoo", "Yahoo Finance"
    # Never polled: the events of signals ``ledger import`` brought from the original OMEN's
    # ledger whose source is none of the above (its demo, test and generated signals).
    ORIGINAL = "original", "Original OMEN (imported)"


SignalType = _choices("SignalType", pipeline_types.SignalType)
SignalStatus = _choices("SignalStatus", pipeline_types.SignalStatus)
Category = _choices("Category", pipeline_types.Category)
ConfidenceLevel = _choices("ConfidenceLevel", pipeline_types.ConfidenceLevel)
RuleStatus = _choices("RuleStatus", pipeline_types.RuleStatus)
# A rejection's status: a rule's, or REJECTED_PARSE for a record that never became an event.
RejectionStatus = models.TextChoices(
    "RejectionStatus",
    [(m.name, m.value) for m in pipeline_types.RuleStatus if m.name != "PASSED"]
    + [("REJECTED_PARSE", "REJECTED_PARSE")],
)


class RejectionStage(models.TextChoices):
    PARSE = "parse", "Parse"
    VALIDATION = "validation", "Validation"
    GENERATION = "generation", "Generation"
