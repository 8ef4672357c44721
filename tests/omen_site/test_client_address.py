"""The caller's address the site reads behind TRUSTED_PROXIES proxies (omen_site/client_address.py)."""

import pytest
from django.test import RequestFactory

from omen_site.client_address import client_address

REMOTE = "10.0.0.1"  # the nearest proxy, or the caller itself with none


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "address"),
    [
        (0, None, REMOTE),
        (0, "198.51.100.1", REMOTE),  # nobody appends to it: the header is the caller's own text
        (1, None, REMOTE),  # a request that reached the site past the proxy
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "203.0.113.9, 198.51.100.1", "198.51.100.1"),  # what the caller wrote before is not believed
        (2, "203.0.113.9, 198.51.100.1, 192.0.2.7", "198.51.100.1"),
        (2, " 198.51.100.1 ,192.0.2.7", "198.51.100.1"),
        (3, "198.51.100.1, 192.0.2.7", "198.51.100.1"),  # fewer entries than proxies: the first
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "unknown", REMOTE),
        (1, "198.51.100.1:4711", REMOTE),  # a port appended: no address this rule can read
        (1, "198.51.100.1,", REMOTE),  # the trusted entry is empty
    ],
)
def test_the_address_is_the_one_the_outermost_trusted_proxy_saw(settings, proxies, forwarded_for, address):
    settings.TRUSTED_PROXIES = proxies
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    request = RequestFactory().get("/", REMOTE_ADDR=REMOTE, **headers)

    assert client_address(request) == address
