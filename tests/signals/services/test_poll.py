"""source_poll against a real local HTTP server: runs recorded, breaker and lock shared through the database."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from signals.models import Rejection, Signal, SourceRun, SourceState
from signals.selectors import source_health
from signals.services.poll import FAILURES_TO_OPEN, PROBE_AFTER, source_poll
from signals.sources.http import FetchPolicy
from tests.support.factories import SourceRunFactory, SourceStateFactory
from tests.support.recorded_server import Reply

pytestmark = pytest.mark.django_db
FAST = FetchPolicy(attempts=2, read_timeout=1, total_timeout=2, backoff_base=0.01, jitter=0)


@pytest.fixture
def gamma(source_server, settings):
    settings.POLYMARKET_GAMMA_API_URL = source_server.url
    return source_server


@pytest.fixture
def recorded_markets(recorded_dir):
    return (recorded_dir / "polymarket_gamma_markets_active_part1.json").read_bytes()


def test_poll_turns_every_recorded_market_into_a_signal_or_a_rejection(gamma, recorded_markets):
    gamma.route("/markets", Reply(body=recorded_markets))

    run = source_poll(source="polymarket", policy=FAST)

    assert run.outcome == SourceRun.Outcome.OK
    assert (run.fetched, run.http_status, run.requests) == (250, 200, 1)
    assert run.accepted + run.rejected == 250
    assert Signal.objects.count() + Rejection.objects.count() == 250
    assert "active=true" in gamma.requests[0][0] and "closed=false" in gamma.requests[0][0]
    assert source_health("polymarket") == "healthy"


def test_polling_twice_creates_no_duplicate(gamma, recorded_markets):
    gamma.route("/markets", Reply(body=recorded_markets))
    source_poll(source="polymarket", policy=FAST)

    second = source_poll(source="polymarket", policy=FAST)

    assert second.accepted == 0
    assert second.unchanged == Signal.objects.count()


def test_a_failing_source_is_recorded_and_opens_the_breaker_after_five_failures(gamma):
    gamma.route("/markets", Reply(status=500, body=b"oops"))

    runs = [source_poll(source="polymarket", policy=FAST) for _ in range(FAILURES_TO_OPEN)]
    requests_so_far = len(gamma.requests)
    skipped = source_poll(source="polymarket", policy=FAST)

    assert all(r.outcome == SourceRun.Outcome.FAILED and r.http_status == 500 for r in runs)
    assert "HTTP 500" in runs[0].error
    assert skipped.outcome == SourceRun.Outcome.CIRCUIT_OPEN
    assert len(gamma.requests) == requests_so_far  # an open circuit sends nothing
    assert source_health("polymarket") == "circuit open"


def test_after_the_probe_delay_two_good_polls_close_the_breaker(gamma, recorded_markets):
    SourceStateFactory(
        source="polymarket", breaker="open", consecutive_failures=5, opened_at=timezone.now() - PROBE_AFTER
    )
    gamma.route("/markets", Reply(body=recorded_markets))

    source_poll(source="polymarket", policy=FAST)
    assert SourceState.objects.get().breaker == "half_open"
    source_poll(source="polymarket", policy=FAST)

    assert SourceState.objects.get().breaker == "closed"


def test_a_failed_probe_opens_the_breaker_again(gamma):
    SourceStateFactory(source="polymarket", breaker="open", opened_at=timezone.now() - PROBE_AFTER)
    gamma.route("/markets", Reply(status=503))

    run = source_poll(source="polymarket", policy=FAST)

    state = SourceState.objects.get()
    assert run.outcome == SourceRun.Outcome.FAILED
    assert state.breaker == "open" and state.opened_at > timezone.now() - timedelta(seconds=5)


def test_a_poll_while_another_runs_is_skipped(gamma, recorded_markets):
    SourceStateFactory(source="polymarket", polling_since=timezone.now())
    gamma.route("/markets", Reply(body=recorded_markets))

    run = source_poll(source="polymarket", policy=FAST)

    assert run.outcome == SourceRun.Outcome.SKIPPED_BUSY
    assert gamma.requests == []


def test_a_lock_left_by_a_dead_poll_expires(gamma, recorded_markets, settings):
    stale = timezone.now() - timedelta(seconds=settings.SOURCE_POLL_LOCK_SECONDS + 1)
    SourceStateFactory(source="polymarket", polling_since=stale)
    gamma.route("/markets", Reply(body=recorded_markets))

    run = source_poll(source="polymarket", policy=FAST)

    assert run.outcome == SourceRun.Outcome.OK
    assert SourceState.objects.get().polling_since is None


def test_an_html_error_page_is_a_failed_run_with_a_clear_error(gamma):
    gamma.route("/markets", Reply(content_type="text/html", body=b"<html>maintenance</html>"))

    run = source_poll(source="polymarket", policy=FAST)

    assert run.outcome == SourceRun.Outcome.FAILED
    assert "expected a JSON reply, got Content-Type 'text/html'" in run.error


def test_a_429_with_retry_after_is_retried_and_succeeds(gamma, recorded_markets):
    gamma.route("/markets", Reply(status=429, headers={"Retry-After": "0"}), Reply(body=recorded_markets))

    run = source_poll(source="polymarket", policy=FAST)

    assert run.outcome == SourceRun.Outcome.OK
    assert run.attempts == 2


def test_the_redelivery_of_a_killed_poll_takes_over_its_own_lock(gamma, recorded_markets):
    SourceStateFactory(source="polymarket", polling_since=timezone.now(), polling_token="task-1")
    gamma.route("/markets", Reply(body=recorded_markets))

    other = source_poll(source="polymarket", token="task-2", policy=FAST)
    redelivered = source_poll(source="polymarket", token="task-1", policy=FAST)

    assert other.outcome == SourceRun.Outcome.SKIPPED_BUSY
    assert redelivered.outcome == SourceRun.Outcome.OK


@pytest.mark.parametrize(
    "reply, error",
    [
        (Reply(delay=2, body=b"[]"), "timed out"),
        (Reply(body=b'[{"id": "1"}', declared_length=500), "RemoteProtocolError"),
        (Reply(content_type="text/plain", body=b"[]"), "expected a JSON reply"),
        (Reply(trickle=0.05), "no complete reply within 2 s"),
        (Reply(body=b'[{"id": '), "not valid JSON"),
    ],
    ids=["timeout", "truncated-body", "wrong-content-type", "never-ending-body", "truncated-json"],
)
def test_every_failure_mode_ends_as_a_failed_run_within_bounded_time(gamma, reply, error):
    gamma.route("/markets", reply)
    started = timezone.now()

    run = source_poll(source="polymarket", policy=FAST)

    assert run.outcome == SourceRun.Outcome.FAILED
    assert error in run.error
    assert (run.finished_at - started).total_seconds() < FAST.attempts * (FAST.total_timeout + 1)
    assert SourceState.objects.get().polling_since is None  # the lock is released


def test_a_poll_interrupted_by_an_unexpected_error_records_a_failed_run_and_frees_the_lock(
    gamma, recorded_markets, monkeypatch
):
    from signals.services import poll as poll_module

    def interrupted(**kwargs):
        raise TimeoutError("soft time limit")

    monkeypatch.setattr(poll_module, "signals_ingest", interrupted)
    gamma.route("/markets", Reply(body=recorded_markets))

    with pytest.raises(TimeoutError):
        source_poll(source="polymarket", policy=FAST)

    run = SourceRun.objects.get()
    assert run.outcome == SourceRun.Outcome.FAILED
    assert "poll interrupted: TimeoutError: soft time limit" in run.error
    state = SourceState.objects.get()
    assert state.polling_since is None
    assert state.consecutive_failures == 1  # an interrupted poll counts toward the breaker


def test_a_worker_shutting_down_mid_poll_closes_the_run_without_blaming_the_source(
    gamma, recorded_markets, monkeypatch
):
    from signals.services import poll as poll_module

    def shutdown(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(poll_module, "signals_ingest", shutdown)
    gamma.route("/markets", Reply(body=recorded_markets))

    with pytest.raises(KeyboardInterrupt):
        source_poll(source="polymarket", policy=FAST)

    assert SourceRun.objects.get().outcome == SourceRun.Outcome.FAILED
    assert SourceState.objects.get().consecutive_failures == 0


def test_a_source_sending_its_headers_a_byte_a_second_fails_at_the_deadline_and_opens_the_breaker(gamma, settings):
    settings.SOURCE_POLL_DEADLINE_SECONDS = 1.5
    gamma.route("/markets", Reply(body=b"[]", header_trickle=1.0))
    policy = FetchPolicy()  # the production policy: 10 s read timeout, 20 s per attempt, 3 attempts

    runs = []
    for _ in range(FAILURES_TO_OPEN):
        started = timezone.now()
        runs.append(source_poll(source="polymarket", policy=policy))
        assert (runs[-1].finished_at - started).total_seconds() < 1.5 + 5

    assert all(run.outcome == SourceRun.Outcome.FAILED for run in runs)
    assert "no complete reply within" in runs[0].error
    state = SourceState.objects.get()
    assert (state.consecutive_failures, state.breaker) == (FAILURES_TO_OPEN, SourceState.Breaker.OPEN)


def test_a_run_left_running_by_a_dead_poll_is_closed_by_the_next_poll(gamma, recorded_markets):
    dead = SourceRunFactory(
        started_at=timezone.now() - timedelta(hours=1), finished_at=None, outcome=SourceRun.Outcome.RUNNING
    )
    gamma.route("/markets", Reply(body=recorded_markets))

    source_poll(source="polymarket", policy=FAST)

    dead.refresh_from_db()
    assert dead.outcome == SourceRun.Outcome.FAILED
    assert "process died" in dead.error


def test_a_poll_killed_at_the_hard_time_limit_counts_toward_the_breaker(gamma):
    """Its run was left running; the next poll closes it as failed and counts it, then its own failure."""
    SourceRunFactory(
        started_at=timezone.now() - timedelta(hours=1), finished_at=None, outcome=SourceRun.Outcome.RUNNING
    )
    gamma.route("/markets", Reply(status=500))

    source_poll(source="polymarket", policy=FAST)

    assert SourceState.objects.get().consecutive_failures == 2


def tracked_and_closed() -> tuple[dict, dict]:
    """A relevant market as Gamma lists it while it trades, and the same market closed."""
    now = timezone.now()

    def iso(moment):
        return moment.isoformat().replace("+00:00", "Z")

    tracked = {
        "id": "700001",
        "question": "Will the Houthis attack a tanker in the Red Sea by March 31?",
        "description": "Resolves Yes if a missile or drone strike hits a commercial tanker in the Red Sea.",
        "slug": "houthi-tanker-red-sea",
        "endDate": iso(now + timedelta(days=30)),
        "outcomes": '["Yes", "No"]',
        "outcomePrices": '["0.62", "0.38"]',
        "liquidityNum": 250000.0,
        "volumeNum": 1200000.0,
        "updatedAt": iso(now - timedelta(hours=2)),
    }
    closed = {
        **tracked,
        "closed": True,
        "closedTime": iso(now - timedelta(minutes=90)),
        "outcomePrices": '["1", "0"]',
        "liquidityNum": 0,
        "updatedAt": iso(now - timedelta(hours=1)),
    }
    return tracked, closed


def test_a_market_with_a_live_signal_that_left_the_list_is_looked_up_by_id_and_resolved(gamma):
    """Gamma's active list drops a market once it closes: the poll asks for it by id."""
    tracked, closed = tracked_and_closed()
    gamma.route(
        "/markets",
        Reply(body=json.dumps([tracked]).encode()),
        Reply(body=b"[]"),  # the next poll's active list: the market is gone
        Reply(body=json.dumps([closed]).encode()),  # ... and asked for by id
    )
    source_poll(source="polymarket", policy=FAST)

    run = source_poll(source="polymarket", policy=FAST)

    assert (run.outcome, run.requests, run.accepted) == (SourceRun.Outcome.OK, 2, 1)
    assert "id=700001" in gamma.requests[-1][0] and "closed=true" in gamma.requests[-1][0]
    assert Signal.objects.filter(status="RESOLVED").count() == 1
    # Resolved: it is not asked for again.
    gamma.route("/markets", Reply(body=b"[]"))
    assert source_poll(source="polymarket", policy=FAST).requests == 1


def test_a_failed_follow_up_fails_nothing_else(gamma):
    tracked, _closed = tracked_and_closed()
    other = {**tracked, "id": "700002", "question": "Will a tanker be seized in the Strait of Hormuz?"}
    gamma.route(
        "/markets",
        Reply(body=json.dumps([tracked]).encode()),
        Reply(body=json.dumps([other]).encode()),  # the next list: 700001 left it, 700002 is new
        Reply(status=422, body=b'{"error": "bad id"}'),  # ... and the look for 700001 fails
    )
    source_poll(source="polymarket", policy=FAST)

    run = source_poll(source="polymarket", policy=FAST)

    assert (run.outcome, run.accepted) == (SourceRun.Outcome.OK, 1)
    assert run.error.startswith("follow-up of the markets that left the list failed")
    assert Signal.objects.filter(event__external_id="700002").exists()
    assert SourceState.objects.get(source="polymarket").consecutive_failures == 0
