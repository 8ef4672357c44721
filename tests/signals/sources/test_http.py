"""fetch_json against a real local HTTP server: every way a source goes wrong ends in bounded time."""

import socket
import threading
import time

import httpx
import pytest

from signals.sources.http import USER_AGENT, FetchError, FetchPolicy, fetch_json, source_client
from tests.support.recorded_server import Reply

FAST = FetchPolicy(attempts=3, connect_timeout=1, read_timeout=0.5, total_timeout=1.5, backoff_base=0.01, jitter=0)


@pytest.fixture
def client():
    with httpx.Client() as client:
        yield client


def fetch(client, server, policy=FAST, sleeps=None):
    return fetch_json(
        client, f"{server.url}/markets", policy=policy, sleep=(sleeps.append if sleeps is not None else time.sleep)
    )


def test_recorded_reply_is_decoded_with_an_honest_user_agent(client, source_server, recorded_dir):
    body = (recorded_dir / "polymarket_gamma_markets_active_part1.json").read_bytes()
    source_server.route("/markets", Reply(body=body))

    result = fetch(client, source_server)

    assert len(result.payload) == 250
    assert (result.status, result.attempts, result.bytes) == (200, 1, len(body))
    assert source_server.requests[0][1]["User-Agent"] == USER_AGENT


def test_429_waits_as_long_as_retry_after_says_then_succeeds(client, source_server):
    source_server.route("/markets", Reply(status=429, headers={"Retry-After": "2"}), Reply(body=b"[]"))
    sleeps = []

    result = fetch(client, source_server, sleeps=sleeps)

    assert result.attempts == 2
    assert sleeps == [2.0]


def test_retry_after_beyond_the_policy_gives_up_at_once(client, source_server):
    source_server.route("/markets", Reply(status=429, headers={"Retry-After": "3600"}))

    with pytest.raises(FetchError, match="Retry-After 3600 s is beyond 60 s") as caught:
        fetch(client, source_server, sleeps=[])
    assert caught.value.attempts == 1


def test_500_is_retried_with_exponential_backoff_then_given_up(client, source_server):
    source_server.route("/markets", Reply(status=500, body=b"oops"))
    sleeps = []

    with pytest.raises(FetchError, match="HTTP 500") as caught:
        fetch(client, source_server, sleeps=sleeps)
    assert caught.value.attempts == 3
    assert sleeps == [0.01, 0.02]
    assert len(source_server.requests) == 3


def test_500_then_success_recovers(client, source_server):
    source_server.route("/markets", Reply(status=503), Reply(body=b'[{"id": "1"}]'))

    assert fetch(client, source_server, sleeps=[]).payload == [{"id": "1"}]


def test_a_server_that_never_answers_times_out_each_attempt(client, source_server):
    source_server.route("/markets", Reply(delay=2, body=b"[]"))
    started = time.monotonic()

    with pytest.raises(FetchError, match="timed out") as caught:
        fetch(client, source_server, sleeps=[])
    assert caught.value.attempts == 3
    assert time.monotonic() - started < 3 * FAST.read_timeout + 1.5


def test_a_body_that_never_ends_is_cut_at_the_total_timeout(client, source_server):
    source_server.route("/markets", Reply(trickle=0.05))
    started = time.monotonic()

    with pytest.raises(FetchError, match="no complete reply within 1.5 s"):
        fetch(client, source_server, sleeps=[])
    assert time.monotonic() - started < 3 * FAST.total_timeout + 2


def test_a_truncated_body_is_a_transport_error_and_retried(client, source_server):
    source_server.route("/markets", Reply(body=b'[{"id": "1"}', declared_length=500))

    with pytest.raises(FetchError, match="RemoteProtocolError|ReadError") as caught:
        fetch(client, source_server, sleeps=[])
    assert caught.value.attempts == 3


def test_truncated_json_with_a_matching_length_is_not_retried(client, source_server):
    source_server.route("/markets", Reply(body=b'[{"id": "1"'))

    with pytest.raises(FetchError, match="not valid JSON") as caught:
        fetch(client, source_server, sleeps=[])
    assert (caught.value.attempts, caught.value.retryable) == (1, False)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(content_type="text/plain", body=b"[]"),
        Reply(status=200, content_type="text/html", body=b"<html><body>Cloudflare says no</body></html>"),
    ],
    ids=["wrong-content-type", "html-error-page"],
)
def test_a_reply_that_is_not_json_is_refused_without_retrying(client, source_server, reply):
    source_server.route("/markets", reply)

    with pytest.raises(FetchError, match="expected a JSON reply, got Content-Type 'text/") as caught:
        fetch(client, source_server, sleeps=[])
    assert caught.value.attempts == 1


