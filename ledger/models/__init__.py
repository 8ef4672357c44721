from ledger.models.frame_ref import LedgerFrameRef
from ledger.models.outbox import LedgerOutbox, Operation
from ledger.models.partition import LedgerPartition, Tier
from ledger.models.webhook import WebhookAttempt, WebhookSubscription
from ledger.models.writer_state import LedgerWriterState

__all__ = [
    "LedgerFrameRef",
    "LedgerOutbox",
    "LedgerPartition",
    "LedgerWriterState",
    "Operation",
    "Tier",
    "WebhookAttempt",
    "WebhookSubscription",
]
