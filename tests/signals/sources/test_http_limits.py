"""fetch_json's limits against a real local HTTP server: the byte cap without a declared length,
and Retry-After given as an HTTP date."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import orjson
import pytest

from signals.sources.http import FetchError, FetchPolicy, fetch_json
from tests.support.recorded_server import Reply

FAST = FetchPolicy(attempts=3, connect_timeout=1, read_timeout=1, total_timeout=5, backoff_base=0.01, jitter=0)
# About 24 KB of JSON: a list of 2,000 short strings.
BIG = orjson.dumps([f"market-{n:05d}" for n in range(2000)])


@pytest.fixture
def client():
    with httpx.Client() as client:
        yield client


def fetch(client, server, sleeps: list[float], policy=FAST):
    """Fetch ``/markets``; each wait between attempts is recorded in ``sleeps``, not slept."""
    return fetch_json(client, f"{server.url}/markets", policy=policy, sleep=sleeps.append)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def test_a_chunked_reply_is_decoded_whole(client, source_server):
    """The reply has no Content-Length: its length is known only once the last chunk arrived."""
    source_server.route("/markets", Reply(body=BIG, chunked=1024))

    result = fetch(client, source_server, [])

    assert len(result.payload) == 2000
    assert (result.bytes, result.attempts) == (len(BIG), 1)


def test_a_chunked_reply_over_the_byte_cap_is_refused_while_it_streams(client, source_server):
    """Nothing declares the size up front, so the cap is kept on the bytes as they arrive."""
    source_server.route("/markets", Reply(body=BIG, chunked=1024))
    policy = FetchPolicy(attempts=3, max_bytes=4096, backoff_base=0.01, jitter=0)

    with pytest.raises(FetchError, match="reply is over the 4096 byte cap") as caught:
        fetch(client, source_server, [], policy=policy)

    assert (caught.value.attempts, caught.value.retryable) == (1, False)
    assert len(source_server.requests) == 1


def test_retry_after_as_an_http_date_is_waited_for_until_that_moment(client, source_server):
    retry_at = datetime.now(UTC) + timedelta(seconds=30)
    source_server.route("/markets", Reply(status=429, headers={"Retry-After": http_date(retry_at)}), Reply(body=b"[1]"))
    sleeps = []

    result = fetch(client, source_server, sleeps)

    assert (result.payload, result.attempts) == ([1], 2)
    assert len(sleeps) == 1 and 28 < sleeps[0] <= 30, sleeps  # the date has whole seconds


def test_retry_after_as_a_date_already_past_waits_only_the_backoff(client, source_server):
    past = datetime.now(UTC) - timedelta(minutes=5)
    source_server.route("/markets", Reply(status=429, headers={"Retry-After": http_date(past)}), Reply(body=b"[]"))
    sleeps = []

    fetch(client, source_server, sleeps)

    assert sleeps == [0.01]


def test_retry_after_as_a_date_beyond_the_policy_gives_up_at_once(client, source_server):
    later = datetime.now(UTC) + timedelta(hours=1)
    source_server.route("/markets", Reply(status=429, headers={"Retry-After": http_date(later)}))
    sleeps = []

    with pytest.raises(FetchError, match=r"HTTP 429 .*\(Retry-After 3[56]\d\d s is beyond 60 s\)") as caught:
        fetch(client, source_server, sleeps)

    assert (caught.value.attempts, caught.value.retryable, sleeps) == (1, False, [])
    assert len(source_server.requests) == 1


def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(client, source_server):
    source_server.route("/markets", Reply(status=429, headers={"Retry-After": "soon"}), Reply(body=b"[]"))
    sleeps = []

    fetch(client, source_server, sleeps)

    assert sleeps == [0.01]
