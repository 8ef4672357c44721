"""Parse Polymarket Gamma replies (``/markets`` or ``/events``) into RawEvents.

Pure: no HTTP here. A bad record becomes a ParseFailure naming the field and
its value; it never raises and never stops the batch.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import orjson

from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.field_readers import (
    BadField,
    clean_text,
    excerpt,
    is_finite_number,
    is_number,
    json_type,
    not_the_reply,
    read_text,
    show,
)

SOURCE = "polymarket"
MARKET_URL = "https://polymarket.com/event/{slug}"
MAX_QUESTION_CHARS = 10_000
MAX_DESCRIPTION_CHARS = 100_000
MIN_YEAR, MAX_YEAR = 1970, 2200


def _number(record: dict, *fields: str) -> float:
    """First present field among ``fields`` as a finite, non-negative float; 0.0 if none."""
    for field in fields:
        value = record.get(field)
        if value is None or value == "":
            continue
        if is_number(value):
            if not is_finite_number(value):
                raise BadField(field, f"{field} must be finite, got {show(value)}")
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise BadField(field, f"{field} must be a number, got {show(value)}") from None
        else:
            raise BadField(field, f"{field} must be a number, got {type(value).__name__} {show(value)}")
        if not math.isfinite(number):
            raise BadField(field, f"{field} must be finite, got {show(value)}")
        if number < 0:
            raise BadField(field, f"{field} must not be negative, got {show(value)}")
        return number
    return 0.0


def _array(value: Any) -> Any:
    """Gamma encodes its arrays (outcomes, outcomePrices) as JSON inside strings: decoded, or as given.

    Raises orjson.JSONDecodeError when a string is not JSON.
    """
    return orjson.loads(value) if isinstance(value, str) else value


def _yes_price(record: dict) -> float:
    raw = record.get("outcomePrices")
    if raw is None:
        raise BadField("outcomePrices", "outcomePrices is missing: a market without a price is not a signal")
    try:
        prices = _array(raw)
    except orjson.JSONDecodeError:
        raise BadField("outcomePrices", f"outcomePrices is not a JSON array: {show(raw)}") from None
    if not isinstance(prices, list) or not prices:
        raise BadField("outcomePrices", f"outcomePrices must be a non-empty array of prices, got {show(raw)}")
    first = prices[0]
    try:
        if is_number(first):
            price = float(first)
        elif isinstance(first, str):
            price = float(first)
        else:
            raise ValueError
    except (ValueError, OverflowError):
        raise BadField("outcomePrices", f"outcomePrices[0] (YES) is not a number: {show(raw)}") from None
    for other in prices[1:]:
        if not (is_number(other) or isinstance(other, str)):
            raise BadField("outcomePrices", f"outcomePrices holds a non-price: {show(raw)}")
    if not (0.0 <= price <= 1.0):  # also rejects NaN
        raise BadField("outcomePrices", f"outcomePrices[0] (YES) must be within [0, 1], got {show(raw)}")
    return price


def _datetime(record: dict, field: str) -> datetime | None:
    value = record.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadField(field, f"{field} must be an ISO-8601 string, got {type(value).__name__} {show(value)}")
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadField(field, f"{field} is not an ISO-8601 date/time: {show(value)}") from None
    # Beyond these years the value is a placeholder or garbage, and date
    # arithmetic on it (history windows) would overflow.
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadField(field, f"{field} is outside the years {MIN_YEAR}-{MAX_YEAR}: {show(value)}")
    return parsed


def _flag(record: dict, field: str) -> bool:
    value = record.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadField(field, f"{field} must be true or false, got {show(value)}")
    return value


def _settled_outcome(record: dict) -> str | None:
    """The label of the outcome whose price settled at 1 (every other at 0), else None."""
    try:
        prices, labels = _array(record.get("outcomePrices")), _array(record.get("outcomes"))
    except orjson.JSONDecodeError:
        return None
    if not isinstance(prices, list) or not isinstance(labels, list) or not labels or len(labels) != len(prices):
        return None
    try:
        values = [float(price) for price in prices]
    except (TypeError, ValueError):
        return None
    if sorted(values) != [0.0] * (len(values) - 1) + [1.0]:
        return None
    winner = labels[values.index(1.0)]
    return clean_text(str(winner))[:100] if isinstance(winner, (str, int, float)) else None


class _Lifecycle(NamedTuple):
    state: str  # "" (open), "closed", "resolved", "archived" or "ended"
    closed_at: datetime | None
    outcome: str | None


def _lifecycle(record: dict, event: dict | None, end_date: datetime | None, observed_at: datetime) -> _Lifecycle:
    """Whether the market still trades, read from the market and, for /events, its event.

    An event's ``closed`` or ``archived`` closes every market nested in it; a market whose end
    date is before the observation is "ended" even while Gamma still lists it as active.
    """
    scopes = [record] if event is None else [record, event]
    closed = any(_flag(scope, "closed") for scope in scopes)
    archived = any(_flag(scope, "archived") for scope in scopes)
    if closed:
        outcome = _settled_outcome(record)
        closed_at = _datetime(record, "closedTime") or end_date
        return _Lifecycle("resolved" if outcome is not None else "closed", closed_at, outcome)
    if archived:
        return _Lifecycle("archived", _datetime(record, "closedTime") or end_date, None)
    if end_date is not None and end_date < observed_at:
        return _Lifecycle("ended", end_date, None)
    return _Lifecycle("", None, None)


def _market_id(record: dict) -> str:
    value = record.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadField("id", f"id must be a string or an integer, got {show(value)}")
    text = clean_text(str(value)).strip()
    if not text or len(text) > 100:
        raise BadField("id", f"id must be 1 to 100 characters, got {show(value)}")
    return text


def parse_market(record: Any, *, fetched_at: datetime, event: dict | None = None) -> RawEvent | ParseFailure:
    """One Gamma market object -> RawEvent, or a ParseFailure naming the field.

    ``event`` is the /events object the market is nested in, if any: its closed and archived
    flags and its end date apply to the market too.
    """
    if not isinstance(record, dict):
        return ParseFailure(
            SOURCE, "", "market", f"a market must be a JSON object, got {type(record).__name__}", excerpt(record)
        )
    external_id = ""
    try:
        external_id = _market_id(record)
        question = read_text(record, "question", required=True, limit=MAX_QUESTION_CHARS)
        description = read_text(record, "description", required=False, limit=MAX_DESCRIPTION_CHARS)
        slug = read_text(record, "slug", required=False, limit=1000)
        condition_id = read_text(record, "conditionId", required=False, limit=200)
        probability = _yes_price(record)
        liquidity = _number(record, "liquidityNum", "liquidity")
        volume = _number(record, "volumeNum", "volume")
        movement = record.get("oneDayPriceChange")
        if movement is not None:
            if not is_finite_number(movement):
                raise BadField("oneDayPriceChange", f"oneDayPriceChange must be a number, got {show(movement)}")
            movement = float(movement)
        resolution_date = _datetime(record, "endDate")
        if resolution_date is None and event is not None:
            resolution_date = _datetime(event, "endDate")
        observed_at = _datetime(record, "updatedAt") or fetched_at
        lifecycle = _lifecycle(record, event, resolution_date, observed_at)
    except BadField as bad:
        return ParseFailure(
            SOURCE, external_id, bad.field, f"market {external_id or '?'}: {bad.reason}", excerpt(record)
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
        closed_state=lifecycle.state,
        closed_at=lifecycle.closed_at,
        outcome=lifecycle.outcome,
    )


def _records(payload: Any) -> list[tuple[Any, dict | None]]:
    """(market record, the event it is nested in or None) of a /markets list, an /events list,
    or one event object."""
    if isinstance(payload, dict):
        items = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise not_the_reply(
            "Polymarket",
            "a JSON array of markets or events, or one event object",
            f"it is a JSON {json_type(payload)}",
            payload,
        )
    records: list[tuple[Any, dict | None]] = []
    for item in items:
        if _is_event(item):
            nested = item["markets"]
            if isinstance(nested, list):
                records.extend((market, item) for market in nested)
            else:
                records.append(({"id": item.get("id"), "markets": nested}, None))  # fails as a market
        else:
            records.append((item, None))
    return records


def _is_event(item: Any) -> bool:
    return isinstance(item, dict) and "question" not in item and "markets" in item


def count_markets(payload: Any) -> int:
    """How many records ``parse_markets`` reads from a reply, counted without parsing one (0 for
    a reply it refuses as a whole)."""
    items = [payload] if isinstance(payload, dict) else payload if isinstance(payload, list) else []
    return sum(len(item["markets"]) if _is_event(item) and isinstance(item["markets"], list) else 1 for item in items)


def parse_markets(payload: Any, *, fetched_at: datetime) -> list[RawEvent | ParseFailure]:
    """Decoded Gamma JSON -> one RawEvent or ParseFailure per market, in reply order."""
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    return [parse_market(record, fetched_at=fetched_at, event=event) for record, event in _records(payload)]
