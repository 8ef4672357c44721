"""Field readers shared by the pure source parsers (polymarket, news, yahoo, openmeteo).

A parser reads a record field by field; a bad field raises ``BadField``, which
the parser turns into a ParseFailure whose message shows the value (``show``)
and whose excerpt shows the record (``excerpt``). Every string a source supplies
goes through ``clean_text`` (``read_text`` applies it). No Django here.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

VALUE_CHARS = 80
EXCERPT_CHARS = 500


# Terminal escape sequences (ECMA-48), matched whole so that no "[31m" is left behind: a CSI
# (ESC [ or U+009B, parameters, intermediates, a final byte); a string command (OSC, DCS, SOS,
# PM, APC) up to its BEL or ST terminator; any other escape (ESC, intermediates, a final byte).
# A string command's body stops at ESC, BEL and C1, so no unterminated one scans the text twice.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x80-\x9f]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]"
)
# Line breaks as str.splitlines knows them among the controls.
_LINE_BREAKS = re.compile(r"[\n\x0b\x0c\r\x1c-\x1e\x85]+")
_OTHER_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")


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


def clean_text(text: str) -> str:
    """``text`` without control characters but tab, so none reaches a title, a contract or a terminal.

    Escape sequences go whole; a line break (CR, LF, CRLF, a run of them) becomes one space, or
    nothing at either end; any other C0 or C1 control and DEL is dropped. Clean text is unchanged.
    """
    if text.isprintable():  # the common case, at C speed: no control (nor tab, nor a non-ASCII space)
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _OTHER_CONTROLS.sub("", text)
    lines = _LINE_BREAKS.split(text)
    if len(lines) == 1:
        return text
    # The blanks beside each break go with it; breaks with only blanks between them are one break.
    # Split and strip, not one regex with the blanks in it: that backtracks on long runs of blanks.
    lines = [lines[0].rstrip(" \t"), *(line.strip(" \t") for line in lines[1:-1]), lines[-1].lstrip(" \t")]
    return " ".join(line for line in lines if line)


def message_text(value: Any) -> str:
    """A source's own message (an error's code or text) for an exception: a string cleaned, anything else shown."""
    return clean_text(value) if isinstance(value, str) else show(value)


REPLY_START_CHARS = 120


def json_type(value: Any) -> str:
    """What JSON calls the type of a decoded value: object, array, string, number, boolean, null."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def not_the_reply(source: str, expected: str, problem: str, payload: Any) -> ValueError:
    """The error for a reply that is not ``source``'s shape: what was expected, what is wrong
    (a missing key, a wrong type), and how what came begins -- never a bare "None"."""
    try:
        text = orjson.dumps(payload).decode()
    except TypeError:  # not JSON at all (a parser called directly): its repr will do
        text = repr(payload)
    start = clean_text(text[:REPLY_START_CHARS]) + ("..." if len(text) > REPLY_START_CHARS else "")
    return ValueError(f"not a {source} reply: {problem}; expected {expected}. It begins: {start}")


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
        part = f"{clean_text(str(key)[:40])}: {shown}"
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
    """A string field checked the same way by every parser and cleaned by ``clean_text``; NUL is refused, as
    PostgreSQL text cannot store it."""
    value = record.get(field)
    if value is None:
        if required:
            raise BadField(field, f"{field} is missing")
        return ""
    if not isinstance(value, str):
        raise BadField(field, f"{field} must be a string, got {type(value).__name__} {show(value)}")
    text = clean_text(value)
    blank = required and not text.strip()
    # Only a blank text over the limit tells the two orders apart; each kept the message it always gave.
    if blank and not collapse_spaces:
        raise BadField(field, f"{field} is empty")
    if len(value) > limit:
        raise BadField(field, f"{field} is {len(value):,} characters long, the limit is {limit:,}")
    if blank:
        raise BadField(field, f"{field} is empty")
    if "\x00" in value:
        raise BadField(field, f"{field} contains a NUL character, which no text column can store")
    return " ".join(text.split()) if collapse_spaces else text
