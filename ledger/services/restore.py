"""Turn ledger envelopes back into Signal rows and their SourceEvents: shared by replay and import.

Both read a frame's envelope, check its contract against the columns a Signal row has, and write
rows in bulk. Neither goes through ``Signal.save``: replay must not queue frames that already
exist, and import announces its rows itself (``signals_bulk_created``) so the outbox records them.

``restore_signal`` is the one rule by which a contract becomes columns: import, replay and
``ledger verify --contents`` (which re-derives the columns from each stored contract) all use it.
It takes every frame the original OMEN could have written (docs/architecture.md, "The original
OMEN's ledger"):

* ids of any length up to ``MAX_ID_CHARS``; a longer one is refused, naming the field;
* ``input_event_hash``: the contract's value, else the envelope's; one leading ``sha256:`` is
  removed ("sha256:<64 hex>" -> "<64 hex>"), whatever follows it is kept;
* fields the original left out (it wrote ``exclude_none``): ``trace_id``, ``source_event_id``,
  ``ruleset_version``, ``input_event_hash`` and ``observed_at`` from the envelope,
  ``generated_at`` from ``observed_at``. Those it fills in are added to the stored contract, so
  every stored contract makes its own row again (verify, and the writer's update and delete
  frames, read it without the envelope); nothing else in a contract is added or changed;
* timestamps with ``Z``, with an offset (converted to UTC), or naive (taken as UTC);
* the source: the prefix of ``source_event_id`` when it names a source OMEN polls, else
  ``probability_source`` when that does, else ``original`` (never polled) with the whole
  ``source_event_id`` as the SourceEvent's id.

A contract is stored as ``canonical_json(contract)``: for our own frames that is the text the
frame holds, byte for byte; for the original OMEN's frames it is the same document (with the
fields above filled in) re-encoded the one way this codebase stores contracts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from signals.models import Signal, SourceEvent
from signals.models.choices import Category, ConfidenceLevel, SignalStatus, SignalType, Source
from signals.public import (
    EventKey,
    SavedSignal,
    SignalRow,
    SourceEventObservations,
    canonical_json,
    signals_bulk_created,
    signals_insert,
    source_events_upsert,
)
from utilities.bulk_sql import datetime_adapter

__all__ = [
    "MAX_ID_CHARS",
    "ContractError",
    "RestoredSignal",
    "restore_payload",
    "restore_signal",
    "signal_rows",
    "signals_restore",
    "signals_write_restored",
    "source_events_restore",
]

# The longest id stored. The identity columns are text, as the original set no length on them,
# but each is indexed (signal_id unique, (source, external_id) unique, trace_id, input_event_hash,
# source_event_id) and PostgreSQL refuses a btree entry over about 2700 bytes (a third of a page):
# 512 characters are at most 2048 bytes of UTF-8, so an id up to this length is always indexed,
# whatever its characters. The original's own ids are at most a few dozen characters.
MAX_ID_CHARS = 512

# The sources a source_event_id prefix or probability_source can name: the polled ones.
_SOURCES = {value.lower(): value for value in Source.values if value != Source.ORIGINAL}
# Built once: a TextChoices' ``.values`` is a new list on every access, and replay asks per frame.
_SIGNAL_TYPES = tuple(SignalType.values)
_STATUSES = tuple(SignalStatus.values)
_CATEGORIES = tuple(Category.values)
_CONFIDENCE_LEVELS = tuple(ConfidenceLevel.values)
_MAX_URL = SourceEvent._meta.get_field("url").max_length
_HASH_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class _Limit:
    """The most characters a text field can have, and why, for the refusal."""

    chars: int
    why: str


_ID_LIMIT = _Limit(MAX_ID_CHARS, f"an id longer than {MAX_ID_CHARS} characters cannot be indexed, so it is not stored")
_TITLE_CHARS = Signal._meta.get_field("title").max_length
_TITLE_LIMIT = _Limit(_TITLE_CHARS, f"the column holds {_TITLE_CHARS}")


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
    hold. A field the contract lacks (the original wrote ``exclude_none``) is taken from the
    envelope, or from another field, as the module docstring lists, and added to the stored
    contract.
    """
    contract = envelope.get("signal")
    if not isinstance(contract, dict):
        raise ContractError("signal", "missing, or not a JSON object")
    fields = _Fields(contract, envelope)
    signal_id = fields.text("signal_id", _ID_LIMIT)
    if envelope.get("signal_id", signal_id) != signal_id:
        raise ContractError("signal_id", f"envelope says {envelope.get('signal_id')!r}, contract {signal_id!r}")
    source_event_id = fields.text("source_event_id", _ID_LIMIT)
    source, external_id = source_event_key(source_event_id, contract.get("probability_source"))
    observed_at = fields.get("observed_at")
    row = SignalRow(
        signal_id=signal_id,
        source=source,
        source_event_id=source_event_id,
        input_event_hash=fields.input_event_hash(),
        trace_id=fields.text("trace_id", _ID_LIMIT, envelope_name="deterministic_trace_id"),
        ruleset_version=fields.text("ruleset_version"),
        signal_type=_choice(contract, "signal_type", _SIGNAL_TYPES),
        status=_choice(contract, "status", _STATUSES),
        category=_choice(contract, "category", _CATEGORIES),
        confidence_level=_choice(contract, "confidence_level", _CONFIDENCE_LEVELS),
        title=_checked_text("title", _required(contract, "title"), _TITLE_LIMIT, allow_empty=True),
        probability=_unit_interval(contract, "probability"),
        confidence=_unit_interval(contract, "confidence_score"),
        observed_at=_moment(observed_at, "signal.observed_at"),
        generated_at=_moment(fields.get("generated_at", default=observed_at), "signal.generated_at"),
        created_at=_moment(envelope.get("emitted_at"), "emitted_at"),
        contract=_stored_json(fields.completed()),
        # Not in the contract: the envelope says it of a partner's signal (frames since it did).
        pushed=envelope.get("pushed") is True,
    )
    return RestoredSignal(source=source, external_id=external_id, url=_url(contract.get("source_url")), row=row)


