"""The scope table of every endpoint under /api/v1/, found by walking the URL resolver (issue 11).

An endpoint added later is in the table without a line here: it must name the scope its reads
need (``read_scope``) and, if it writes, the scope its writes need (``write_scope``), and it then
answers like every other. ``read_scope = None`` makes reads public: only the routes in PUBLIC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.urls import URLResolver, get_resolver, resolve, reverse
from drf_spectacular.generators import SchemaGenerator

from omen_site.api.keys import ADMIN, SCOPES, ApiKey

pytestmark = pytest.mark.django_db

API_PREFIX = "api/v1/"
WRITES = ("post", "put", "patch", "delete")
# Routes anyone may read, without a key: none yet (health and metrics live outside /api/v1/).
PUBLIC: set[str] = set()


@dataclass(frozen=True)
class Endpoint:
    route: str
    name: str | None
    view: type
    methods: tuple[str, ...]
    path_params: tuple[str, ...]

    def __str__(self):
        """The path as the schema writes it: /api/v1/signals/{signal_id}/."""
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", self.route).replace("^", "").replace("$", "")
        return f"/{path}"

    def url(self) -> str:
        # Any value the route accepts: scopes are checked before an object is looked up.
        return reverse(self.name, kwargs=dict.fromkeys(self.path_params, "1"))


def api_endpoints() -> list[Endpoint]:
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif route.startswith(API_PREFIX):
                callback = pattern.callback
                view = getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback
                actions = getattr(callback, "actions", None)
                if actions is not None:  # a viewset's route: the methods it was given
                    methods = tuple(m for m in ("get", *WRITES) if m in actions)
                else:
                    methods = tuple(m for m in ("get", *WRITES) if hasattr(view, m))
                params = tuple(pattern.pattern.regex.groupindex)
                found.append(Endpoint(route, pattern.name, view, methods, params))

    walk(get_resolver().url_patterns, "")
    return found


ENDPOINTS = api_endpoints()
READS = [endpoint for endpoint in ENDPOINTS if "get" in endpoint.methods]
WRITE_CASES = [(endpoint, method) for endpoint in ENDPOINTS for method in endpoint.methods if method in WRITES]


def test_the_walk_finds_the_endpoints():
    routes = {endpoint.route for endpoint in ENDPOINTS}

    assert len(ENDPOINTS) >= 10
    for expected in ("^signals/$", "^source-events/(?P<pk>[^/.]+)/$", "stats/", "storage/"):
        assert any(route.endswith(expected) for route in routes), expected


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_every_api_view_is_a_drf_view_that_names_its_scopes(endpoint):
    from rest_framework.views import APIView

    assert isinstance(endpoint.view, type) and issubclass(endpoint.view, APIView), (
        f"{endpoint} is not a DRF view: it would get neither the key check nor the error shape"
    )
    assert endpoint.name, f"{endpoint} has no URL name"
    assert hasattr(endpoint.view, "read_scope"), f"{endpoint.view.__name__} declares no read_scope"
    if str(endpoint) in PUBLIC:
        assert endpoint.view.read_scope is None
    else:
        assert endpoint.view.read_scope in SCOPES, f"{endpoint.view.__name__}.read_scope is not a scope"
    if any(method in WRITES for method in endpoint.methods):
        assert getattr(endpoint.view, "write_scope", None) in SCOPES, (
            f"{endpoint.view.__name__} accepts writes but declares no write_scope: anyone could write"
        )


def test_every_endpoint_and_method_is_in_the_schema_and_the_schema_has_no_other():
    """Schemathesis fuzzes what the schema lists: an endpoint left out of it would go untested."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    in_schema = {
        (resolve(re.sub(r"\{[^}]+\}", "1", path)).route, method)
        for path, operations in schema["paths"].items()
        if path.startswith(f"/{API_PREFIX}")
        for method in operations
        if method in ("get", *WRITES)
    }
    routed = {(resolve(endpoint.url()).route, method) for endpoint in ENDPOINTS for method in endpoint.methods}

    assert in_schema == routed


# --------------------------------------------------------------------------- the table


@pytest.fixture(autouse=True)
def generous_rate(settings):
    # Every request here is one key's or one address's: the throttle is not what is tested.
    settings.API_THROTTLE_RATE = "100000/min"


def key_with(*scopes):
    return ApiKey.issue("scoped", list(scopes))[1]


def revoked_key_with(*scopes):
    key, raw = ApiKey.issue("revoked", list(scopes))
    key.revoke()
    return raw


def every_scope_but(*scopes):
    """The strongest key that still lacks ``scopes``: every other one, never admin."""
    return key_with(*(s for s in SCOPES if s not in (*scopes, ADMIN)))


def call(client, method, url, key=None):
    headers = {"HTTP_X_API_KEY": key} if key is not None else {}
    body = {} if method == "get" else {"data": "{}", "content_type": "application/json"}
    return getattr(client, method)(url, **body, **headers)


def assert_error(response, status, error):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details", "request_id"}
    assert body["error"] == error and body["message"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


def assert_let_through(response):
    assert response.status_code not in (401, 403), response.content


@pytest.mark.parametrize("endpoint", READS, ids=str)
def test_reading(client, endpoint):
    url, scope = endpoint.url(), endpoint.view.read_scope
    if str(endpoint) in PUBLIC:
        assert_let_through(call(client, "get", url))
        return

    assert_error(call(client, "get", url), 401, "not_authenticated")
    assert_error(call(client, "get", url, revoked_key_with(scope)), 401, "invalid_api_key")
    body = assert_error(call(client, "get", url, every_scope_but(scope)), 403, "missing_scope")
    assert scope in body["message"]
    assert_let_through(call(client, "get", url, key_with(scope)))
    assert_let_through(call(client, "get", url, key_with(ADMIN)))


@pytest.mark.parametrize(("endpoint", "method"), WRITE_CASES, ids=[f"{m.upper()} {e}" for e, m in WRITE_CASES])
def test_writing(client, endpoint, method):
    url, scope = endpoint.url(), endpoint.view.write_scope

    assert_error(call(client, method, url), 401, "not_authenticated")
    assert_error(call(client, method, url, revoked_key_with(scope)), 401, "invalid_api_key")
    # A key that may read the endpoint (and everything else) but not write to it.
    body = assert_error(call(client, method, url, every_scope_but(scope)), 403, "missing_scope")
    assert scope in body["message"]
    assert_let_through(call(client, method, url, key_with(scope)))
