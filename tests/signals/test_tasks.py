"""The source_poll task runs one poll of the source it names and reports the run it recorded."""

import pytest

from signals.models import Signal, SourceRun, SourceState
from signals.tasks import source_poll
from tests.support.recorded import MARKETS, recorded_bytes
from tests.support.recorded_server import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def gamma(source_server, settings):
    settings.POLYMARKET_GAMMA_API_URL = source_server.url
    return source_server


def test_the_task_polls_its_source_and_returns_the_run(gamma):
    gamma.route("/markets", Reply(body=recorded_bytes(MARKETS)))

    outcome = source_poll.apply(args=["polymarket"], task_id="poll-1").get()

    run = SourceRun.objects.get()
    assert outcome == {"source_run": run.pk, "outcome": SourceRun.Outcome.OK, "accepted": 20}
    assert (run.source, run.fetched, run.accepted) == ("polymarket", 250, 20)
    assert Signal.objects.count() == 20
    assert SourceState.objects.get(source="polymarket").consecutive_failures == 0


def test_a_failed_poll_is_a_result_of_the_task_not_an_error(gamma):
    """The run records the failure and counts it toward the breaker; the task itself succeeds."""
    gamma.route("/markets", Reply(status=404))

    result = source_poll.apply(args=["polymarket"])

    assert result.successful()
    run = SourceRun.objects.get()
    assert result.get() == {"source_run": run.pk, "outcome": SourceRun.Outcome.FAILED, "accepted": 0}
    assert "HTTP 404" in run.error
    assert SourceState.objects.get(source="polymarket").consecutive_failures == 1


def test_an_unknown_source_fails_the_task():
    result = source_poll.apply(args=["altavista"])

    assert result.failed()
    assert "altavista" in repr(result.result)
    assert not SourceRun.objects.exists()
