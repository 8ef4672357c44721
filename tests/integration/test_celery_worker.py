"""Real Celery workers and beat on the real Redis, polling a real local server.

Each test runs migrate, workers and beat as child processes against a fresh
database on the suite's backend, and reads that database directly.
"""

import os
import signal
import time
from datetime import datetime

import pytest
from celery import Celery

from tests.support.broker import REDIS_URL
from tests.support.processes import query
from tests.support.recorded_server import Reply

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def send_poll(source="polymarket"):
    return Celery(broker=REDIS_URL).send_task("signals.tasks.source_poll", args=[source])


OK_RUNS = "SELECT count(*) FROM signals_sourcerun WHERE source = 'polymarket' AND outcome = 'ok'"
SIGNALS = "SELECT count(*) FROM signals_signal"
DISTINCT_SIGNALS = "SELECT count(DISTINCT input_event_hash) FROM signals_signal"
DECIDED = (
    "SELECT (SELECT count(DISTINCT event_id) FROM signals_signal)"
    " + (SELECT count(DISTINCT external_id) FROM signals_rejection)"
)


def test_beat_schedules_a_poll_that_a_worker_runs_and_signals_appear(omen):
    omen.worker("w1")
    omen.start("beat")

    omen.wait_for(OK_RUNS, 1)

    assert omen.count(SIGNALS) > 0
    assert omen.count(DECIDED) == 250


def test_two_workers_polling_at_the_same_moment_create_no_duplicate(omen, source_server, recorded_dir):
    markets = (recorded_dir / "polymarket_gamma_markets_active_part1.json").read_bytes()
    # A slow reply keeps the first poll busy while the second arrives.
    source_server.route("/markets", Reply(body=markets, delay=1.5))
    omen.worker("w1")
    omen.worker("w2")
    send_poll()
    send_poll()

    omen.wait_for("SELECT count(*) FROM signals_sourcerun WHERE outcome IN ('ok', 'skipped_busy')", 2)

    outcomes = sorted(r[0] for r in query(omen.url, "SELECT outcome FROM signals_sourcerun"))
    assert outcomes in (["ok", "skipped_busy"], ["ok", "ok"])
    assert omen.count(SIGNALS) == omen.count(DISTINCT_SIGNALS) > 0
    assert omen.count(DECIDED) == 250


def test_a_worker_killed_mid_poll_is_replaced_and_the_poll_redone_once(omen, source_server, recorded_dir):
    markets = (recorded_dir / "polymarket_gamma_markets_active_part1.json").read_bytes()
    source_server.route("/markets", Reply(body=markets, delay=3), Reply(body=markets))
    doomed = omen.worker("doomed")
    send_poll()
    deadline = time.monotonic() + 30
    while not source_server.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    assert source_server.requests, "the poll never reached the source"

    os.killpg(doomed.pid, signal.SIGKILL)  # mid-poll: the reply is still 3 s away
    doomed.wait()
    assert omen.count(SIGNALS) == 0
    omen.worker("replacement")

    omen.wait_for(OK_RUNS, 1, timeout=90)
    assert omen.count(SIGNALS) == omen.count(DISTINCT_SIGNALS) > 0
    assert omen.count(DECIDED) == 250
    # The redelivered poll closed the killed one's run and finished the work.
    assert omen.count("SELECT count(*) FROM signals_sourcerun WHERE outcome = 'running'") == 0
    assert omen.count("SELECT count(*) FROM signals_sourcerun WHERE error LIKE '%process died%'") == 1


FAILED_RUNS = "SELECT count(*) FROM signals_sourcerun WHERE source = 'polymarket' AND outcome = 'failed'"
BREAKER = "SELECT consecutive_failures, breaker FROM signals_sourcestate WHERE source = 'polymarket'"


def test_five_polls_of_a_source_sending_headers_a_byte_a_second_open_its_breaker(omen, source_server):
    source_server.route("/markets", Reply(body=b"[]", header_trickle=1.0))
    omen.env["SOURCE_POLL_DEADLINE_SECONDS"] = "2"
    omen.worker("w1")
    for _ in range(5):
        send_poll()

    omen.wait_for(FAILED_RUNS, 5)

    errors = [row[0] for row in query(omen.url, "SELECT error FROM signals_sourcerun WHERE outcome = 'failed'")]
    assert all("no complete reply within" in error for error in errors), errors
    durations = query(
        omen.url,
        "SELECT started_at, finished_at FROM signals_sourcerun WHERE outcome = 'failed'",
    )
    assert all(_seconds(finished) - _seconds(started) < 2 + 5 for started, finished in durations)
    assert query(omen.url, BREAKER) == [(5, "open")]


def test_a_poll_stopped_by_the_soft_time_limit_is_a_failed_run_that_counts(omen, source_server):
    source_server.route("/markets", Reply(body=b"[]", header_trickle=1.0))
    # Misconfigured on purpose (signals.W003 warns of it): the time limit comes before the deadline.
    omen.env.update(SOURCE_POLL_DEADLINE_SECONDS="60", SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS="2")
    omen.worker("w1")
    send_poll()

    omen.wait_for(FAILED_RUNS, 1)

    (error,) = query(omen.url, "SELECT error FROM signals_sourcerun WHERE outcome = 'failed'")[0]
    assert "SoftTimeLimitExceeded" in error
    omen.wait_for("SELECT consecutive_failures FROM signals_sourcestate WHERE source = 'polymarket'", 1)


def _seconds(value) -> float:
    """A timestamp column as seconds, whichever backend (SQLite returns text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp()
