"""Turn ledger envelopes back into Signal rows and their SourceEvents: shared by replay and import.

Both read a frame's envelope, check its contract against the columns a Signal row has, and write
rows in bulk. Neither goes through ``Signal.save``: replay must not queue frames that already
exist, and import announces its rows itself (``signals_bulk_created``) so the outbox records them.

A contract is stored as ``canonical_json(contract)``: for our own frames that is the text the
frame holds, byte for byte; for the original OMEN's frames it is the same document re-encoded
the one way this codebase stores contracts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from signals.models import Signal, SourceEvent
from signals.models.choices import Category, ConfidenceLevel, SignalStatus, SignalType, Source
from signals.public import (
    EventKey,
    SignalRow,
    SourceEventObservations,
    canonical_json,
    source_events_upsert,
)

__all__ = [
    "ContractError",
    "RestoredSignal",
    "restore_payload",
    "restore_signal",
    "signal_rows",
    "source_events_restore",
]

_SOURCES = {value.lower(): value for value in Source.values}
# Built once: a TextChoices' ``.values`` is a new list on every access, and replay asks per frame.
_SIGNAL_TYPES = tuple(SignalType.values)
_STATUSES = tuple(SignalStatus.values)
_CATEGORIES = tuple(Category.values)
_CONFIDENCE_LEVELS = tuple(ConfidenceLevel.values)
_MAX_EXTERNAL_ID = SourceEvent._meta.get_field("external_id").max_length
_MAX_URL = SourceEvent._meta.get_field("url").max_length


def _max_length(name: str) -> int:
    return Signal._meta.get_field(name).max_length


class ContractError(ValueError):
    """A contract (or its envelope) a Signal row cannot be made from; names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


# --------------------------------------------------------------------------- contract -> row


@dataclass(frozen=True, slots=True)
class RestoredSignal:
    """One Signal row, its times still Python datetimes, and the SourceEvent it belongs to."""

    source: str
    external_id: str
    url: str
    row: SignalRow

    @property
    def signal_id(self) -> str:
        return self.row.signal_id

    @property
    def event_key(self) -> EventKey:
        return (self.source, self.external_id)


def restore_payload(payload: bytes) -> RestoredSignal:
    """The Signal row the contract in a frame's payload (an envelope) makes."""
    try:
        envelope = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ContractError("payload", f"is not JSON ({exc})") from None
    if not isinstance(envelope, dict):
        raise ContractError("payload", "is not a JSON object")
    return restore_signal(envelope)


def restore_signal(envelope: Mapping[str, Any]) -> RestoredSignal:
    """The Signal row of an envelope's ``signal`` contract; ``created_at`` is its ``emitted_at``.

    Raises ``ContractError`` naming the first field that is missing or that the columns cannot
    hold. The original OMEN wrote its envelopes with ``exclude_none``, so a contract may lack an
    identity field the envelope repeats: those few are taken from the envelope then.
    """
    contract = envelope.get("signal")
    if not isinstance(contract, dict):
        raise ContractError("signal", "missing, or not a JSON object")
    signal_id = _text(contract, "signal_id", _max_length("signal_id"))
    if envelope.get("signal_id", signal_id) != signal_id:
        raise ContractError("signal_id", f"envelope says {envelope.get('signal_id')!r}, contract {signal_id!r}")
    source_event_id = _text(contract, "source_event_id", _max_length("source_event_id"), envelope)
    source, external_id = _source_and_external_id(source_event_id, contract.get("probability_source"))
    observed_at = _moment(_field(contract, "observed_at", envelope), "signal.observed_at")
    return RestoredSignal(
        source=source,
        external_id=external_id,
        url=_url(contract.get("source_url")),
        row=SignalRow(
            signal_id=signal_id,
            source=source,
            source_event_id=source_event_id,
            input_event_hash=_input_hash(contract, envelope),
            trace_id=_text(contract, "trace_id", _max_length("trace_id"), envelope, "deterministic_trace_id"),
            ruleset_version=_text(contract, "ruleset_version", _max_length("ruleset_version"), envelope),
            signal_type=_choice(contract, "signal_type", _SIGNAL_TYPES),
            status=_choice(contract, "status", _STATUSES),
            category=_choice(contract, "category", _CATEGORIES),
            confidence_level=_choice(contract, "confidence_level", _CONFIDENCE_LEVELS),
            title=_text(contract, "title", _max_length("title"), allow_empty=True),
            probability=_unit_interval(contract, "probability"),
            confidence=_unit_interval(contract, "confidence_score"),
            observed_at=observed_at,
            generated_at=_moment(_field(contract, "generated_at"), "signal.generated_at"),
            created_at=_moment(envelope.get("emitted_at"), "emitted_at"),
            contract=_stored_json(contract),
        ),
    )


