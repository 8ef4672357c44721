"""The API's JSON parser: DRF's, with nesting too deep to read answered as the 400 it is.

The standard library's decoder recurses once per level of nesting, so a 2 KB body of a thousand
``[`` raises ``RecursionError``; DRF's parser turns only ``ValueError`` into a parse error, and
the rest of the request became a 500.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class NestingSafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deep to read.") from None
