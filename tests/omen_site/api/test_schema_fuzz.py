"""Schemathesis over the live schema with a valid key: no 5xx, every response conforms (issue 11).

The schema is the one the site serves at ``/api/schema/``, read from the WSGI application itself
when this module is collected, so every operation in it -- today's and any added later -- is a
test item of its own (``test_every_operation[GET /api/v1/signals/]``...): there is no list of
endpoints here to keep up to date.

Each operation runs in the test's own transaction, on SQLite and on PostgreSQL alike: the requests
go through ``omen_site.wsgi.application`` in this thread, on this thread's connection, so they see
the rows the fixture made and every row they write is rolled back afterwards. Every request carries
a fresh ``admin`` key whose own rate is far above what the run sends, so the throttle never answers
429. Path ids mostly name seeded rows (the rest are made up: 404s), and every request sends a
made-up ``X-Request-ID``, plain or not. No request may open a socket (``no_network``): an operation
that would reach a webhook's URL or a source fails the test.

Bounded and repeatable: a fixed seed, Hypothesis derandomized, no shrinking, no example database;
the examples phase, the coverage phase (boundary and invalid values of every parameter, and
requests of the wrong shape) and ``FUZZ_EXAMPLES`` fuzzed cases (valid and invalid) per operation.
"""

from __future__ import annotations

import re
import socket

import jsonschema
import pytest
import schemathesis
from django.core import signals as request_signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger.services.writer import ledger_drain
from omen_site.api.keys import ADMIN, ApiKey
from omen_site.wsgi import application
from tests.support.factories import (
    LedgerPartitionFactory,
    ProbabilityPointFactory,
    RejectionFactory,
    SignalFactory,
    SourceRunFactory,
    SourceStateFactory,
)

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/schema/"
KEY_HEADER = "X-API-Key"
REQUEST_ID_HEADER = "X-Request-ID"
# Fuzzed cases per operation, on top of the coverage phase's: ~25 s per backend is the budget.
FUZZ_EXAMPLES = 10
# The key's own rate: far above what one operation's cases send in a minute.
UNTHROTTLED = "1000000/min"
# What the middleware echoes (omen_site/middleware.py); anything else is replaced by 32 hex digits.
PLAIN_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
NEW_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
# The one error shape (omen_site/api/errors.py, README's API section).
ERROR_SHAPE = {
    "type": "object",
    "required": ["error", "message", "details", "request_id"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "minLength": 1},
        "message": {"type": "string", "minLength": 1},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "additionalProperties": False,
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
            },
        },
        "request_id": {"type": "string", "minLength": 1},
    },
}

# Checked once here, not on every response.
ERROR_VALIDATOR = jsonschema.Draft202012Validator(ERROR_SHAPE)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 11,
        "generation": {
            "mode": "all",
            "max-examples": FUZZ_EXAMPLES,
            "no-shrink": True,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
    }
)
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, application, config=CONFIG)

# Values of path parameters that name seeded rows, by parameter name; filled by the fixture.
KNOWN_PATH_VALUES: dict[str, list] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Mostly a path parameter names a seeded row (a 200), else it is what was generated (a 404)."""
    if not path_parameters:
        return st.just(path_parameters)
    choices = {
        name: st.sampled_from([value, *KNOWN_PATH_VALUES.get(name, [])]) for name, value in path_parameters.items()
    }
    return st.fixed_dictionaries(choices)


@schema.hook
def flatmap_headers(context, headers):
    """Every request carries an X-Request-ID: a plain one (echoed) or not (replaced), never a broken header."""
    # Any Latin-1 text a client can send as a header value: no control character, no edge whitespace.
    printable = st.characters(codec="latin-1", exclude_categories=["Cc"])
    request_id = st.one_of(
        st.from_regex(PLAIN_REQUEST_ID, fullmatch=True), st.text(printable, max_size=80).map(str.strip)
    )
    return request_id.map(lambda value: {**(headers or {}), REQUEST_ID_HEADER: value})


def _content_type(response) -> str:
    return response.headers.get("content-type", [""])[0]


def assert_error_shape(response, case) -> None:
    """The body is the one error shape, its request_id the one in the X-Request-ID header."""
    request = f"{case.method} {response.request.url}"
    content_type = _content_type(response)
    assert content_type.startswith("application/json"), (
        f"{request} answered {response.status_code} with {content_type}, not the error shape: {response.text[:200]!r}"
    )
    body = response.json()
    ERROR_VALIDATOR.validate(body)
    assert body["request_id"] == response.headers.get("x-request-id", [""])[0], request


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_key():
    """A fresh admin key, and a few rows of each kind so detail endpoints find something."""
    signals = SignalFactory.create_batch(3)
    ProbabilityPointFactory.create_batch(3, source_event=signals[0].event)
    rejections = RejectionFactory.create_batch(2)
    SourceStateFactory(source="polymarket")
    SourceRunFactory(source="polymarket")
    partitions = [LedgerPartitionFactory()]
    ledger_drain()  # the seeded signals' frames, for the ledger's feed
    _, raw = ApiKey.issue("schema fuzz", [ADMIN], throttle_rate=UNTHROTTLED)

    KNOWN_PATH_VALUES.update(
        {
            "signal_id": [s.signal_id for s in signals],
            "id": [r.pk for r in rejections] + [s.pk for s in signals] + [s.event_id for s in signals],
            "name": [p.name for p in partitions],
            "source": ["polymarket"],
        }
    )
    # Django's own handler closes "old" connections as a request starts and ends; inside the test's
    # transaction that would end it. Django's test client switches this off the same way.
    request_signals.request_started.disconnect(close_old_connections)
    request_signals.request_finished.disconnect(close_old_connections)
    try:
        yield raw
    finally:
        request_signals.request_started.connect(close_old_connections)
        request_signals.request_finished.connect(close_old_connections)
        KNOWN_PATH_VALUES.clear()


@pytest.fixture
def no_network(monkeypatch):
    """Fuzzing an operation never reaches the network (a webhook's URL, a source): any connect
    from Python fails the test. The database's connection is libpq's, already open."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"the schema fuzz test reaches no network: connect to {address!r} refused")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert not attempts, f"an operation tried to connect to {attempts}"


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation(case, api_key, no_network):
    response = case.call(headers={KEY_HEADER: api_key})
    case.validate_response(response, checks=CHECKS, headers={KEY_HEADER: api_key})

    sent = (case.headers or {}).get(REQUEST_ID_HEADER, "")
    echoed = response.headers.get(REQUEST_ID_HEADER.lower(), [""])[0]
    if PLAIN_REQUEST_ID.fullmatch(sent):
        assert echoed == sent
    else:
        assert NEW_REQUEST_ID.fullmatch(echoed), (sent, echoed)
    if response.status_code >= 400:
        assert_error_shape(response, case)