def test_html_error_page_with_5xx_is_retried_as_a_server_error(client, source_server):
    source_server.route("/markets", Reply(status=502, content_type="text/html", body=b"<h1>Bad gateway</h1>"))

    with pytest.raises(FetchError, match="HTTP 502"):
        fetch(client, source_server, sleeps=[])


def test_a_reply_over_the_size_cap_is_refused(client, source_server):
    source_server.route("/markets", Reply(body=b"[" + b'"x",' * 2000 + b'"x"]'))
    policy = FetchPolicy(attempts=2, max_bytes=1000, backoff_base=0.01)

    with pytest.raises(FetchError, match="over the 1000 byte cap"):
        fetch(client, source_server, policy=policy, sleeps=[])


def test_404_is_not_retried(client, source_server):
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        fetch(client, source_server, sleeps=[])
    assert caught.value.attempts == 1


def test_connection_refused_is_retried_then_given_up(client):
    with pytest.raises(FetchError, match="ConnectError") as caught:
        fetch_json(client, "http://127.0.0.1:9/markets", policy=FAST, sleep=lambda s: None)
    assert caught.value.attempts == 3


# --------------------------------------------------------------------------- the deadline

SLOW_HEADERS = Reply(body=b"[]", header_trickle=0.3)  # each byte well inside any read timeout


def test_headers_sent_a_byte_at_a_time_end_at_the_callers_deadline(source_server):
    """httpx's read timeout alone never fires here: the deadline bounds the wait for headers."""
    source_server.route("/markets", SLOW_HEADERS)
    started = time.monotonic()

    with source_client() as client, pytest.raises(FetchError, match="no complete reply within") as caught:
        fetch_json(client, f"{source_server.url}/markets", policy=FAST, deadline=started + 1.0, sleep=time.sleep)

    assert time.monotonic() - started < 1.5
    assert caught.value.attempts == 1  # no time was left to try again


def test_each_attempt_ends_within_the_policys_total_timeout_without_a_deadline(source_server):
    source_server.route("/markets", SLOW_HEADERS)
    policy = FetchPolicy(attempts=2, read_timeout=5, total_timeout=0.8, backoff_base=0.01, jitter=0)
    started = time.monotonic()

    with source_client() as client, pytest.raises(FetchError) as caught:
        fetch_json(client, f"{source_server.url}/markets", policy=policy)

    assert caught.value.attempts == 2
    assert time.monotonic() - started < 2 * 0.8 + 1


def test_a_plain_httpx_client_would_wait_for_slow_headers_past_the_deadline(source_server):
    """Why source_client exists: with httpx's own transport the same fetch overruns the deadline."""
    source_server.route("/markets", Reply(body=b"[]", header_trickle=0.03))  # about 2.5 s of headers
    started = time.monotonic()

    with httpx.Client() as client, pytest.raises(FetchError):
        fetch_json(client, f"{source_server.url}/markets", policy=FAST, deadline=started + 0.5)

    assert time.monotonic() - started > 1.5


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never says a byte: a TLS handshake with it never finishes."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    for connection, _ in accepted:
        connection.close()
    listener.close()


def test_the_deadline_bounds_a_tls_handshake_that_never_finishes(silent_server):
    policy = FetchPolicy(attempts=1, connect_timeout=30)
    started = time.monotonic()

    with source_client() as client, pytest.raises(FetchError, match="no complete reply within"):
        fetch_json(client, f"{silent_server}/markets", policy=policy, deadline=started + 0.5)

    assert time.monotonic() - started < 1.5


def test_a_retry_that_would_wait_past_the_deadline_is_not_attempted(source_server):
    source_server.route("/markets", Reply(status=429, headers={"Retry-After": "5"}))
    sleeps = []

    with source_client() as client, pytest.raises(FetchError, match="no time left before the poll's deadline"):
        fetch_json(
            client, f"{source_server.url}/markets", policy=FAST, deadline=time.monotonic() + 2, sleep=sleeps.append
        )

    assert sleeps == []
    assert len(source_server.requests) == 1


def test_a_client_from_source_client_fetches_normally(source_server):
    source_server.route("/markets", Reply(body=b'[{"id": "1"}]'))

    with source_client() as client:
        result = fetch_json(client, f"{source_server.url}/markets", deadline=time.monotonic() + 5)

    assert result.payload == [{"id": "1"}]
