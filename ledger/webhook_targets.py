"""Where webhooks may be delivered: public addresses only, unless ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES``.

A subscription makes OMEN's workers POST to a URL of the subscriber's choosing. Pointed at
loopback, a private network or a cloud's metadata address (169.254.169.254), that is a request
from inside the network on behalf of whoever can create a subscription. So a URL whose host is,
or resolves to, an address that is not global is refused when the subscription is saved (the
admin, the API), and again when each delivery connects: the connection goes to an address
checked at that moment, so a name that resolved to a public address when it was saved and to an
internal one later (DNS rebinding) is refused too.

Development allows private addresses by default (a receiver on the same machine); production
does not.

The same transport ends each request by a deadline (``request_deadline``): httpx's timeouts bound
each read, so a receiver sending a byte every few seconds would hold a delivery for ever.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(httpcore.ConnectError):
    """A delivery's connection refused: its host resolved to an address that is not public."""


# IPv6 outside global unicast (2000::/3) is never public: IPv4-compatible (::/96), site-local,
# unique local, link-local, the local-use NAT64 prefix. The well-known NAT64 prefix and the
# tunnels within 2000::/3 (6to4, Teredo) carry an IPv4 address, judged as itself.
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _not_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _not_public(address.ipv4_mapped)
        if address in _NAT64:
            return _not_public(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        if address not in _GLOBAL_UNICAST:
            return True
        tunnelled = [address.sixtofour, *(address.teredo or ())]
        if any(inner is not None and _not_public(inner) for inner in tunnelled):
            return True
    return not address.is_global or address.is_multicast


def _addresses(host: str, port: int) -> list[Address]:
    """Every address ``host`` names (itself when it is one). Raises OSError when it resolves to none,
    UnicodeError (a ValueError) for a name IDNA cannot encode."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in found]


# getaddrinfo takes no timeout: a delivery waits for it only as long as its deadline allows.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def _addresses_within(host: str, port: int, timeout: float | None) -> list[Address]:
    if timeout is None:
        return _addresses(host, port)
    try:
        return _resolver.submit(_addresses, host, port).result(timeout=timeout)
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"{host}: not resolved within the request's deadline") from None


def refusal(host: str, port: int) -> str | None:
    """Why a delivery to ``host`` is refused, or None. A name that does not resolve is not refused
    here: its delivery fails as any unreachable receiver's does."""
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    try:
        return _refusal(host, _addresses(host, port))
    except (OSError, ValueError):
        return None


def _refusal(host: str, addresses: list[Address]) -> str | None:
    internal = sorted({str(address) for address in addresses if _not_public(address)})
    if not internal:
        return None
    return (
        f"{host} is, or resolves to, an address that is not public ({', '.join(internal)}): webhooks go to "
        "public addresses only (WEBHOOK_ALLOW_PRIVATE_ADDRESSES)"
    )


def validate_target(url: str) -> None:
    """A model field validator: the URL's port must be one and its host public (see the module)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return  # not a URL: the URL validator beside this one says so
    try:
        port = parts.port
    except ValueError:  # past 65535: Django's URL validator takes any five digits
        port = 0
    if port == 0:  # no server listens there; and "or 80" below would have read it as no port
        raise ValidationError("The URL's port must be from 1 to 65535.", code="invalid_port")
    host, port = parts.hostname, port or (443 if parts.scheme == "https" else 80)
    if host is None:
        return
    reason = refusal(host, port)
    if reason is not None:
        raise ValidationError(reason, code="internal_address")


_deadline: ContextVar[float | None] = ContextVar("webhook_request_deadline", default=None)


@contextmanager
def request_deadline(seconds: float) -> Iterator[None]:
    """Inside this block, every connect, write and read of a delivery transport ends ``seconds``
    from now at the latest: the request as a whole, however its bytes trickle."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _within_deadline(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout``, shortened to what is left of the request's deadline; ``expired`` once none is."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed (WEBHOOK_TIMEOUT_SECONDS)")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits no longer than the request's deadline allows."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes, timeout=None):
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer, timeout=None):
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self):
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info):
        return self._stream.get_extra_info(info)


class _PublicAddressesOnly(httpcore.SyncBackend):
    """Connects only to addresses it resolved and checked itself, each in turn, within the
    request's deadline."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._connect(host, port, timeout, local_address, socket_options))

    def _connect(self, host, port, timeout, local_address, socket_options):
        if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
            # One connect timeout for resolving and connecting: the receiver may run the name's DNS.
            deadline = None if timeout is None else time.monotonic() + timeout
            # Resolved once: the address checked is the address connected to.
            try:
                addresses = _addresses_within(host, port, timeout)
            except (OSError, ValueError) as exc:
                raise httpcore.ConnectError(f"{host}: {exc}") from exc
            reason = _refusal(host, addresses)
            if reason is not None:
                raise TargetRefused(reason)
            # Each checked address in turn, as a connection to the name would try them. TLS still
            # checks the certificate against the URL's host name (httpcore passes it apart).
            # One connect timeout for them all, not one each: a name with many silent addresses
            # must not hold a delivery for many times WEBHOOK_TIMEOUT_SECONDS.
            failure: Exception = httpcore.ConnectError(f"{host}: no address")
            for address in dict.fromkeys(str(address) for address in addresses):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                try:
                    return super().connect_tcp(address, port, left, local_address, socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    failure = exc
            raise failure
        return super().connect_tcp(host, port, timeout, local_address, socket_options)


def delivery_transport() -> httpx.HTTPTransport:
    """An httpx transport whose connections go to public addresses only (unless allowed)."""
    transport = httpx.HTTPTransport()
    # httpx builds its pool with the default network backend and offers no argument for another:
    # the pool is made again, as httpx makes it, with this one (tests/ledger/services/test_webhooks.py
    # proves a delivery to a private address is refused at connect time).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_PublicAddressesOnly(),
    )
    return transport
