"""Sealing: a partition that will take no more frames gets a manifest and a ``_SEALED`` marker.

Sealing runs under the writer's lock (``locked_ledger``), after frames a dead writer left were
adopted, so it never races an append. Every segment is read back in full before the manifest is
written: a partition whose frames do not verify is refused, not sealed. Frames written later for
a sealed day go to a late partition (``ledger.services.writer._write_partition``); nothing
reopens a sealed partition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from django.conf import settings
from django.utils import timezone

from ledger.envelope import SCHEMA_VERSION, EnvelopeHead, format_timestamp, payload_hash, read_head
from ledger.layout import (
    MANIFEST_FILE,
    SEALED_FILE,
    PartitionName,
    atomic_write,
    is_sealed,
    list_partitions,
    list_segments,
    segment_ordinal,
)
from ledger.models import LedgerPartition
from ledger.reading import SegmentRef, read_segment
from ledger.services.writer import locked_ledger
from ledger.wal import LedgerCorruption

__all__ = ["SealRefused", "build_manifest", "partition_seal", "partitions_seal_due"]


class SealRefused(Exception):
    pass


@dataclass(frozen=True)
class SealResult:
    partition: str
    frames: int
    bytes: int


# What a manifest states of the segments (its other keys say when it was sealed, and by which
# schema): a partition read back must make these again.
MANIFEST_FACTS = (
    "total_records",
    "total_bytes",
    "first_sequence",
    "last_sequence",
    "chain_start",
    "chain_head",
    "segments",
)


def build_manifest(
    partition: PartitionName,
    directory: Path,
    sealed_at: datetime,
    each_frame: Callable[[EnvelopeHead, bytes], None] | None = None,
) -> dict:
    """Read every segment back and describe it; raise ``LedgerCorruption`` at the first bad frame.

    ``each_frame`` sees every frame's envelope head and payload, in order (the purge learns whose
    frames these are, and whether a legal hold names one).
    """
    segments = []
    chain_start = chain_head = None
    first_sequence = last_sequence = None
    previous = None
    for path in list_segments(directory):
        ref = SegmentRef(partition, segment_ordinal(path.name), path)
        read = read_segment(ref)
        if not read.clean:
            raise LedgerCorruption(path, read.end.offset, str(getattr(read.end, "reason", read.end)))
        heads = [read_head(frame.payload) for frame in read.frames]
        if each_frame is not None:
            for frame, head in zip(read.frames, heads, strict=True):
                each_frame(head, frame.payload)
        for frame, head in zip(read.frames, heads, strict=True):
            if previous is not None and head.prev_hash != previous:
                raise LedgerCorruption(path, frame.offset, "frame does not continue the chain of the one before it")
            if chain_start is None:
                chain_start = head.prev_hash
            previous = payload_hash(frame.payload)
        chain_head = previous
        if heads:
            first_sequence = heads[0].ledger_sequence if first_sequence is None else first_sequence
            last_sequence = heads[-1].ledger_sequence
        segments.append(
            {
                "file": ref.name,
                "record_count": len(read.frames),
                "size_bytes": read.size,
                "checksum": f"sha256:{read.sha256}",
                "first_sequence": heads[0].ledger_sequence if heads else None,
                "last_sequence": heads[-1].ledger_sequence if heads else None,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "partition_date": partition.day.isoformat(),
        "partition": str(partition),
        "sealed_at": format_timestamp(sealed_at),
        "total_records": sum(s["record_count"] for s in segments),
        "total_bytes": sum(s["size_bytes"] for s in segments),
        "first_sequence": first_sequence,
        "last_sequence": last_sequence,
        "chain_start": chain_start,
        "chain_head": chain_head,
        "segments": segments,
    }


def partition_seal(name: str, *, now: datetime | None = None, force: bool = False) -> SealResult:
    """Seal one partition. Today's partition (the one still written) only with ``force``."""
    now = now or timezone.now()
    partition = PartitionName.parse(name)
    if partition is None:
        raise SealRefused(f"{name!r} is not a partition name (YYYY-MM-DD, YYYY-MM-DD-late, YYYY-MM-DD-late-N)")
    with locked_ledger() as (state, end):
        directory = Path(settings.LEDGER_DIR) / name
        if not directory.is_dir():
            raise SealRefused(f"partition {name} does not exist in {settings.LEDGER_DIR}")
        if is_sealed(directory):
            raise SealRefused(f"partition {name} is already sealed")
        if not force and partition.day >= now.astimezone(UTC).date():
            raise SealRefused(f"partition {name} is still being written today; use --force to seal it now")
        manifest = build_manifest(partition, directory, now)
        manifest_bytes = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
        atomic_write(directory / MANIFEST_FILE, manifest_bytes)
        atomic_write(directory / SEALED_FILE, f"{manifest['sealed_at']}\n".encode())
        LedgerPartition.objects.update_or_create(
            name=name,
            defaults={
                "day": partition.day,
                "frames": manifest["total_records"],
                "bytes": manifest["total_bytes"],
                "first_sequence": manifest["first_sequence"],
                "last_sequence": manifest["last_sequence"],
                "chain_start": manifest["chain_start"] or "",
                "chain_head": manifest["chain_head"] or "",
                "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                "sealed_at": now,
                "verified_at": now,
            },
        )
    return SealResult(name, manifest["total_records"], manifest["total_bytes"])


def partitions_seal_due(*, now: datetime | None = None) -> list[SealResult]:
    """Seal every unsealed partition whose day ended ``LEDGER_SEAL_AFTER_HOURS`` ago."""
    now = now or timezone.now()
    return [partition_seal(name, now=now) for name in partitions_due_to_seal(now)]


def partitions_due_to_seal(now: datetime) -> list[str]:
    """The unsealed partitions whose day ended ``LEDGER_SEAL_AFTER_HOURS`` before ``now``, oldest first."""
    cutoff = (now.astimezone(UTC) - timedelta(hours=settings.LEDGER_SEAL_AFTER_HOURS)).date()
    root = Path(settings.LEDGER_DIR)
    return [
        str(partition)
        for partition in list_partitions(root)
        if partition.day < cutoff and not is_sealed(root / str(partition))
    ]
