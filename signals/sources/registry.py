"""What polling each source means: which requests, parsed by which parser.

Pure: reads the configuration it is given (Django's settings in practice),
does no I/O. The poll service sends the requests with ``fetch_json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from signals.sources.polymarket import parse_markets


@dataclass(frozen=True)
class SourceRequest:
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Extra keyword arguments for the parser (a port's name, a symbol's threshold).
    parse_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceDefinition:
    name: str
    parser: Callable[..., list]
    requests: Callable[[Any], list[SourceRequest]]
    # Why the source cannot be polled with this configuration (a missing key), or None.
    disabled_reason: Callable[[Any], str | None] = lambda config: None


def _polymarket_requests(config) -> list[SourceRequest]:
    return [
        SourceRequest(
            url=f"{config.POLYMARKET_GAMMA_API_URL.rstrip('/')}/markets",
            params={"active": "true", "closed": "false", "limit": config.POLYMARKET_MARKET_LIMIT},
        )
    ]


SOURCES: dict[str, SourceDefinition] = {
    "polymarket": SourceDefinition("polymarket", parse_markets, _polymarket_requests),
}
