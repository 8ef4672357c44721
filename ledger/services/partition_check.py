"""One partition read back on request (the admin's "verify now"), wherever its tier keeps it.

``ledger verify`` checks the whole ledger and the database against it; an operator who doubts one
partition (a disk reported errors, a copy was restored) wants that one, now. This reads every frame
of it back (lengths, CRCs, the chain from frame to frame), and a sealed partition's segments
against its manifest and its manifest against its row; the outcome goes on the partition's row.
Read-only, and without the writer's lock: frames before the recorded end never change, and a
partition moved to the next tier meanwhile is looked for again there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ledger.envelope import EnvelopeError
from ledger.layout import PartitionName, is_sealed, read_manifest
from ledger.models import LedgerPartition
from ledger.reading import is_tombstone, ledger_partitions
from ledger.services.purge import CHAINED_FIELDS
from ledger.services.seal import MANIFEST_FACTS, build_manifest
from ledger.services.tiers import manifest_figures
from ledger.wal import LedgerCorruption

__all__ = ["PartitionCheck", "partition_check"]


@dataclass(frozen=True, slots=True)
class PartitionCheck:
    partition: str
    ok: bool
    detail: str


def partition_check(name: str, *, now: datetime | None = None) -> PartitionCheck:
    """Read partition ``name`` back and record the outcome on its row (``checked_at``, ``check_ok``,
    ``check_result``; ``verified_at`` too when a sealed one passes)."""
    now = now or timezone.now()
    partition = PartitionName.parse(name)
    if partition is None:
        return PartitionCheck(name, False, f"{name!r} is not a partition name")
    check = _check(partition, now)
    if check is None:  # moved to the next tier while it was read: read it there
        check = _check(partition, now) or PartitionCheck(name, False, "moved twice while it was read; try again")
    updates = {"checked_at": now, "check_ok": check.ok, "check_result": check.detail}
    if check.ok and check.detail.startswith("sealed"):
        updates["verified_at"] = now
    LedgerPartition.objects.filter(name=name).update(**updates)
    return check


def _directories() -> tuple[Path, Path, Path]:
    return Path(settings.LEDGER_DIR), Path(settings.LEDGER_ARCHIVE_DIR), Path(settings.LEDGER_LONG_TERM_DIR)


def _check(partition: PartitionName, now: datetime) -> PartitionCheck | None:
    name = str(partition)
    found = dict(ledger_partitions(*_directories(), tombstones=True))
    directory = found.get(partition)
    if directory is None:
        return PartitionCheck(name, False, "in none of the ledger's directories, and no tombstone says it was purged")
    if is_tombstone(directory):
        return PartitionCheck(name, True, "purged: only its tombstone remains (ledger verify checks the chain over it)")
    try:
        built = build_manifest(partition, directory, now)
        sealed = is_sealed(directory)
        manifest = (read_manifest(directory) or {}) if sealed else {}
        figures = manifest_figures(name, directory, manifest) if manifest else {}
    except FileNotFoundError:
        return None
    except (LedgerCorruption, EnvelopeError) as exc:
        return PartitionCheck(name, False, f"cannot be read back whole: {exc}")
    if not directory.is_dir():
        # Moved after its segments were read: its marker and manifest went with it, and a sealed
        # partition would be called open, or its segments said to differ from no manifest.
        return None
    read = f"{built['total_records']} frames in {len(built['segments'])} segment(s) read back, CRCs and chain intact"
    if not sealed:
        return PartitionCheck(name, True, f"open (not sealed yet): {read}")
    differ = [key for key in MANIFEST_FACTS if built.get(key) != manifest.get(key)]
    if differ:
        return PartitionCheck(name, False, f"sealed, but its segments differ from its manifest in {', '.join(differ)}")
    row = LedgerPartition.objects.filter(name=name).values(*CHAINED_FIELDS).first()
    differ = [key for key in CHAINED_FIELDS if row is not None and row[key] != figures[key]]
    if differ:
        return PartitionCheck(name, False, f"sealed, but its manifest and its row disagree on {', '.join(differ)}")
    return PartitionCheck(name, True, f"sealed: {read}, matching its manifest and its row")