class _Fields:
    """A contract's fields, with the envelope's for those it lacks; remembers what it filled in."""

    def __init__(self, contract: dict, envelope: Mapping[str, Any]) -> None:
        self.contract = contract
        self.envelope = envelope
        self.filled: dict[str, Any] = {}

    def get(self, name: str, *, envelope_name: str | None = None, default: Any = None) -> Any:
        """The contract's value; else the envelope's (``envelope_name``, or the same name); else
        ``default`` (for generated_at, the observed_at found); else ContractError."""
        value = self.contract.get(name)
        if value is not None:
            return value
        value = self.envelope.get(envelope_name or name)
        if value is None:
            value = default
        if value is None:
            raise ContractError(f"signal.{name}", "missing")
        self.filled[name] = value
        return value

    def text(self, name: str, limit: _Limit | None = None, *, envelope_name: str | None = None) -> str:
        return _checked_text(name, self.get(name, envelope_name=envelope_name), limit)

    def input_event_hash(self) -> str:
        """The one rule for the hash (the contract's, else the envelope's): one leading ``sha256:``
        is removed, the rest kept as it is. The original's pipeline put 16 hex digits in the
        contract and "sha256:" + 64 in the envelope; its demo writer only the envelope's; its
        tests "sha256:frame123"."""
        value = self.get("input_event_hash")
        if isinstance(value, str):
            value = value.removeprefix(_HASH_PREFIX)
            if "input_event_hash" in self.filled:
                self.filled["input_event_hash"] = value  # spelled as the contract spells it
        return _checked_text("input_event_hash", value, _ID_LIMIT)

    def completed(self) -> dict:
        """The contract as stored: with the fields it lacked filled in, so it makes this row alone."""
        return {**self.contract, **self.filled} if self.filled else self.contract


def _stored_json(contract: dict) -> str:
    try:
        return canonical_json(contract)
    except TypeError as exc:  # orjson.JSONEncodeError: nested deeper than the encoder allows
        raise ContractError("signal", f"cannot be stored as JSON ({exc})") from None


def _required(contract: Mapping, name: str) -> Any:
    value = contract.get(name)
    if value is None:
        raise ContractError(f"signal.{name}", "missing")
    return value


