from retention.models.archive import SignalArchive
from retention.models.hold import LegalHold
from retention.models.policy import Action, RetentionPolicy
from retention.models.run import RetentionRun

__all__ = ["Action", "LegalHold", "RetentionPolicy", "RetentionRun", "SignalArchive"]
