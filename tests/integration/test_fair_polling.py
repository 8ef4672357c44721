"""A source that hangs cannot starve the others: a real worker, as ``make run`` starts it, and beat.

Open-Meteo and Yahoo point at a server that accepts their requests and never answers; Polymarket
at one that answers at once. Each hanging source holds one worker slot at a time (the poll lock
turns its next polls away), the default worker has a slot per source plus one for the ledger,
and a poll is stopped at its soft time limit, shorter than its period.
"""

import time

import pytest

from tests.support.recorded_server import Reply

pytestmark = [pytest.mark.slow, pytest.mark.integration]

RUNS = "SELECT count(*) FROM signals_sourcerun WHERE source = '{source}' AND outcome = '{outcome}'"
HANGING = ("openmeteo", "yahoo")


def runs(omen, source, outcome):
    return omen.count(RUNS.format(source=source, outcome=outcome))


@pytest.fixture
def hanging_sources(omen, source_server):
    """Open-Meteo (one port: forecast and marine) and Yahoo (one symbol) hang; nothing else changes."""
    never = Reply(delay=3600)
    for path in ("/forecast", "/marine", "/AAPL"):
        source_server.route(path, never)
    omen.env.update(
        OPENMETEO_API_URL=source_server.url,
        OPENMETEO_MARINE_API_URL=source_server.url,
        YAHOO_CHART_API_URL=source_server.url,
        OMEN_PORTS="Rotterdam:51.95:4.14",
        STOCK_WATCHLIST="AAPL:2",
        SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS="25",
    )
    return omen


def test_polymarket_polls_on_time_while_two_other_sources_hang(hanging_sources):
    omen = hanging_sources
    omen.worker("w1", concurrency=None)  # the settings' default, as make run starts it
    omen.start("beat")

    # Both hanging polls have started (their runs say "running") before Polymarket is judged.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(runs(omen, source, "running") for source in HANGING):
        time.sleep(0.3)
    assert all(runs(omen, source, "running") for source in HANGING), "the hanging sources were never polled"
    ok_before = runs(omen, "polymarket", "ok")

    # Beat asks every 3 s (a poll expires 1 s after it is sent): within 12 s Polymarket must have been
    # polled to the end at least twice more.
    omen.wait_for(RUNS.format(source="polymarket", outcome="ok"), ok_before + 2, timeout=12)

    assert all(runs(omen, source, "running") == 1 for source in HANGING)  # still hanging, one poll each
    assert all(runs(omen, source, "skipped_busy") >= 1 for source in HANGING)  # their next polls went away


def test_a_poll_that_hangs_is_stopped_at_its_soft_time_limit_and_recorded_as_failed(hanging_sources):
    omen = hanging_sources
    omen.env.update(SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS="3")
    omen.worker("w1", concurrency=None)
    omen.start("beat")

    for source in HANGING:
        omen.wait_for(RUNS.format(source=source, outcome="failed"), 1, timeout=60)

    failed = omen.count(
        "SELECT count(*) FROM signals_sourcerun WHERE outcome = 'failed' AND error LIKE '%SoftTimeLimitExceeded%'"
    )
    assert failed >= 2