def _stored_json(contract: dict) -> str:
    try:
        return canonical_json(contract)
    except TypeError as exc:  # orjson.JSONEncodeError: nested deeper than the encoder allows
        raise ContractError("signal", f"cannot be stored as JSON ({exc})") from None


def _field(contract: Mapping, name: str, envelope: Mapping | None = None, envelope_name: str | None = None) -> Any:
    value = contract.get(name)
    if value is None and envelope is not None:
        value = envelope.get(envelope_name or name)
    if value is None:
        raise ContractError(f"signal.{name}", "missing")
    return value


def _text(
    contract: Mapping,
    name: str,
    max_length: int,
    envelope: Mapping | None = None,
    envelope_name: str | None = None,
    *,
    allow_empty: bool = False,
) -> str:
    return _checked_text(name, _field(contract, name, envelope, envelope_name), max_length, allow_empty=allow_empty)


def _checked_text(name: str, value: Any, max_length: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ContractError(f"signal.{name}", f"must be text, not {_show(value)}")
    if not value and not allow_empty:
        raise ContractError(f"signal.{name}", "is empty")
    if len(value) > max_length:
        raise ContractError(f"signal.{name}", f"is {len(value)} characters, the column holds {max_length}")
    return value


def _choice(contract: Mapping, name: str, choices: Sequence[str]) -> str:
    value = _field(contract, name)
    if value not in choices:
        raise ContractError(f"signal.{name}", f"{_show(value)} is not one of {', '.join(choices)}")
    return value


def _unit_interval(contract: Mapping, name: str) -> float:
    value = _field(contract, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ContractError(f"signal.{name}", f"must be a number, not {_show(value)}")
    if not 0.0 <= value <= 1.0:
        raise ContractError(f"signal.{name}", f"{value!r} is outside [0, 1]")
    return float(value)


def _moment(value: Any, name: str) -> datetime:
    """An ISO-8601 timestamp; the original wrote UTC with ``Z``, and a naive one is taken as UTC."""
    if not isinstance(value, str):
        raise ContractError(name, f"must be an ISO-8601 timestamp, not {_show(value)}")
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ContractError(name, f"{_show(value)} is not an ISO-8601 timestamp in range") from None


def _input_hash(contract: Mapping, envelope: Mapping) -> str:
    # The original's envelope spells it "sha256:<hex>"; the column holds the hex.
    value = _field(contract, "input_event_hash", envelope)
    if isinstance(value, str):
        value = value.removeprefix("sha256:")
    return _checked_text("input_event_hash", value, _max_length("input_event_hash"))


def _source_and_external_id(source_event_id: str, probability_source: Any) -> tuple[str, str]:
    """("polymarket", "517310") from "polymarket-517310"; a prefix that is not a source (Yahoo's
    "stock-AAPL-2020110600") takes the source from ``probability_source``."""
    prefix, dash, rest = source_event_id.partition("-")
    source = _SOURCES.get(prefix.lower()) if dash else None
    if source is None:
        if not isinstance(probability_source, str) or probability_source.lower() not in _SOURCES:
            raise ContractError(
                "signal.probability_source",
                f"{_show(probability_source)} is not a source ({', '.join(Source.values)}), and neither is "
                f"the prefix of source_event_id {source_event_id!r}",
            )
        source = _SOURCES[probability_source.lower()]
    external_id = rest if dash and rest else source_event_id
    if len(external_id) > _MAX_EXTERNAL_ID:
        raise ContractError("signal.source_event_id", f"its external id is longer than {_MAX_EXTERNAL_ID} characters")
    return source, external_id


def _url(value: Any) -> str:
    # The SourceEvent's link only: a URL its column cannot hold is left out, the signal is kept.
    return value if isinstance(value, str) and len(value) <= _MAX_URL else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


# --------------------------------------------------------------------------- writing


def source_events_restore(signals: Sequence[RestoredSignal], to_db: Callable) -> dict[EventKey, int]:
    """Insert or move forward the SourceEvent of every signal; its primary key per (source, external id).

    An event that exists keeps its recent history (the anomaly rule's input, which no frame carries).
    """
    observations = SourceEventObservations()
    for signal in signals:
        row = signal.row
        observations.observe(
            signal.event_key,
            title=row.title,
            url=signal.url,
            observed_at=row.observed_at,
            probability=row.probability,
            signal_id=row.signal_id,
        )
    return source_events_upsert(observations.rows(to_db), restoring=True)


def signal_rows(
    signals: Sequence[RestoredSignal], event_pks: Mapping[EventKey, int], to_db: Callable
) -> list[tuple[int, SignalRow]]:
    """(SourceEvent pk, row) pairs, as ``signals_insert`` and ``signals_replace`` take them."""
    return [(event_pks[signal.event_key], signal.row.for_backend(to_db)) for signal in signals]
