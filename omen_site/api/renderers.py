"""The API's JSON renderer: DRF's, through orjson.

Rendering a page of 100 signals with the standard library's encoder was a tenth of a request's
CPU (bench/api.py). orjson writes the same JSON; what it cannot encode itself (a lazy
translation string in an error message, a Decimal) goes through DRF's own encoder.
"""

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder().default


class OrjsonRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        # Datetimes too go through DRF's encoder: it writes "Z" for UTC where orjson writes +00:00.
        try:
            return orjson.dumps(
                data, default=_fallback, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            )
        except orjson.JSONEncodeError:  # an integer past 64 bits (a stored contract may hold one): DRF's way
            return super().render(data, accepted_media_type, renderer_context)
