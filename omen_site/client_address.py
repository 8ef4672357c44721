"""The address a request came from, as the whole site reads it: throttle, access log, admin lockouts.

``X-Forwarded-For`` is anyone's to write, except its last ``TRUSTED_PROXIES`` entries: each proxy
in front of the site appends the address it saw connect to it. So with 0 (the default) the
address is ``REMOTE_ADDR``, and with N it is the N-th entry from the end: the one the outermost
trusted proxy appended. The same rule as DRF's ``NUM_PROXIES``, in one place, so a caller
the throttle counts as one address is that address in the access log and in a login lockout too.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    """The caller's address, or ``REMOTE_ADDR`` where the trusted entry is no address.

    An entry that is not an IP address (``unknown``, a port appended, a header cut short) comes
    from a proxy that does not append as expected: its own ``REMOTE_ADDR`` is the one address
    that is sure, and falling back to it can only merge callers, never let one pick a new address.
    """
    meta = request.META
    remote_addr = meta.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if not proxies or not forwarded:
        return remote_addr
    entries = forwarded.split(",")
    entry = entries[-min(proxies, len(entries))].strip()
    try:
        ipaddress.ip_address(entry)
    except ValueError:
        return remote_addr
    return entry
