"""The signals app's admin: importing this package registers every model's admin page."""

from signals.admin import relevance, signal, sources

__all__ = ["relevance", "signal", "sources"]
