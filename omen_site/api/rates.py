"""What a throttle rate is ("300/min"): read by settings at start-up, by API keys as they are
issued and by the throttle at every request. Imports nothing of Django's, so settings may use it."""

from functools import lru_cache

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
RATE_FORMAT = "N/s, N/min, N/hour or N/day with N >= 1"


@lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """ "300/min" -> (300, 60)."""
    count, _, period = rate.partition("/")
    if not (count.isascii() and count.isdigit()) or period not in _PERIODS or int(count) < 1:
        raise ValueError(f"a rate is {RATE_FORMAT}, not {rate!r}")
    return int(count), _PERIODS[period]