def _checked_text(name: str, value: Any, limit: _Limit | None = None, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ContractError(f"signal.{name}", f"must be text, not {_show(value)}")
    if not value and not allow_empty:
        raise ContractError(f"signal.{name}", "is empty")
    if limit is not None and len(value) > limit.chars:
        raise ContractError(f"signal.{name}", f"is {len(value)} characters, {limit.why}")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: one such row would fail the whole batch it is in.
        raise ContractError(f"signal.{name}", "contains a NUL character, which no text column can store")
    return value


def _choice(contract: Mapping, name: str, choices: Sequence[str]) -> str:
    value = _required(contract, name)
    if value not in choices:
        raise ContractError(f"signal.{name}", f"{_show(value)} is not one of {', '.join(choices)}")
    return value


def _unit_interval(contract: Mapping, name: str) -> float:
    value = _required(contract, name)
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


def source_event_key(source_event_id: str, probability_source: Any) -> tuple[str, str]:
    """The SourceEvent a signal belongs to:

    * ("polymarket", "517310") from "polymarket-517310": the prefix names a source OMEN polls;
    * else the source ``probability_source`` names, and the id after the prefix: ("yahoo",
      "AAPL-2020110600") from Yahoo's "stock-AAPL-2020110600", as Yahoo's parser names it;
    * else ("original", source_event_id): a source OMEN does not poll (the original's demo,
      test and generated signals: "frame-test", "weather-rotterdam-1767225600.123"), kept whole.
    """
    prefix, dash, rest = source_event_id.partition("-")
    source = _SOURCES.get(prefix.lower()) if dash else None
    if source is None and isinstance(probability_source, str):
        source = _SOURCES.get(probability_source.lower())
    if source is None:
        return Source.ORIGINAL.value, source_event_id
    return source, rest if dash and rest else source_event_id


def _url(value: Any) -> str:
    # The SourceEvent's link only: a URL its column cannot hold is left out, the signal is kept.
    return value if isinstance(value, str) and len(value) <= _MAX_URL and "\x00" not in value else ""


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


def signals_write_restored(signals: Sequence[RestoredSignal]) -> int:
    """Insert the signals the database does not have and announce them (create frames); return how many.

    The caller holds the transaction: the rows and their outbox entries commit together.
    """
    known = set(Signal.objects.filter(signal_id__in=[s.signal_id for s in signals]).values_list("signal_id", flat=True))
    new = [signal for signal in signals if signal.signal_id not in known]
    if not new:
        return 0
    to_db = datetime_adapter()
    event_pks = source_events_restore(new, to_db)
    # ON CONFLICT DO NOTHING: a concurrent import or ingest may have written one since the query.
    created = signals_insert(signal_rows(new, event_pks, to_db))
    if created:
        rows = {signal.signal_id: signal.row for signal in new}
        saved = [
            SavedSignal.of(
                pk, rows[signal_id], observed_at=rows[signal_id].observed_at, created_at=rows[signal_id].created_at
            )
            for pk, signal_id in created
        ]
        signals_bulk_created.send(sender=Signal, signals=saved)
    return len(created)


def signals_restore(stored: Iterable[tuple[str, datetime, bool]]) -> int:
    """Put back signals kept outside the database (retention's archives): (stored contract,
    created_at, pushed) triples, ``pushed`` for a partner's signal (the contract does not say it).

    The same rule as import turns each contract into its row; a signal the database has is
    skipped, so restoring twice adds nothing. Each restored signal gets a create frame, which
    says ``pushed`` as its row does: the ledger shows it deleted, then back. Raises
    ``ContractError`` naming the field of a contract that cannot make a row, before anything is
    written. The caller holds the transaction.
    """
    signals = [_restored(contract, created_at, pushed) for contract, created_at, pushed in stored]
    return signals_write_restored(signals) if signals else 0


def signals_restore_check(stored: Iterable[tuple[str, datetime, bool]]) -> None:
    """Check, writing nothing, that ``signals_restore`` would take each triple: a caller that
    restores in several transactions checks them all before the first. Raises ``ContractError``
    naming the triple's place (from 1) and the field."""
    for place, (contract, created_at, pushed) in enumerate(stored, start=1):
        try:
            _restored(contract, created_at, pushed)
        except ContractError as exc:
            raise ContractError(f"line {place}", str(exc)) from exc


def _restored(contract: str, created_at: datetime, pushed: bool) -> RestoredSignal:
    try:
        document = orjson.loads(contract)
    except orjson.JSONDecodeError as exc:
        raise ContractError("contract", f"not JSON ({exc})") from exc
    # As a frame's envelope carries them: the row, its SavedSignal and so its create frame say pushed.
    return restore_signal({"signal": document, "emitted_at": created_at.isoformat(), "pushed": pushed})
