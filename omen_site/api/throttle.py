"""Requests per key per window, counted in the cache (Redis in production, per process in development).

A fixed window: the count of this key's requests in the current window, and the window's end.
Every API response says where the caller stands (``X-RateLimit-Limit``, ``-Remaining``,
``-Reset``, the window's end in epoch seconds); past the limit it is a 429 with ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import time
from weakref import WeakKeyDictionary

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from omen_site.api.keys import ApiKey
from omen_site.api.rates import parse_rate
from omen_site.client_address import client_address


def key_rate(key: ApiKey) -> str:
    return key.throttle_rate or settings.API_THROTTLE_RATE


def count_request(request, who: str, rate: str) -> tuple[bool, int]:
    """Count one request of ``who`` in the current window: (within the rate, seconds to the window's
    end). Also leaves on the Django request where the caller now stands, for the reply's headers."""
    limit, period = parse_rate(rate)
    now = time.time()
    window_end = (int(now) // period + 1) * period
    used = _count(f"omen:throttle:{who}:{window_end}", period)
    request.rate_limit = (limit, max(0, limit - used), window_end)
    return used <= limit, max(1, int(window_end - now + 0.999))


def address_bucket(address: str) -> str:
    """An IPv4 address, or an IPv6 address's /64: one subscriber's line holds a whole /64 and
    could draw a new address for every request."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


class KeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            who, rate = f"key:{key.prefix}", key_rate(key)
        elif request.user is not None and request.user.is_authenticated:
            who, rate = f"user:{request.user.pk}", settings.API_THROTTLE_RATE
        else:
            who, rate = f"ip:{address_bucket(client_address(request))}", settings.API_THROTTLE_RATE
        allowed, self.wait_seconds = count_request(request._request, who, rate)
        return allowed

    def wait(self):
        return self.wait_seconds


# INCR, and on the window's first request EXPIRE: what add(0) then incr() do, in one atomic command.
_COUNT_IN_WINDOW = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""
_scripts: WeakKeyDictionary = WeakKeyDictionary()  # Django's Redis client -> the registered script


def _count(counter: str, period: int) -> int:
    """This window's requests of one caller, this one included; the counter expires with the window."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        # One round trip (add() then incr() on Django's Redis cache are three: SET NX, EXISTS,
        # INCRBY), and a Redis client kept per cache object (one per thread): Django makes one per
        # call, which cost more CPU than the command (bench/api.py: 206 -> 29 us per request). The key and the stored
        # integer are the ones Django's cache API makes, so either path reads the other's counters.
        key = backend.make_and_validate_key(counter)
        script = _scripts.get(backend._cache)
        if script is None:
            client = backend._cache.get_client(key, write=True)
            script = _scripts[backend._cache] = client.register_script(_COUNT_IN_WINDOW)
        return script(keys=[key], args=[period + 1])
    # add() then incr(); the window's key expires with the window.
    cache.add(counter, 0, timeout=period + 1)
    try:
        return cache.incr(counter)
    except ValueError:  # expired between add() and incr()
        cache.add(counter, 1, timeout=period + 1)
        return 1
