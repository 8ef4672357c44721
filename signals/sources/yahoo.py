"""Parse Yahoo Finance chart replies (``/v8/finance/chart/{symbol}``) into RawEvents.

Pure: no HTTP here. One RawEvent per chart result (a reply normally holds one):
the move between the last two non-null closes. A bad result becomes a
ParseFailure naming the field; ``chart.error`` or a payload that is not a chart
reply raises ValueError.

Spike (reference §4): |change %| >= the symbol's threshold (``thresholds``,
default ``DEFAULT_THRESHOLDS``, other symbols ``DEFAULT_THRESHOLD``). Severity
by |change| / threshold: moderate >= 1x, major >= 1.5x, extreme >= 2x.

Probability (an estimate, ``probability_is_estimate=True``):
0.5 + min(0.02 x |change %|, 0.2) + severity bonus (none 0, moderate 0.05,
major 0.10, extreme 0.15), clamped to [0.3, 0.85].

Identity: ``external_id`` = "{symbol}-{YYYYMMDDHH}" of the last bar's timestamp
(UTC); ``event_id`` = "stock-{external_id}", the id OMEN's consumers know
(reference §4: "stock-{symbol}-{YYYYMMDDHH}"); ``observed_at`` = the last bar's
time. ``source`` is "yahoo".

Wording: the title names the instrument (e.g. "WTI crude oil futures") only for
a spike; a move below the threshold is titled by its ticker alone and carries
no risk vocabulary, so the pipeline rejects it as irrelevant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.field_readers import (
    BadField,
    clean_text,
    excerpt,
    is_finite_number,
    json_type,
    message_text,
    not_the_reply,
    show,
)

SOURCE = "yahoo"
EVENT_PREFIX = "stock"
DEFAULT_THRESHOLD = 3.0
DEFAULT_THRESHOLDS: dict[str, float] = {
    "^GSPC": 2.0,
    "^VIX": 15.0,
    "CL=F": 4.0,
    "GC=F": 2.0,
    "BZ=F": 4.0,
    "NG=F": 5.0,
}
# Names of the default watchlist (stable wording, unlike the reply's shortName
# "Crude Oil Dec 20"); other symbols use the reply's longName / shortName.
WATCHLIST_NAMES: dict[str, str] = {
    "^GSPC": "S&P 500 index",
    "^VIX": "CBOE volatility index",
    "CL=F": "WTI crude oil futures",
    "GC=F": "gold futures",
    "BZ=F": "Brent crude oil futures",
    "NG=F": "natural gas futures",
}
SEVERITY_BONUS = (("extreme", 2.0, 0.15), ("major", 1.5, 0.10), ("moderate", 1.0, 0.05))
PROBABILITY_FLOOR, PROBABILITY_CEILING = 0.3, 0.85
MAX_SYMBOL_CHARS = 30
MAX_NAME_CHARS = 200
CHART_URL = "https://finance.yahoo.com/quote/{symbol}"


def _name(meta: dict, field: str) -> str:
    value = meta.get(field)
    if isinstance(value, str) and len(value) <= MAX_NAME_CHARS:
        return " ".join(clean_text(value).split())
    return ""


def _symbol(meta: dict) -> str:
    value = meta.get("symbol")
    symbol = clean_text(value).strip().upper() if isinstance(value, str) else ""
    if not symbol:
        raise BadField("meta.symbol", f"meta.symbol must be a non-empty string, got {show(value)}")
    if len(symbol) > MAX_SYMBOL_CHARS or any(c.isspace() for c in symbol):
        raise BadField(
            "meta.symbol", f"meta.symbol must be a ticker of at most {MAX_SYMBOL_CHARS} characters, got {show(value)}"
        )
    return symbol


def _bar_time(value: Any) -> datetime:
    if not is_finite_number(value):
        raise BadField("timestamp", f"timestamp must hold unix seconds, got {show(value)}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise BadField("timestamp", f"timestamp holds an impossible unix time {show(value)}") from None


def _last_two_closes(result: dict) -> tuple[tuple[datetime, float], tuple[datetime, float]]:
    """(previous, last) as (bar time, close) of the last two bars with a close."""
    timestamps = result.get("timestamp")
    indicators = result.get("indicators")
    quotes = indicators.get("quote") if isinstance(indicators, dict) else None
    quote = quotes[0] if isinstance(quotes, list) and quotes else None
    closes = quote.get("close") if isinstance(quote, dict) else None
    if not isinstance(closes, list):
        raise BadField("indicators.quote.close", f"indicators.quote.close must be a list, got {show(closes)}")
    if not isinstance(timestamps, list):
        raise BadField("timestamp", f"timestamp must be a list of unix seconds, got {show(timestamps)}")
    if len(timestamps) != len(closes):
        raise BadField(
            "indicators.quote.close",
            f"indicators.quote.close has {len(closes)} values but timestamp has {len(timestamps)}",
        )
    found: list[tuple[datetime, float]] = []
    for i in range(len(closes) - 1, -1, -1):
        close = closes[i]
        if close is None:
            continue  # Yahoo leaves gaps as nulls
        if not is_finite_number(close) or close <= 0:
            raise BadField(
                "indicators.quote.close", f"indicators.quote.close[{i}] must be a positive number, got {show(close)}"
            )
        found.append((_bar_time(timestamps[i]), float(close)))
        if len(found) == 2:
            break
    if len(found) < 2:
        raise BadField(
            "indicators.quote.close",
            f"indicators.quote.close has {len(found)} non-null close(s); two are needed for a move",
        )
    last, previous = found
    if last[0] <= previous[0]:
        raise BadField(
            "timestamp", f"timestamp is not increasing: {previous[0]:%Y-%m-%d %H:%M} then {last[0]:%Y-%m-%d %H:%M}"
        )
    return previous, last


def _severity(ratio: float) -> tuple[str, float]:
    for name, at_least, bonus in SEVERITY_BONUS:
        if ratio >= at_least:
            return name, bonus
    return "none", 0.0


def probability(change_pct: float, threshold: float) -> tuple[float, str]:
    """(probability estimate, severity) of a move of ``change_pct`` % against ``threshold`` %."""
    severity, bonus = _severity(abs(change_pct) / threshold)
    p = 0.5 + min(0.02 * abs(change_pct), 0.2) + bonus
    return round(min(PROBABILITY_CEILING, max(PROBABILITY_FLOOR, p)), 4), severity


def parse_result(result: Any, *, thresholds: Mapping[str, float]) -> RawEvent | ParseFailure:
    """One ``chart.result[]`` entry -> RawEvent, or a ParseFailure naming the field."""
    if not isinstance(result, dict):
        return ParseFailure(
            SOURCE,
            "",
            "chart.result",
            f"a chart result must be a JSON object, got {type(result).__name__}",
            excerpt(result),
        )
    symbol = ""
    try:
        meta = result.get("meta")
        if not isinstance(meta, dict):
            raise BadField("meta", f"meta must be an object, got {show(meta)}")
        symbol = _symbol(meta)
        currency = _name(meta, "currency")
        (previous_at, previous), (last_at, last) = _last_two_closes(result)
    except BadField as bad:
        return ParseFailure(SOURCE, symbol, bad.field, f"chart {symbol or '?'}: {bad.reason}", excerpt(result))

    threshold = float(thresholds.get(symbol, DEFAULT_THRESHOLD))
    # Rounded so that float noise does not decide a boundary (37.6 vs 40.0 is -6 %, not -5.9999999 %).
    change = round((last - previous) / previous * 100, 6)
    p, severity = probability(change, threshold)
    spike = severity != "none"
    amount = f"{last:,.2f}" + (f" {currency}" if currency else "")
    direction = "rose" if change > 0 else "fell" if change < 0 else "was unchanged"
    moved = f"{direction} {abs(change):.1f}%" if change else direction
    name = WATCHLIST_NAMES.get(symbol) or _name(meta, "longName") or _name(meta, "shortName")
    bars = f"close {last:,.2f} on {last_at:%Y-%m-%d} after {previous:,.2f} on {previous_at:%Y-%m-%d}"
    if spike:
        who = f"{symbol} ({name})" if name else symbol
        title = f"{who} {moved} to {amount} (spike: threshold {threshold:g}%)"
        description = (
            f"Yahoo Finance daily chart of {who}: {bars}, a change of {change:+.2f}%, "
            f"{abs(change) / threshold:.2f}x the {threshold:g}% spike threshold ({severity})."
        )
    else:
        title = f"{symbol} moved {change:+.1f}% (no spike)"
        description = (
            f"Yahoo Finance daily chart of {symbol}: {bars}, a change of {change:+.2f}%, "
            f"below the {threshold:g}% spike threshold."
        )
    external_id = f"{symbol}-{last_at:%Y%m%d%H}"
    return RawEvent(
        source=SOURCE,
        external_id=external_id,
        event_id=f"{EVENT_PREFIX}-{external_id}",
        title=title,
        description=description,
        probability=p,
        observed_at=last_at,
        url=CHART_URL.format(symbol=symbol),
        market_id=symbol,
        probability_is_estimate=True,
        attributes={
            "symbol": symbol,
            "currency": currency,
            "change_pct": round(change, 4),
            "threshold_pct": threshold,
            "spike": spike,
            "severity": severity,
            "last_close": last,
            "previous_close": previous,
            "previous_at": previous_at,
        },
    )


def parse_chart(
    payload: Any, *, fetched_at: datetime, thresholds: Mapping[str, float] | None = None
) -> list[RawEvent | ParseFailure]:
    """Decoded chart JSON ``{"chart": {"result": [...], "error": ...}}`` -> one record per result.

    ``thresholds`` (symbol -> spike threshold in %) replaces the default watchlist.
    """
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    table = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    for symbol, value in table.items():
        if not is_finite_number(value) or value <= 0:
            raise ValueError(f"threshold of {symbol!r} must be a positive number of percent, got {value!r}")
    expected = 'a JSON object {"chart": {"result": [...], "error": null}}'
    if not isinstance(payload, dict):
        raise not_the_reply("Yahoo chart", expected, f"it is a JSON {json_type(payload)}", payload)
    chart = payload.get("chart")
    if not isinstance(chart, dict):
        problem = "the key 'chart' is missing" if "chart" not in payload else "'chart' is not an object"
        raise not_the_reply("Yahoo chart", expected, problem, payload)
    error = chart.get("error")
    if error is not None:
        if isinstance(error, dict):
            code, text = error.get("code"), error.get("description")
            raise ValueError(f"Yahoo chart error {message_text(code)}: {message_text(text)}"[:1000])
        raise ValueError(f"Yahoo chart error: {show(error)}")
    results = chart.get("result")
    if not isinstance(results, list) or not results:
        problem = (
            "the key 'chart.result' is missing" if "result" not in chart else "'chart.result' is not a non-empty array"
        )
        raise not_the_reply("Yahoo chart", expected, problem, payload)
    upper = {str(k).strip().upper(): float(v) for k, v in table.items()}
    return [parse_result(result, thresholds=upper) for result in results]
