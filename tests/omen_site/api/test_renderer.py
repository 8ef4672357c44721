"""The orjson renderer writes what DRF's JSONRenderer writes, lazy strings and Decimals included."""

import json
from datetime import UTC, datetime
from decimal import Decimal

from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from omen_site.api.renderers import OrjsonRenderer


def test_the_same_json_as_drf_for_what_an_api_answer_holds():
    data = {
        "message": gettext_lazy("This field is required."),
        "details": [{"field": "limit", "code": "invalid", "value": Decimal("0.25")}],
        "at": datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
        "title": "Détroit d'Ormuz — «fermé»",
        "ratio": 0.1 + 0.2,
        "none": None,
    }

    assert json.loads(OrjsonRenderer().render(data)) == json.loads(JSONRenderer().render(data))
    assert OrjsonRenderer().render(None) == b""


def test_what_orjson_cannot_encode_is_written_by_drf_instead():
    data = {"contract": {"volume": 2**70}}
    assert OrjsonRenderer().render(data) == JSONRenderer().render(data)
