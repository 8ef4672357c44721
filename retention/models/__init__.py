from retention.models.archive import SignalArchive
from retention.models.backup import Backup
from retention.models.hold import LegalHold
from retention.models.policy import Action, RetentionPolicy
from retention.models.run import RetentionRun

__all__ = ["Action", "Backup", "LegalHold", "RetentionPolicy", "RetentionRun", "SignalArchive"]
