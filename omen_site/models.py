from omen_site.api.idempotency import IdempotentRequest
from omen_site.api.keys import ApiKey

__all__ = ["ApiKey", "IdempotentRequest"]
