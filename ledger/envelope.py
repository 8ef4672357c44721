"""The ledger envelope: what one frame's payload says, and the SHA-256 chain over frames.

Standard library (plus orjson) only: no Django import.

The envelope is the original OMEN envelope (docs/architecture.md, schema "1.0.0") with three
fields added (schema "1.1.0"), and since schema "1.2.0" a delete frame's ``signal`` is a
deletion record (``deletion_record``: the signal's identities) instead of the whole contract:

* ``operation``: create, update or delete;
* ``outbox_id``: the outbox row this frame was written for; a writer that crashed after the
  append but before marking is recognised by it, so no save is framed twice;
* ``prev_hash``: the SHA-256 of the previous frame's payload (``GENESIS_HASH`` for the first
  frame of the ledger). Each payload contains its own ``prev_hash``, so the hashes form a chain:
  an edited, removed, inserted or reordered frame breaks it at the frame after the change.

Key order is part of the format: ``prev_hash``, ``ledger_sequence``, ``outbox_id``,
``operation`` and ``signal_id`` come first, so verify reads what it checks from a short prefix
(``read_head``) instead of parsing every contract. JSON readers ignore key order, so the
original's consumers read these envelopes unchanged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

__all__ = [
    "GENESIS_HASH",
    "OPERATIONS",
    "ORIGINAL_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "EnvelopeError",
    "EnvelopeHead",
    "DELETION_FIELDS",
    "build_payload",
    "deletion_record",
    "format_timestamp",
    "is_deletion_record",
    "payload_hash",
    "read_head",
    "read_written_at",
]

SCHEMA_VERSION = "1.2.0"
ORIGINAL_SCHEMA_VERSION = "1.0.0"
GENESIS_HASH = "0" * 64
OPERATIONS = ("create", "update", "delete")

_HEAD = re.compile(
    rb'\{"prev_hash":"([0-9a-f]{64})","ledger_sequence":([0-9]{1,20}),"outbox_id":([0-9]{1,20}),'
    rb'"operation":"(create|update|delete)","signal_id":"([^"\\]{0,200})"'
)


# The writer puts ``ledger_written_at`` before the contract, so the first match is the envelope's.
_WRITTEN_AT = re.compile(rb'"ledger_written_at":"([^"\\]{1,40})"')

# What a delete frame says of the signal it deletes; its envelope's fields come from these too.
DELETION_FIELDS = ("signal_id", "trace_id", "input_event_hash", "source_event_id", "ruleset_version", "observed_at")
_DELETION_PREFIX = b'{"deleted":true,'


class EnvelopeError(ValueError):
    """A payload that is not an envelope (valid CRC, but not what a writer would write)."""


@dataclass(frozen=True, slots=True)
class EnvelopeHead:
    """The fields verify, reconcile and recovery need. ``prev_hash``, ``outbox_id`` and
    ``operation`` are None in envelopes written by the original OMEN."""

    signal_id: str
    ledger_sequence: int | None
    prev_hash: str | None
    outbox_id: int | None
    operation: str | None


def payload_hash(payload: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(payload).hexdigest()


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with ``Z``, as the original wrote them."""
    if moment.tzinfo is None:
        raise ValueError("ledger timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def build_payload(
    *,
    prev_hash: str,
    ledger_sequence: int,
    outbox_id: int,
    operation: str,
    signal_id: str,
    trace_id: str,
    input_event_hash: str,
    source_event_id: str,
    ruleset_version: str,
    observed_at: str,
    emitted_at: str,
    ledger_written_at: str,
    ledger_partition: str,
    contract_json: str | bytes,
    pushed: bool = False,
) -> bytes:
    """One envelope as UTF-8 JSON bytes.

    ``contract_json`` is embedded as it is stored (canonical JSON text), never re-encoded, so the
    frame holds the stored contract byte for byte and building a frame costs no JSON parse.
    ``pushed``: the signal came from a partner (the ingest API), which its contract does not say;
    the envelope then says ``"pushed": true`` before the contract, and a replay gives the row its
    mark back. Other envelopes have no such key, as before.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}, not {operation!r}")
    contract = contract_json.encode() if isinstance(contract_json, str) else contract_json
    if not contract.startswith(b"{"):
        raise ValueError("contract_json must be a JSON object")
    # One orjson call, in the format's key order; the contract goes in as it is (a Fragment).
    envelope = {
        "prev_hash": prev_hash,
        "ledger_sequence": ledger_sequence,
        "outbox_id": outbox_id,
        "operation": operation,
        "signal_id": signal_id,
        "schema_version": SCHEMA_VERSION,
        "deterministic_trace_id": trace_id,
        "input_event_hash": input_event_hash,
        "source_event_id": source_event_id,
        "ruleset_version": ruleset_version,
        "observed_at": observed_at,
        "emitted_at": emitted_at,
        "ledger_written_at": ledger_written_at,
        "ledger_partition": ledger_partition,
    }
    if pushed:
        envelope["pushed"] = True
    envelope["signal"] = orjson.Fragment(contract)
    return orjson.dumps(envelope)


def deletion_record(
    signal_id: str,
    trace_id: str,
    input_event_hash: str,
    source_event_id: str,
    ruleset_version: str,
    observed_at: datetime,
) -> str:
    """The ``signal`` of a delete frame: the deleted signal's identities, not its contract.

    The contract is in the ledger already (its create frame, or its last update's) and, for a
    swept signal, in its day's archive file; repeating 5-6 KB of it in each delete frame made a
    retention sweep write as much ledger as the signals it removed. Sorted keys, so the record
    starts with ``"deleted":true``.
    """
    return orjson.dumps(
        {
            "deleted": True,
            "signal_id": signal_id,
            "trace_id": trace_id,
            "input_event_hash": input_event_hash,
            "source_event_id": source_event_id,
            "ruleset_version": ruleset_version,
            "observed_at": format_timestamp(observed_at),
        },
        option=orjson.OPT_SORT_KEYS,
    ).decode()


def is_deletion_record(contract: str | bytes) -> bool:
    """Whether a delete's ``signal`` is a deletion record (older delete frames hold the contract)."""
    return (contract.encode() if isinstance(contract, str) else contract).startswith(_DELETION_PREFIX)


def read_head(payload: bytes | bytearray | memoryview) -> EnvelopeHead:
    """The head fields of an envelope: from the prefix when our writer wrote it, else by parsing.

    Raises ``EnvelopeError`` for a payload that is not a JSON object with a string ``signal_id``.
    """
    match = _HEAD.match(payload)
    if match is not None:
        prev_hash, sequence, outbox_id, operation, signal_id = match.groups()
        return EnvelopeHead(signal_id.decode(), int(sequence), prev_hash.decode(), int(outbox_id), operation.decode())
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"payload is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise EnvelopeError("payload is not a JSON object")
    signal_id = document.get("signal_id")
    if not isinstance(signal_id, str) or not signal_id:
        raise EnvelopeError("envelope has no signal_id")
    sequence = document.get("ledger_sequence")
    prev_hash = document.get("prev_hash")
    outbox_id = document.get("outbox_id")
    operation = document.get("operation")
    return EnvelopeHead(
        signal_id,
        sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None,
        prev_hash if isinstance(prev_hash, str) else None,
        outbox_id if isinstance(outbox_id, int) and not isinstance(outbox_id, bool) else None,
        operation if operation in OPERATIONS else None,
    )


def read_written_at(payload: bytes | bytearray | memoryview) -> datetime:
    """The envelope's ``ledger_written_at``: from a short search when our writer wrote it, else by parsing.

    Raises ``EnvelopeError`` for a payload without one (the original OMEN's frames all have it).
    """
    match = _WRITTEN_AT.search(payload)
    text = match.group(1).decode() if match is not None else None
    if text is None:
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"payload is not JSON: {exc}") from None
        text = document.get("ledger_written_at") if isinstance(document, dict) else None
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise EnvelopeError(f"envelope has no ledger_written_at time (found {text!r})") from None
    # Ours end in Z; a naive time is UTC, as every reader of the original's envelopes takes it.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
