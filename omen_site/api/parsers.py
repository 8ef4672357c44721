"""The API's JSON parser: DRF's, with two bodies it read wrongly answered as the 400s they are.

* Nesting too deep to read: the standard library's decoder recurses once per level of nesting,
  so a 2 KB body of a thousand ``[`` raises ``RecursionError``; DRF's parser turns only
  ``ValueError`` into a parse error, and the rest of the request became a 500.
* A lone surrogate: JSON's ``\\uXXXX`` escapes can spell half of a UTF-16 pair (``"\\ud800"``),
  which is no character. The standard library keeps it in the ``str`` it returns, which no UTF-8
  encoder takes and no text column stores: a record holding one ended in ``UnicodeEncodeError``
  (a 500) wherever it was hashed, written or logged. orjson, which reads a poll's reply, refuses
  such a reply whole; the API refuses such a body, naming the field that holds it.
"""

import io
import json
import re

from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.parsers import JSONParser

# The escape of a surrogate half, \uD800 to \uDFFF: only a body holding one can decode to a str
# holding one (a UTF-8 body cannot spell one; the decoder refuses it). A pair is one character.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class NestingSafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deep to read.") from None
        if _SURROGATE_ESCAPE.search(raw) and _holds_a_lone_surrogate(data):
            field = _lone_surrogate_path(data)
            message = "holds a lone UTF-16 surrogate (half of a \\ud800-\\udfff pair), which is no character."
            raise ValidationError({field: [ErrorDetail(message, "lone_surrogate")]} if field else [message])
        return data


def _holds_a_lone_surrogate(data) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def _lone_surrogate_path(data) -> str:
    """Where the first string (or key) holding a lone surrogate is: ``reply[0].question``; "" for the body."""
    pending = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if not value.isascii() and not _encodes(value):
                return path
        elif isinstance(value, dict):
            if any(not _encodes(key) for key in value):
                return path
            pending.extend((f"{path}.{key}" if path else key, item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in reversed(list(enumerate(value))))
    return ""


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
