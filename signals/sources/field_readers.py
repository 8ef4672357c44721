"""Field readers shared by the pure source parsers (polymarket, news, yahoo, openmeteo).

A parser reads a record field by field; a bad field raises ``BadField``, which
the parser turns into a ParseFailure whose message shows the value (``show``)
and whose excerpt shows the record (``excerpt``). No Django here.
"""

from __future__ import annotations

import math
from typing import Any

VALUE_CHARS = 80
EXCERPT_CHARS = 500


class BadField(Exception):
    """A field that cannot be parsed: names the field and why, for the parser's ParseFailure."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def show(value: Any) -> str:
    """A short, safe rendering of a value for a message, so a huge value cannot flood it."""
    text = repr(value)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + f"... ({len(text)} chars)"


def excerpt(record: Any) -> str:
    """At most EXCERPT_CHARS of a record for a ParseFailure, nested values shown only by their size."""
    if not isinstance(record, dict):
        return show(record)[:EXCERPT_CHARS]
    parts = []
    size = 0
    for key, value in record.items():
        if isinstance(value, dict | list):
            shown = f"<{type(value).__name__} of {len(value)}>"
        else:
            shown = show(value)
        part = f"{str(key)[:40]}: {shown}"
        parts.append(part)
        size += len(part) + 2
        if size >= EXCERPT_CHARS:
            break
    return ("{" + ", ".join(parts) + "}")[:EXCERPT_CHARS]


def is_number(value: Any) -> bool:
    """An int or float, not a bool (which Python counts as an int but JSON does not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """A number that is not NaN or infinite and fits a float, so arithmetic on it cannot fail."""
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def read_text(record: dict, field: str, *, required: bool, limit: int, collapse_spaces: bool = False) -> str:
    """A string field checked the same way by every parser; NUL is refused, as PostgreSQL text cannot store it."""
    value = record.get(field)
    if value is None:
        if required:
            raise BadField(field, f"{field} is missing")
        return ""
    if not isinstance(value, str):
        raise BadField(field, f"{field} must be a string, got {type(value).__name__} {show(value)}")
    blank = required and not value.strip()
    # Only a blank text over the limit tells the two orders apart; each kept the message it always gave.
    if blank and not collapse_spaces:
        raise BadField(field, f"{field} is empty")
    if len(value) > limit:
        raise BadField(field, f"{field} is {len(value):,} characters long, the limit is {limit:,}")
    if blank:
        raise BadField(field, f"{field} is empty")
    if "\x00" in value:
        raise BadField(field, f"{field} contains a NUL character, which no text column can store")
    return " ".join(value.split()) if collapse_spaces else value
