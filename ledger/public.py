"""What other apps may use of the ledger app, besides its models.

Everything else in ``ledger`` is private to it; the import contracts in ``pyproject.toml`` hold
that line. The ledger listens to the signals app (``ledger.receivers``); nothing needs to call
it to get a save framed.
"""

from ledger.selectors import WriterHealth, WriterTotals, ledger_summary, writer_health, writer_totals

__all__ = ["WriterHealth", "WriterTotals", "ledger_summary", "writer_health", "writer_totals"]
