"""Write ledgers the way the original OMEN wrote them, for import tests (docs/architecture.md, "The original
OMEN's ledger").

Layout ``BASE/YYYY-MM-DD[-late]/signals-NNN.wal``, ``_CURRENT`` naming the last segment, and for a
sealed partition ``_manifest.json`` (with the original's ``crc32:<hex>`` checksums) and
``_SEALED``; a warm segment is gzipped after sealing, as the original's tier job did. Envelopes
are schema "1.0.0" in the original's key order, compact JSON with non-ASCII written raw, no null
(it wrote ``exclude_none``), timestamps in UTC with ``Z`` and 6 fractional digits unless the
microseconds are 0, ``ledger_sequence`` = (segment ordinal << 32) | index from 1.

The frames come in every shape the original's own code wrote:

* ``original_contracts``: its pipeline's, made by ours and reshaped like its (16 hex digits of
  ``input_event_hash`` in the contract, ``"sha256:" + 64`` in the envelope, ruleset "v1.0.0");
* ``demo_signals``: its ``scripts/seed_demo_data.py`` (``trace-OMEN-DEMO001``, no hash, no times
  and no URL in the contract);
* ``frame_test_signals``: its tests' (``frame-test`` events of probability source ``test``,
  ``sha256:frame123``), with naive and ``+07:00`` timestamps;
* ``generated_signals``: its background generator's (``OMEN-LIVE...``, ``weather-<port>-<epoch>``);
* ``long_id_signals``: ids far longer than ours, up to ``MAX_ID_CHARS``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger.services.restore import MAX_ID_CHARS
from ledger.wal import encode_frame, ledger_sequence
from signals.pipeline import Accepted, evaluate
from signals.sources.registry import SOURCES
from tests.support.factories import RawEventFactory

FETCHED_AT = datetime(2026, 2, 8, tzinfo=UTC)


@dataclass(frozen=True)
class OriginalSignal:
    """A contract as the original stored it, and the envelope fields it does not hold.

    ``full_input_hash`` is the envelope's ``input_event_hash`` after its ``sha256:``;
    ``observed_at`` the envelope's when the contract has none (the envelope repeats it otherwise).
    """

    contract: dict
    full_input_hash: str
    emitted_at: datetime
    observed_at: datetime | None = None


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
    observed_at = zulu(signal.observed_at) if signal.observed_at is not None else contract.get("observed_at")
    envelope = {
        "schema_version": "1.0.0",
        "signal_id": contract["signal_id"],
        "deterministic_trace_id": contract.get("trace_id"),
        "input_event_hash": f"sha256:{signal.full_input_hash}",
        "source_event_id": contract.get("source_event_id"),
        "ruleset_version": contract.get("ruleset_version"),
        "observed_at": observed_at,
        "emitted_at": zulu(signal.emitted_at),
        "ledger_written_at": zulu(signal.emitted_at + timedelta(milliseconds=3)),
        "signal": contract,
        "ledger_partition": partition,
        "ledger_sequence": sequence,
    }
    envelope = {key: value for key, value in envelope.items() if value is not None}  # exclude_none
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


# --------------------------------------------------------------------------- the other shapes

# OmenSignal's fields in declaration order: model_dump_json writes them in this order.
CONTRACT_ORDER = (
    "signal_id",
    "source_event_id",
    "input_event_hash",
    "signal_type",
    "status",
    "impact_hints",
    "title",
    "description",
    "probability",
    "probability_source",
    "probability_is_estimate",
    "confidence_score",
    "confidence_method",
    "confidence_level",
    "confidence_factors",
    "confidence_interval",
    "category",
    "tags",
    "keywords_matched",
    "geographic",
    "temporal",
    "evidence",
    "validation_scores",
    "trace_id",
    "ruleset_version",
    "source_url",
    "observed_at",
    "generated_at",
)


def omen_signal(**fields) -> dict:
    """What the original's ``OmenSignal(**fields).model_dump(exclude_none=True)`` holds: its
    defaults for what ``fields`` leaves out, every None dropped, keys in declaration order."""
    contract = {
        "signal_type": "UNCLASSIFIED",
        "status": "ACTIVE",
        "impact_hints": {"domains": [], "direction": "unknown", "affected_asset_types": [], "keywords": []},
        "probability_source": "polymarket",
        "probability_is_estimate": False,
        "confidence_method": "enhanced_calculator_v2",
        "confidence_factors": {},
        "tags": [],
        "keywords_matched": [],
        "geographic": {"regions": [], "chokepoints": []},
        "temporal": {"signal_freshness": "current"},
        "evidence": [],
        "validation_scores": [],
        **fields,
    }
    unknown = contract.keys() - set(CONTRACT_ORDER)
    assert not unknown, f"not OmenSignal fields: {unknown}"
    return {name: contract[name] for name in CONTRACT_ORDER if contract.get(name) is not None}


def pipeline_signals(recorded_dir: Path, count: int) -> list[OriginalSignal]:
    """Shape A, its pipeline's: ``original_contracts`` with its ruleset, confidence methods and
    a timestamp for an event horizon."""
    signals = original_contracts(recorded_dir, count)
    reshaped = []
    for index, signal in enumerate(signals):
        contract = {
            **signal.contract,
            "ruleset_version": "v1.0.0",
            "confidence_method": ("enhanced_calculator_v2", "weighted_factors_v1")[index % 2],
            "temporal": {**signal.contract["temporal"], "event_horizon": "2026-03-31T12:00:00+00:00"},
        }
        reshaped.append(OriginalSignal(contract, signal.full_input_hash, signal.emitted_at))
    return reshaped


DEMO_TITLES = (
    "Red Sea Shipping Lane Disruption - Houthi Missile Activity",
    "Panama Canal Draft Restrictions Extended",
    "Port of Rotterdam Dockworker Strike Vote",
    "Taiwan Strait Naval Exercises Disrupt Routing",
    "Suez Canal Transit Fees Raised 15%",
    "Typhoon Warning for South China Sea Ports",
    "EU Carbon Border Tax Enters Phase Two",
    "Late Frame: Strait of Hormuz Tanker Seizure",
    "Container Freight Rates Spike on Asia-Europe Lanes",
    "Black Sea Grain Corridor Insurance Suspended",
    "Cyberattack Halts Terminal Operations at Major Port",
)
DEMO_DESCRIPTION = "Increased Houthi rebel activity near Bab el-Mandeb strait affecting major shipping routes"
DEMO_CATEGORIES = ("GEOPOLITICAL", "INFRASTRUCTURE", "OTHER", "GEOPOLITICAL", "ECONOMIC", "WEATHER", "REGULATORY")


def demo_signals(observed_at: datetime) -> list[OriginalSignal]:
    """Shape B, its ``scripts/seed_demo_data.py``: OMEN-DEMO001ABCD ... OMEN-DEMO010QRST, then
    OMEN-DEMO008LATE. The contract has no input hash, URL, times, interval or horizon; the
    envelope has "sha256:" + 64 hex and the one ``observed_at`` of the run."""
    ids = [f"OMEN-DEMO{n:03d}{('ABCD', 'EFGH', 'IJKL', 'MNOP', 'QRST')[(n - 1) % 5]}" for n in range(1, 11)]
    ids.append("OMEN-DEMO008LATE")
    signals = []
    for index, (signal_id, title) in enumerate(zip(ids, DEMO_TITLES, strict=True)):
        contract = omen_signal(
            signal_id=signal_id,
            source_event_id=f"demo-{signal_id}",
            title=title,
            description=DEMO_DESCRIPTION if index % 3 != 2 else None,
            probability=round(0.78 - index * 0.05, 2),
            confidence_score=0.85,
            confidence_level=("HIGH", "MEDIUM", "LOW")[index % 3],
            category=DEMO_CATEGORIES[index % len(DEMO_CATEGORIES)],
            trace_id=f"trace-{signal_id[:12]}",
            ruleset_version="1.0.0",
        )
        digest = hashlib.sha256(json.dumps({"id": signal_id, "title": title}, sort_keys=True).encode()).hexdigest()
        emitted_at = observed_at + timedelta(milliseconds=40 * (index + 1))
        signals.append(OriginalSignal(contract, digest, emitted_at, observed_at=observed_at))
    return signals


def frame_test_signals(emitted_at: datetime) -> list[OriginalSignal]:
    """Shape C, its tests' frames: ids that are no hex, probability source "test", the envelope's
    hash "sha256:frame123", ``generated_at`` but no ``observed_at``, description or URL in the
    contract; ``generated_at`` as ``datetime.now(UTC)``, naive ``datetime.utcnow()`` and a
    +07:00 clock wrote it."""
    cases = [
        ("OMEN-FRAME001", "frame-test", "trace-frame", "2026-02-08T09:30:15.123456Z"),
        ("OMEN-FRAME002", "frame-test", "trace-frame", "2026-02-08T09:31:00"),
        ("OMEN-FRAME003", "frame-test", "trace-frame", "2026-02-08T16:32:00.500000+07:00"),
        ("OMEN-EMIT001", "emit-test", "trace-emit", "2026-02-08T09:33:00Z"),
    ]
    signals = []
    for index, (signal_id, source_event_id, trace_id, generated_at) in enumerate(cases):
        contract = omen_signal(
            signal_id=signal_id,
            source_event_id=source_event_id,
            title=f"Test signal {signal_id}",
            probability=0.5,
            probability_source="test",
            confidence_score=0.7,
            confidence_level="MEDIUM",
            category="GEOPOLITICAL",
            trace_id=trace_id,
            ruleset_version="1.0.0",
            generated_at=generated_at,
        )
        moment = emitted_at + timedelta(seconds=index)
        signals.append(OriginalSignal(contract, "frame123", moment, observed_at=moment - timedelta(seconds=1)))
    return signals


def generated_signals(start: datetime) -> list[OriginalSignal]:
    """Shape D, its background generator's: ``OMEN-LIVE`` + 8 hex, events named
    ``<kind>-...-<epoch>``, a trace id of kind and time, no input hash in the contract, a date
    for an event horizon. Which probability source it named is not known: "generated" here,
    none of ours, and one ``yahoo``."""
    epoch = int(start.timestamp())
    cases = [
        (f"weather-rotterdam-{epoch}.123", "weather", "generated", "WEATHER"),
        (f"weather-hải-phòng-{epoch + 1}.456", "weather", "generated", "WEATHER"),
        (f"news-{epoch + 2}-123", "news", "generated", "GEOPOLITICAL"),
        (f"stock-AAPL-{epoch + 3}", "stock", "generated", "ECONOMIC"),
        (f"stock-MSFT-{epoch + 4}", "stock", "yahoo", "ECONOMIC"),
    ]
    signals = []
    for index, (source_event_id, kind, probability_source, category) in enumerate(cases):
        moment = start + timedelta(seconds=index)
        contract = omen_signal(
            signal_id=f"OMEN-LIVE{hashlib.sha256(source_event_id.encode()).hexdigest()[:8].upper()}",
            source_event_id=source_event_id,
            title=f"Live {kind} signal {index + 1}",
            probability=0.6,
            probability_source=probability_source,
            confidence_score=0.65,
            confidence_method="weighted_factors_v1",
            confidence_level="MEDIUM",
            category=category,
            temporal={"event_horizon": (moment + timedelta(days=1)).date().isoformat(), "signal_freshness": "current"},
            trace_id=f"{kind}-{moment:%Y%m%d%H%M%S}",
            ruleset_version="1.0.0",
            observed_at=zulu(moment),
            generated_at=zulu(moment),
        )
        digest = hashlib.sha256(source_event_id.encode()).hexdigest()
        signals.append(OriginalSignal(contract, digest, moment + timedelta(milliseconds=5)))
    return signals


def with_ids(signal: OriginalSignal, *, input_hash: str | None = None, **ids: str) -> OriginalSignal:
    """``signal`` with other ids in its contract (and so in its envelope), and another envelope hash."""
    return OriginalSignal(
        {**signal.contract, **ids}, input_hash or signal.full_input_hash, signal.emitted_at, signal.observed_at
    )


def long_id_signals(recorded_dir: Path) -> list[OriginalSignal]:
    """Shape E: identity fields far longer than ours, up to ``MAX_ID_CHARS`` of 4-byte characters
    (the most bytes an index entry of one of them holds), and a ruleset version longer still."""
    base = original_contracts(recorded_dir, 3)
    return [
        with_ids(base[0], trace_id="t" * 200, source_event_id=f"polymarket-{'9' * 289}"),
        with_ids(base[1], source_event_id="x" * 300, ruleset_version="r" * 5000),
        with_ids(
            base[2],
            trace_id="🛰" * MAX_ID_CHARS,
            source_event_id="🛰" * MAX_ID_CHARS,
            input_event_hash="🛰" * MAX_ID_CHARS,
        ),
    ]


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
