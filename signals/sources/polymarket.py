"""Parse Polymarket Gamma replies (``/markets`` or ``/events``) into RawEvents.

Pure: no HTTP here. A bad record becomes a ParseFailure naming the field and
its value; it never raises and never stops the batch.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import orjson

from signals.pipeline.events import ParseFailure, RawEvent

SOURCE = "polymarket"
MARKET_URL = "https://polymarket.com/event/{slug}"
MAX_QUESTION_CHARS = 10_000
MAX_DESCRIPTION_CHARS = 100_000
EXCERPT_CHARS = 500
MIN_YEAR, MAX_YEAR = 1970, 2200
_VALUE_CHARS = 80


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _show(value: Any) -> str:
    """A short, safe rendering of a value for a message."""
    text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + f"... ({len(text)} chars)"


def _excerpt(record: Any) -> str:
    if not isinstance(record, dict):
        return _show(record)[:EXCERPT_CHARS]
    parts = []
    size = 0
    for key, value in record.items():
        if isinstance(value, (dict, list)):
            shown = f"<{type(value).__name__} of {len(value)}>"
        else:
            shown = _show(value)
        part = f"{str(key)[:40]}: {shown}"
        parts.append(part)
        size += len(part) + 2
        if size >= EXCERPT_CHARS:
            break
    return ("{" + ", ".join(parts) + "}")[:EXCERPT_CHARS]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(record: dict, *fields: str) -> float:
    """First present field among ``fields`` as a finite, non-negative float; 0.0 if none."""
    for field in fields:
        value = record.get(field)
        if value is None or value == "":
            continue
        if _is_number(value):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise _Bad(field, f"{field} must be a number, got {_show(value)}") from None
        else:
            raise _Bad(field, f"{field} must be a number, got {type(value).__name__} {_show(value)}")
        if not math.isfinite(number):
            raise _Bad(field, f"{field} must be finite, got {_show(value)}")
        if number < 0:
            raise _Bad(field, f"{field} must not be negative, got {_show(value)}")
        return number
    return 0.0


def _yes_price(record: dict) -> float:
    raw = record.get("outcomePrices")
    if raw is None:
        raise _Bad("outcomePrices", "outcomePrices is missing: a market without a price is not a signal")
    prices = raw
    if isinstance(raw, str):
        try:
            prices = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _Bad("outcomePrices", f"outcomePrices is not a JSON array: {_show(raw)}") from None
    if not isinstance(prices, list) or not prices:
        raise _Bad("outcomePrices", f"outcomePrices must be a non-empty array of prices, got {_show(raw)}")
    first = prices[0]
    try:
        if _is_number(first):
            price = float(first)
        elif isinstance(first, str):
            price = float(first)
        else:
            raise ValueError
    except ValueError:
        raise _Bad("outcomePrices", f"outcomePrices[0] (YES) is not a number: {_show(raw)}") from None
    for other in prices[1:]:
        if not (_is_number(other) or isinstance(other, str)):
            raise _Bad("outcomePrices", f"outcomePrices holds a non-price: {_show(raw)}")
    if not (0.0 <= price <= 1.0):  # also rejects NaN
        raise _Bad("outcomePrices", f"outcomePrices[0] (YES) must be within [0, 1], got {_show(raw)}")
    return price


def _datetime(record: dict, field: str) -> datetime | None:
    value = record.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Bad(field, f"{field} must be an ISO-8601 string, got {type(value).__name__} {_show(value)}")
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _Bad(field, f"{field} is not an ISO-8601 date/time: {_show(value)}") from None
    # Beyond these years the value is a placeholder or garbage, and date
    # arithmetic on it (history windows) would overflow.
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise _Bad(field, f"{field} is outside the years {MIN_YEAR}-{MAX_YEAR}: {_show(value)}")
    return parsed


def _text(record: dict, field: str, *, required: bool, limit: int) -> str:
    value = record.get(field)
    if value is None:
        if required:
            raise _Bad(field, f"{field} is missing")
        return ""
    if not isinstance(value, str):
        raise _Bad(field, f"{field} must be a string, got {type(value).__name__} {_show(value)}")
    if required and not value.strip():
        raise _Bad(field, f"{field} is empty")
    if len(value) > limit:
        raise _Bad(field, f"{field} is {len(value):,} characters long, the limit is {limit:,}")
    if "\x00" in value:
        raise _Bad(field, f"{field} contains a NUL character, which no text column can store")
    return value


def _market_id(record: dict) -> str:
    value = record.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad("id", f"id must be a string or an integer, got {_show(value)}")
    text = str(value).strip()
    if not text or len(text) > 100:
        raise _Bad("id", f"id must be 1 to 100 characters, got {_show(value)}")
    return text


def parse_market(record: Any, *, fetched_at: datetime) -> RawEvent | ParseFailure:
    """One Gamma market object -> RawEvent, or a ParseFailure naming the field."""
    if not isinstance(record, dict):
        return ParseFailure(
            SOURCE, "", "market", f"a market must be a JSON object, got {type(record).__name__}", _excerpt(record)
        )
    external_id = ""
    try:
        external_id = _market_id(record)
        question = _text(record, "question", required=True, limit=MAX_QUESTION_CHARS)
        description = _text(record, "description", required=False, limit=MAX_DESCRIPTION_CHARS)
        slug = _text(record, "slug", required=False, limit=1000)
        condition_id = _text(record, "conditionId", required=False, limit=200)
        probability = _yes_price(record)
        liquidity = _number(record, "liquidityNum", "liquidity")
        volume = _number(record, "volumeNum", "volume")
        movement = record.get("oneDayPriceChange")
        if movement is not None:
            if not _is_number(movement) or not math.isfinite(movement):
                raise _Bad("oneDayPriceChange", f"oneDayPriceChange must be a number, got {_show(movement)}")
            movement = float(movement)
        resolution_date = _datetime(record, "endDate")
        observed_at = _datetime(record, "updatedAt") or fetched_at
    except _Bad as bad:
        return ParseFailure(
            SOURCE, external_id, bad.field, f"market {external_id or '?'}: {bad.reason}", _excerpt(record)
        )
    return RawEvent(
        source=SOURCE,
        external_id=external_id,
        event_id=f"{SOURCE}-{external_id}",
        title=question,
        description=description,
        probability=probability,
        observed_at=observed_at,
        url=MARKET_URL.format(slug=slug) if slug else "",
        movement=movement,
        market_id=condition_id or external_id,
        volume=volume,
        liquidity=liquidity,
        resolution_date=resolution_date,
    )


def _records(payload: Any) -> list[Any]:
    """Market records of a /markets list, an /events list, or one event object."""
    if isinstance(payload, dict):
        items = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise ValueError(
            "Polymarket payload must be a JSON array of markets or events, or one event object; "
            f"got {type(payload).__name__}"
        )
    records: list[Any] = []
    for item in items:
        if isinstance(item, dict) and "question" not in item and "markets" in item:
            nested = item["markets"]
            if isinstance(nested, list):
                records.extend(nested)
            else:
                records.append({"id": item.get("id"), "markets": nested})  # fails as a market
        else:
            records.append(item)
    return records


def parse_markets(payload: Any, *, fetched_at: datetime) -> list[RawEvent | ParseFailure]:
    """Decoded Gamma JSON -> one RawEvent or ParseFailure per market, in reply order."""
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    return [parse_market(record, fetched_at=fetched_at) for record in _records(payload)]
