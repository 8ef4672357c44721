import orjson
from django.db import models


def canonical_json(value) -> str:
    """Sorted keys, no whitespace: one text per document, whichever process wrote it."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class ContractField(models.Field):
    """An immutable JSON document stored as canonical JSON text.

    Text, not jsonb: every field that is queried has a column of its own, and
    PostgreSQL parsing jsonb is the slowest step of bulk ingest (about 14k
    rows/s against 85k for text on these machines). orjson encodes and
    decodes it on the client.
    """

    description = "JSON document stored as canonical text"

    def get_internal_type(self):
        return "TextField"

    def from_db_value(self, value, expression, connection):
        return None if value is None else orjson.loads(value)

    def to_python(self, value):
        return orjson.loads(value) if isinstance(value, (str, bytes)) else value

    def get_prep_value(self, value):
        return None if value is None else canonical_json(value)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
