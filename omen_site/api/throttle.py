"""Requests per key per window, counted in the cache (Redis in production, per process in development).

A fixed window: the count of this key's requests in the current window, and the window's end.
Every API response says where the caller stands (``X-RateLimit-Limit``, ``-Remaining``,
``-Reset``, the window's end in epoch seconds); past the limit it is a 429 with ``Retry-After``.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from omen_site.api.keys import ApiKey

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "300/min" -> (300, 60)."""
    count, _, period = rate.partition("/")
    if not count.isdigit() or period not in _PERIODS or int(count) < 1:
        raise ValueError(f"a rate is N/s, N/min, N/hour or N/day with N >= 1, not {rate!r}")
    return int(count), _PERIODS[period]


class KeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            who, rate = f"key:{key.prefix}", key.throttle_rate or settings.API_THROTTLE_RATE
        elif request.user is not None and request.user.is_authenticated:
            who, rate = f"user:{request.user.pk}", settings.API_THROTTLE_RATE
        else:
            who, rate = f"ip:{self.get_ident(request)}", settings.API_THROTTLE_RATE
        limit, period = parse_rate(rate)
        now = time.time()
        window_end = (int(now) // period + 1) * period
        counter = f"omen:throttle:{who}:{window_end}"
        # add() then incr(): atomic on Redis; the window's key expires with the window.
        cache.add(counter, 0, timeout=period + 1)
        try:
            used = cache.incr(counter)
        except ValueError:  # expired between add() and incr()
            cache.add(counter, 1, timeout=period + 1)
            used = 1
        self.wait_seconds = max(1, int(window_end - now + 0.999))
        request._request.rate_limit = (limit, max(0, limit - used), window_end)
        return used <= limit

    def wait(self):
        return self.wait_seconds
