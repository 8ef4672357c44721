"""Write ledgers the way the original OMEN wrote them, for import tests (docs/architecture.md, "The original
OMEN's ledger").

Layout ``BASE/YYYY-MM-DD[-late]/signals-NNN.wal``, ``_CURRENT`` naming the last segment, and for a
sealed partition ``_manifest.json`` (with the original's ``crc32:<hex>`` checksums) and
``_SEALED``; a warm segment is gzipped after sealing, as the original's tier job did. Envelopes
are schema "1.0.0" in the original's key order, compact JSON, timestamps in UTC with ``Z``,
``ledger_sequence`` = (segment ordinal << 32) | index from 1. Contracts come from the real
pipeline (``original_contracts``), reshaped like the original's: a 16-hex ``input_event_hash``
in the contract, ``"sha256:" + full hex`` in the envelope.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger.wal import encode_frame, ledger_sequence
from signals.pipeline import Accepted, evaluate
from signals.sources.registry import SOURCES
from tests.support.factories import RawEventFactory

FETCHED_AT = datetime(2026, 2, 8, tzinfo=UTC)


@dataclass(frozen=True)
class OriginalSignal:
    """A contract as the original stored it, and the envelope fields it does not hold."""

    contract: dict
    full_input_hash: str
    emitted_at: datetime


def zulu(moment: datetime) -> str:
    """How pydantic wrote the original's UTC datetimes."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def original_contracts(recorded_dir: Path, count: int) -> list[OriginalSignal]:
    """``count`` contracts: the recorded Polymarket markets the pipeline accepts, then factory ones."""
    payload = json.loads((recorded_dir / "polymarket_gamma_markets_active_part1.json").read_text())
    parsed = SOURCES["polymarket"].parser(payload, fetched_at=FETCHED_AT)
    events = [record for record in parsed if hasattr(record, "title")]
    accepted = [outcome for outcome in map(evaluate, events) if isinstance(outcome, Accepted)]
    while len(accepted) < count:
        outcome = evaluate(RawEventFactory())
        assert isinstance(outcome, Accepted), outcome
        accepted.append(outcome)
    emitted = datetime(2026, 2, 8, 9, 30, 15, 123456, tzinfo=UTC)
    return [
        OriginalSignal(
            contract={**outcome.signal, "input_event_hash": outcome.input_event_hash[:16]},
            full_input_hash=outcome.input_event_hash,
            emitted_at=emitted + timedelta(seconds=index),
        )
        for index, outcome in enumerate(accepted[:count])
    ]


def original_envelope(signal: OriginalSignal, *, partition: str, sequence: int) -> bytes:
    contract = signal.contract
    envelope = {
        "schema_version": "1.0.0",
        "signal_id": contract["signal_id"],
        "deterministic_trace_id": contract["trace_id"],
        "input_event_hash": f"sha256:{signal.full_input_hash}",
        "source_event_id": contract["source_event_id"],
        "ruleset_version": contract["ruleset_version"],
        "observed_at": contract["observed_at"],
        "emitted_at": zulu(signal.emitted_at),
        "ledger_written_at": zulu(signal.emitted_at + timedelta(milliseconds=3)),
        "signal": contract,
        "ledger_partition": partition,
        "ledger_sequence": sequence,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def segment_name(ordinal: int) -> str:
    return f"signals-{ordinal:03d}.wal"


def write_original_partition(
    base: Path,
    partition: str,
    segments: list[list[OriginalSignal]],
    *,
    sealed: bool = False,
    gzipped: tuple[int, ...] = (),
) -> Path:
    """One partition directory; ``gzipped`` names segment ordinals compressed after sealing."""
    directory = base / partition
    directory.mkdir(parents=True)
    for ordinal, signals in enumerate(segments, start=1):
        frames = (
            encode_frame(original_envelope(signal, partition=partition, sequence=ledger_sequence(ordinal, index)))
            for index, signal in enumerate(signals, start=1)
        )
        (directory / segment_name(ordinal)).write_bytes(b"".join(frames))
    (directory / "_CURRENT").write_text(segment_name(len(segments)))
    if sealed:
        _seal(directory, partition, len(segments))
    for ordinal in gzipped:
        path = directory / segment_name(ordinal)
        path.with_name(f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    return directory


def _seal(directory: Path, partition: str, segment_count: int) -> None:
    segments = []
    for ordinal in range(1, segment_count + 1):
        data = (directory / segment_name(ordinal)).read_bytes()
        segments.append(
            {
                "file": segment_name(ordinal),
                "record_count": _count_frames(data),
                "size_bytes": len(data),
                "checksum": f"crc32:{zlib.crc32(data):08x}",
            }
        )
    manifest = {
        "schema_version": "1.0.0",
        "partition_date": partition.removesuffix("-late"),
        "sealed_at": zulu(datetime(2026, 2, 9, 6, tzinfo=UTC)),
        "total_records": sum(s["record_count"] for s in segments),
        "highwater_sequence": sum(s["record_count"] for s in segments),
        "manifest_revision": 1,
        "segments": segments,
        "is_late_partition": partition.endswith("-late"),
    }
    (directory / "_manifest.json").write_text(json.dumps(manifest, indent=2))
    (directory / "_SEALED").touch()


def _count_frames(data: bytes) -> int:
    """Frames counted as the original counted them: by length fields, no CRC."""
    count = offset = 0
    while offset + 8 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        if offset + 8 + length > len(data):
            break
        offset += 8 + length
        count += 1
    return count
