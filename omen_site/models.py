from omen_site.api.access_log import ApiAccessLogEntry
from omen_site.api.idempotency import IdempotentRequest
from omen_site.api.keys import ApiKey

__all__ = ["ApiAccessLogEntry", "ApiKey", "IdempotentRequest"]
