import orjson
from django.db import models


def _orjson_text(value):
    return orjson.dumps(value).decode()


class ContractJSONField(models.JSONField):
    """JSONField that encodes with orjson.

    Ingest writes thousands of ~1.3 KB contracts a second; the standard
    library encoder is the largest client-side cost of that path.
    """

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb(value, dumps=_orjson_text)
        return _orjson_text(value)
