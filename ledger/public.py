"""What other apps may use of the ledger app, besides its models.

Everything else in ``ledger`` is private to it; the import contracts in ``pyproject.toml`` hold
that line. The ledger listens to the signals app (``ledger.receivers``); nothing needs to call
it to get a save framed. ``signals_restore`` puts back signals kept outside the database
(retention's archives) through the same rule as ``ledger import``, each with a create frame;
``signals_restore_check`` checks, writing nothing, that it would take them.
The layout's partition and tombstone listings and bookkeeping file names let a backup copy the
manifests and tombstones. ``partitions_purge`` is retention's "ledger" policy: it purges the
partitions older than its cutoff, leaving tombstones (``ledger.services.purge``).
``signal_frames`` lists a signal's frames (partition, segment, offset, sequence, chain hash, and
the tier its partition is in now) from the frame references, in one indexed query, and
``frame_verify`` reads one of them back from disk and checks it (``ledger.services.frame_refs``).
"""

from ledger.layout import CURRENT_FILE, MANIFEST_FILE, SEALED_FILE, TOMBSTONE_SUFFIX, list_partitions, list_tombstones
from ledger.selectors import WriterHealth, WriterTotals, ledger_summary, writer_health, writer_totals
from ledger.services.frame_refs import FrameCheck, FrameRef, frame_verify, signal_frames
from ledger.services.purge import PurgeResult, partitions_purge
from ledger.services.restore import ContractError, signals_restore, signals_restore_check

__all__ = [
    "CURRENT_FILE",
    "MANIFEST_FILE",
    "SEALED_FILE",
    "TOMBSTONE_SUFFIX",
    "ContractError",
    "FrameCheck",
    "FrameRef",
    "PurgeResult",
    "WriterHealth",
    "WriterTotals",
    "frame_verify",
    "ledger_summary",
    "list_partitions",
    "list_tombstones",
    "partitions_purge",
    "signal_frames",
    "signals_restore",
    "signals_restore_check",
    "writer_health",
    "writer_totals",
]
