from omen_site.api.keys import ApiKey

__all__ = ["ApiKey"]
