"""Parse Open-Meteo replies (``/v1/forecast`` and marine ``/v1/marine``) into RawEvents.

Pure: no HTTP here. One RawEvent per location of a reply, describing the worst
conditions in the reply's ``current`` block or, when there is none, in the
``hourly`` series within the 48 hours after ``fetched_at`` (the whole series
when no hour falls in that window, e.g. an old saved reply). A bad location
becomes a ParseFailure naming the field; it never raises and never stops the
batch. Only a payload that is not an Open-Meteo reply at all raises ValueError.

Thresholds (reference §4): severe weather = weather code >= 65 or wind > 50 km/h;
dangerous sea = wave height > 4 m or swell wave height > 5 m.

Wording. The pipeline judges relevance from the text, so the risk vocabulary
appears only when the conditions cross a threshold: a severe forecast is titled
"Extreme weather at <place>: ...", a dangerous sea "Dangerous sea for shipping
at <place>: ...", and their descriptions name the risk to shipping. Calm titles
carry only coordinates and figures, and the place name goes to the description
(half weight), so a calm reply at a port whose name is itself a risk term
("Suez") is still rejected as irrelevant.

Probability (an estimate, ``probability_is_estimate=True``):
- not severe: 0.1;
- severe: 0.5 + 0.45 x min(1, exceedance), clamped to [0.05, 0.95], where
  exceedance is the largest of: (wind - 50) / 50 (wind 100 km/h -> 1);
  weather code 65-94 -> 0.25, 95 (thunderstorm) -> 0.5, 96-99 (with hail) -> 0.75;
  (wave - 4) / 4; (swell - 5) / 5.

Identity: ``external_id`` = "{kind}-{lat:.2f}_{lon:.2f}-{YYYYMMDDHH}" (kind
"forecast" or "marine", the location rounded to 0.01 degree, the UTC hour of the
worst observation); ``event_id`` = "openmeteo-{external_id}"; ``observed_at`` =
that hour, so the same reply always gives the same events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.field_readers import (
    BadField,
    clean_text,
    excerpt,
    is_finite_number,
    is_number,
    json_type,
    not_the_reply,
    show,
)

SOURCE = "openmeteo"
WINDOW = timedelta(hours=48)
MAX_PORT_CHARS = 200
WATCH_RADIUS_KM = 50.0

SEVERE_WEATHER_CODE = 65
SEVERE_WIND_KMH = 50.0
DANGEROUS_WAVE_M = 4.0
DANGEROUS_SWELL_M = 5.0
CALM_PROBABILITY = 0.1
PROBABILITY_FLOOR, PROBABILITY_CEILING = 0.05, 0.95

# Series names, current first then the legacy spelling Open-Meteo still accepts.
WIND_KEYS = ("wind_speed_10m", "windspeed_10m")
CODE_KEYS = ("weather_code", "weathercode")
WAVE_KEYS = ("wave_height",)
SWELL_KEYS = ("swell_wave_height",)
MARINE_KEYS = WAVE_KEYS + SWELL_KEYS

WIND_UNITS_TO_KMH = {"km/h": 1.0, "kmh": 1.0, "kn": 1.852, "m/s": 3.6, "ms": 3.6, "mph": 1.609344, "mp/h": 1.609344}
HEIGHT_UNITS_TO_M = {"m": 1.0, "ft": 0.3048}

# WMO weather interpretation codes as Open-Meteo documents them. None of these
# labels is a word of the pipeline's risk vocabulary.
WEATHER_CODES = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "fog",
    48: "depositing rime fog", 51: "light drizzle", 53: "moderate drizzle", 55: "dense drizzle",
    56: "light freezing drizzle", 57: "dense freezing drizzle", 61: "slight rain", 63: "moderate rain",
    65: "heavy rain", 66: "light freezing rain", 67: "heavy freezing rain", 71: "slight snowfall",
    73: "moderate snowfall", 75: "heavy snowfall", 77: "snow grains", 80: "slight rain showers",
    81: "moderate rain showers", 82: "violent rain showers", 85: "slight snow showers",
    86: "heavy snow showers", 95: "thunderstorm", 96: "thunderstorm with slight hail",
    99: "thunderstorm with heavy hail",
}  # fmt: skip


def _coordinate(reply: dict, field: str, limit: float) -> float:
    value = reply.get(field)
    if not is_finite_number(value) or not -limit <= value <= limit:
        raise BadField(field, f"{field} must be a number within [-{limit:g}, {limit:g}], got {show(value)}")
    return float(value)


def _utc_offset(reply: dict) -> timedelta:
    value = reply.get("utc_offset_seconds", 0)
    if value is None:
        return timedelta(0)
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 18 * 3600:
        raise BadField("utc_offset_seconds", f"utc_offset_seconds must be an integer within ±18 h, got {show(value)}")
    return timedelta(seconds=value)


def _time(value: Any, field: str, offset: timedelta) -> datetime:
    """An Open-Meteo time: local ISO "YYYY-MM-DDTHH:MM" (shifted by the reply's UTC offset) or unix seconds."""
    if is_number(value):
        try:
            return datetime.fromtimestamp(value, tz=UTC)  # raises on NaN, inf, out of range
        except (OverflowError, OSError, ValueError):
            raise BadField(field, f"{field} holds an impossible unix time {show(value)}") from None
    if not isinstance(value, str) or len(value) > 40:
        raise BadField(field, f"{field} must hold ISO-8601 strings or unix seconds, got {show(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadField(field, f"{field} holds a time that is not ISO-8601: {show(value)}") from None
    try:
        if parsed.tzinfo is None:
            return (parsed - offset).replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError:
        raise BadField(field, f"{field} holds a time out of range: {show(value)}") from None


def _unit_factor(reply: dict, units_block: str, key: str, table: Mapping[str, float], default: str) -> float:
    units = reply.get(units_block)
    unit = units.get(key, default) if isinstance(units, dict) else default
    if unit is None:
        unit = default
    if not isinstance(unit, str) or unit.strip().lower() not in table:
        raise BadField(
            f"{units_block}.{key}",
            f"{units_block}.{key} must be one of {', '.join(sorted(table))}, got {show(unit)}",
        )
    return table[unit.strip().lower()]


def _value(value: Any, field: str, *, code: bool = False) -> float | None:
    if value is None:
        return None
    if not is_finite_number(value):
        raise BadField(field, f"{field} must hold numbers or nulls, got {show(value)}")
    if code:
        if value != int(value) or not 0 <= value <= 99:
            raise BadField(field, f"{field} must hold WMO codes 0-99, got {show(value)}")
        return int(value)
    if value < 0:
        raise BadField(field, f"{field} must not be negative, got {show(value)}")
    return float(value)


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str  # "forecast" | "marine"
    # (label, keys, units table, default unit, is_code); the first present key is used.
    series: tuple[tuple[str, tuple[str, ...], Mapping[str, float] | None, str, bool], ...]


FORECAST = _Kind(
    "forecast",
    (("wind", WIND_KEYS, WIND_UNITS_TO_KMH, "km/h", False), ("code", CODE_KEYS, None, "wmo code", True)),
)
MARINE = _Kind(
    "marine",
    (("wave", WAVE_KEYS, HEIGHT_UNITS_TO_M, "m", False), ("swell", SWELL_KEYS, HEIGHT_UNITS_TO_M, "m", False)),
)


@dataclass(frozen=True, slots=True)
class _Hour:
    at: datetime
    values: dict[str, float | None]  # label -> value in km/h, m or WMO code


def _severity(kind: _Kind, values: Mapping[str, float | None]) -> tuple[bool, float]:
    """(severe?, exceedance >= 0) of one observation."""
    if kind is FORECAST:
        wind, code = values.get("wind"), values.get("code")
        severe = (wind is not None and wind > SEVERE_WIND_KMH) or (code is not None and code >= SEVERE_WEATHER_CODE)
        exceedance = 0.0
        if wind is not None and wind > SEVERE_WIND_KMH:
            exceedance = (wind - SEVERE_WIND_KMH) / SEVERE_WIND_KMH
        if code is not None and code >= SEVERE_WEATHER_CODE:
            exceedance = max(exceedance, 0.75 if code >= 96 else 0.5 if code >= 95 else 0.25)
        return severe, exceedance
    wave, swell = values.get("wave"), values.get("swell")
    exceedance = 0.0
    severe = False
    if wave is not None and wave > DANGEROUS_WAVE_M:
        severe, exceedance = True, (wave - DANGEROUS_WAVE_M) / DANGEROUS_WAVE_M
    if swell is not None and swell > DANGEROUS_SWELL_M:
        severe, exceedance = True, max(exceedance, (swell - DANGEROUS_SWELL_M) / DANGEROUS_SWELL_M)
    return severe, exceedance


def _rank(kind: _Kind, hour: _Hour) -> tuple:
    severe, exceedance = _severity(kind, hour.values)
    figures = tuple(-1.0 if hour.values.get(label) is None else hour.values[label] for label, *_ in kind.series)
    return (severe, exceedance, *figures)


def _series_keys(kind: _Kind, block: dict) -> list[tuple[str, str, Mapping[str, float] | None, str, bool]]:
    found = []
    for label, keys, table, default, is_code in kind.series:
        key = next((k for k in keys if k in block), None)
        if key is not None:
            found.append((label, key, table, default, is_code))
    if not found:
        wanted = " or ".join(keys[0] for _, keys, *_ in kind.series)
        raise BadField("hourly", f"hourly holds no {wanted} series")
    return found


def _hourly(kind: _Kind, reply: dict, offset: timedelta) -> list[_Hour]:
    block = reply.get("hourly")
    if not isinstance(block, dict):
        raise BadField("hourly", f"hourly must be an object of series, got {show(block)}")
    times = block.get("time")
    if not isinstance(times, list):
        raise BadField("hourly.time", f"hourly.time must be a list of times, got {show(times)}")
    if not times:
        raise BadField("hourly.time", "hourly.time is empty")
    columns = []
    for label, key, table, default, is_code in _series_keys(kind, block):
        field = f"hourly.{key}"
        values = block[key]
        if not isinstance(values, list):
            raise BadField(field, f"{field} must be a list, got {show(values)}")
        if len(values) != len(times):
            raise BadField(field, f"{field} has {len(values)} values but hourly.time has {len(times)}")
        factor = 1.0 if table is None else _unit_factor(reply, "hourly_units", key, table, default)
        columns.append((label, field, values, factor, is_code))
    hours = []
    for i, raw_time in enumerate(times):
        if raw_time is None:
            continue  # a null inside a series is a gap, not a fatal error
        at = _time(raw_time, "hourly.time", offset)
        values: dict[str, float | None] = {}
        for label, field, series, factor, is_code in columns:
            value = _value(series[i], field, code=is_code)
            values[label] = None if value is None else value * factor
        if any(v is not None for v in values.values()):
            hours.append(_Hour(at, values))
    if not hours:
        names = ", ".join(field for _, field, *_ in columns)
        raise BadField(columns[0][1], f"no hour has a value: {names} hold only nulls")
    return hours


def _current(kind: _Kind, reply: dict, offset: timedelta) -> _Hour:
    block = reply["current"]
    if not isinstance(block, dict):
        raise BadField("current", f"current must be an object, got {show(block)}")
    if block.get("time") is None:
        raise BadField("current.time", "current.time is missing")
    at = _time(block["time"], "current.time", offset)
    values: dict[str, float | None] = {}
    for label, keys, table, default, is_code in kind.series:
        key = next((k for k in keys if k in block), None)
        if key is None:
            continue
        value = _value(block[key], f"current.{key}", code=is_code)
        factor = 1.0 if table is None else _unit_factor(reply, "current_units", key, table, default)
        values[label] = None if value is None else value * factor
    if all(v is None for v in values.values()):
        wanted = " or ".join(keys[0] for _, keys, *_ in kind.series)
        raise BadField("current", f"current holds no value for {wanted}")
    return _Hour(at, values)


def _in_window(hours: list[_Hour], fetched_at: datetime) -> tuple[list[_Hour], str]:
    start = fetched_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    window = [h for h in hours if start <= h.at < start + WINDOW]
    # The scope text never shows fetched_at, so it does not change the event's hash by itself.
    if window:
        return window, f"worst of the {len(window)} hours in the next 48 h"
    return hours, f"worst of all {len(hours)} hours; none in the next 48 h"


def _place_name(port: str, lat: float, lon: float, watch: Mapping[str, Any] | None) -> str:
    if port:
        return port
    if not watch:
        return ""
    best, best_km = "", WATCH_RADIUS_KM
    for name, coordinates in sorted(watch.items()):
        w_lat, w_lon = coordinates
        km = _haversine_km(lat, lon, float(w_lat), float(w_lon))
        if km <= best_km:
            best, best_km = str(name), km
    return " ".join(clean_text(best).split())


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _probability(severe: bool, exceedance: float) -> float:
    if not severe:
        return CALM_PROBABILITY
    return round(min(PROBABILITY_CEILING, max(PROBABILITY_FLOOR, 0.5 + 0.45 * min(1.0, exceedance))), 4)


def _wind_words(kmh: float) -> str:
    if kmh >= 118:
        return "hurricane-force wind"
    if kmh >= 89:
        return "storm-force wind"
    if kmh >= 62:
        return "gale-force wind"
    return "near-gale wind" if kmh > SEVERE_WIND_KMH else "wind"


def _port_label(place: str) -> str:
    """ "Tampa" -> "Tampa port"; a name that already says port ("Port of Tampa") stays."""
    return place if "port" in place.lower().split() else f"{place} port"


def _code_label(code: float) -> str:
    return WEATHER_CODES.get(int(code), "weather")


def _texts(kind: _Kind, worst: _Hour, *, severe: bool, place: str, lat: float, lon: float, scope: str) -> tuple:
    v = worst.values
    coords = f"{lat:.2f}, {lon:.2f}"
    where = f"{place} ({coords})" if place else coords
    when = f"{worst.at:%Y-%m-%d %H:%M} UTC"
    if kind is FORECAST:
        wind, code = v.get("wind"), v.get("code")
        figures = []
        if wind is not None:
            figures.append(f"wind {wind:.1f} km/h")
        if code is not None:
            figures.append(f"weather code {int(code)} ({_code_label(code)})")
        thresholds = f"weather code >= {SEVERE_WEATHER_CODE} or wind > {SEVERE_WIND_KMH:g} km/h"
        if severe:
            hazards = []
            if wind is not None and wind > SEVERE_WIND_KMH:
                hazards.append(f"{_wind_words(wind)} {wind:.0f} km/h")
            if code is not None and code >= SEVERE_WEATHER_CODE:
                hazards.append(f"{_code_label(code)} (code {int(code)})")
            target = _port_label(place) if place else coords
            title = f"Extreme weather at {target}: {', '.join(hazards)}"
            description = (
                f"Open-Meteo forecast for {where}, {when} ({scope}): {', '.join(figures)}. "
                f"Severe by OMEN's thresholds ({thresholds}); extreme weather is a risk to shipping."
            )
        else:
            shown = ", ".join(figures)
            title = f"Calm weather near {coords}: " + shown.replace("wind ", "wind up to ", 1)
            description = (
                f"Open-Meteo forecast for {where}, {when} ({scope}): {shown}. "
                f"Nothing reaches the severe thresholds ({thresholds})."
            )
        return title, description
    wave, swell = v.get("wave"), v.get("swell")
    figures = []
    if wave is not None:
        figures.append(f"wave height {wave:.2f} m")
    if swell is not None:
        figures.append(f"swell wave height {swell:.2f} m")
    thresholds = f"wave height > {DANGEROUS_WAVE_M:g} m or swell wave height > {DANGEROUS_SWELL_M:g} m"
    if severe:
        hazards = []
        if wave is not None:
            hazards.append(f"waves {wave:.1f} m")
        if swell is not None:
            hazards.append(f"swell {swell:.1f} m")
        target = _port_label(place) if place else coords
        title = f"Dangerous sea for shipping at {target}: {', '.join(hazards)}"
        description = (
            f"Open-Meteo marine forecast for {where}, {when} ({scope}): {', '.join(figures)}. "
            f"Dangerous by OMEN's thresholds ({thresholds}): a risk to vessels and port operations."
        )
    else:
        shown = ", ".join(figures)
        title = f"Calm sea near {coords}: " + shown.replace("wave height ", "waves up to ", 1)
        description = (
            f"Open-Meteo marine forecast for {where}, {when} ({scope}): {shown}. "
            f"Nothing reaches the dangerous thresholds ({thresholds})."
        )
    return title, description


def _is_marine(reply: Any) -> bool:
    if not isinstance(reply, dict):
        return False
    for block in (reply.get("hourly"), reply.get("current")):
        if isinstance(block, dict) and any(key in block for key in MARINE_KEYS):
            return True
    return False


def parse_location(
    reply: Any, *, kind: _Kind, fetched_at: datetime, port: str = "", watch: Mapping[str, Any] | None = None
) -> RawEvent | ParseFailure:
    """One location's reply -> RawEvent, or a ParseFailure naming the field."""
    if not isinstance(reply, dict):
        return ParseFailure(
            SOURCE,
            "",
            "location",
            f"a location reply must be a JSON object, got {type(reply).__name__}",
            excerpt(reply),
        )
    location_id = ""
    try:
        lat = round(_coordinate(reply, "latitude", 90.0), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
        lon = round(_coordinate(reply, "longitude", 180.0), 2) + 0.0
        location_id = f"{kind.name}-{lat:.2f}_{lon:.2f}"
        offset = _utc_offset(reply)
        if reply.get("current") is not None:
            candidates, scope = [_current(kind, reply, offset)], "current conditions"
        else:
            candidates, scope = _in_window(_hourly(kind, reply, offset), fetched_at)
        worst = candidates[0]
        worst_rank = _rank(kind, worst)
        for hour in candidates[1:]:  # strict ">" keeps the earliest of equal hours
            rank = _rank(kind, hour)
            if rank > worst_rank:
                worst, worst_rank = hour, rank
        severe, exceedance = _severity(kind, worst.values)
        place = _place_name(port, lat, lon, watch)
        title, description = _texts(kind, worst, severe=severe, place=place, lat=lat, lon=lon, scope=scope)
    except BadField as bad:
        return ParseFailure(
            SOURCE, location_id, bad.field, f"{kind.name} {location_id or '?'}: {bad.reason}", excerpt(reply)
        )
    external_id = f"{location_id}-{worst.at:%Y%m%d%H}"
    attributes: dict[str, Any] = {
        "kind": kind.name,
        "latitude": lat,
        "longitude": lon,
        "port": place,
        "severe": severe,
        "scope": scope,
    }
    attributes.update({label: round(value, 2) for label, value in worst.values.items() if value is not None})
    return RawEvent(
        source=SOURCE,
        external_id=external_id,
        event_id=f"{SOURCE}-{external_id}",
        title=title,
        description=description,
        probability=_probability(severe, exceedance),
        observed_at=worst.at,
        market_id=location_id,
        probability_is_estimate=True,
        attributes=attributes,
    )


def _locations(payload: Any) -> list[Any]:
    if isinstance(payload, dict):
        if payload.get("error") is True:
            raise ValueError(f"Open-Meteo replied with an error: {show(payload.get('reason'))}")
        return [payload]
    if isinstance(payload, list):
        return payload  # one reply object per requested location
    raise not_the_reply(
        "Open-Meteo", "a JSON object (one location) or an array of them", f"it is a JSON {json_type(payload)}", payload
    )


def _parse(
    payload: Any, kind: _Kind | None, *, fetched_at: datetime, port: str, watch: Mapping[str, Any] | None
) -> list[RawEvent | ParseFailure]:
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    if not isinstance(port, str) or len(port) > MAX_PORT_CHARS:
        raise ValueError(f"port must be a string of at most {MAX_PORT_CHARS} characters")
    port = " ".join(clean_text(port).split())
    return [
        parse_location(
            reply,
            kind=kind or (MARINE if _is_marine(reply) else FORECAST),
            fetched_at=fetched_at,
            port=port,
            watch=watch,
        )
        for reply in _locations(payload)
    ]


def parse_forecast(
    payload: Any, *, fetched_at: datetime, port: str = "", watch: Mapping[str, Any] | None = None
) -> list[RawEvent | ParseFailure]:
    """Decoded ``/v1/forecast`` JSON -> one RawEvent or ParseFailure per location.

    ``port`` names the place (used for every location); without it, ``watch``
    (port name -> (lat, lon)) names a location after the nearest watched port
    within 50 km; otherwise the location is shown by its coordinates.
    """
    return _parse(payload, FORECAST, fetched_at=fetched_at, port=port, watch=watch)


def parse_marine(
    payload: Any, *, fetched_at: datetime, port: str = "", watch: Mapping[str, Any] | None = None
) -> list[RawEvent | ParseFailure]:
    """Decoded marine ``/v1/marine`` JSON -> one RawEvent or ParseFailure per location."""
    return _parse(payload, MARINE, fetched_at=fetched_at, port=port, watch=watch)


def parse_openmeteo(
    payload: Any, *, fetched_at: datetime, port: str = "", watch: Mapping[str, Any] | None = None
) -> list[RawEvent | ParseFailure]:
    """Either kind: a location whose hourly/current block holds wave_height or
    swell_wave_height is parsed as marine, any other as a forecast."""
    return _parse(payload, None, fetched_at=fetched_at, port=port, watch=watch)
