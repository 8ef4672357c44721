"""What other apps may use of the ledger app, besides its models.

Everything else in ``ledger`` is private to it; the import contracts in ``pyproject.toml`` hold
that line. The ledger listens to the signals app (``ledger.receivers``); nothing needs to call
it to get a save framed. ``signals_restore`` puts back signals kept outside the database
(retention's archives) through the same rule as ``ledger import``, each with a create frame.
The layout's partition listing and bookkeeping file names let a backup copy the manifests.
"""

from ledger.layout import CURRENT_FILE, MANIFEST_FILE, SEALED_FILE, list_partitions
from ledger.selectors import WriterHealth, WriterTotals, ledger_summary, writer_health, writer_totals
from ledger.services.restore import ContractError, signals_restore

__all__ = [
    "CURRENT_FILE",
    "MANIFEST_FILE",
    "SEALED_FILE",
    "ContractError",
    "WriterHealth",
    "WriterTotals",
    "ledger_summary",
    "list_partitions",
    "signals_restore",
    "writer_health",
    "writer_totals",
]
