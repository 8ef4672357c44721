"""The Celery app: the ledger's tasks on their own queue, every queue consumed by default, refusals in one line."""

import pytest

from omen_site.celery import app
from tests.omen_site.commandline import production, run


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_the_ledgers_tasks_go_to_the_ledger_queue_and_polls_to_the_default_one():
    app.loader.import_default_modules()
    ledger_tasks = [name for name in app.tasks if name.startswith("ledger.tasks.")]

    assert sorted(ledger_tasks) == [
        "ledger.tasks.ledger_drain",
        "ledger.tasks.partition_verify",  # the admin's "verify now" reads the ledger's files too
        "ledger.tasks.partitions_move_due",
        "ledger.tasks.partitions_seal_due",
        "ledger.tasks.webhook_deliver",  # reads the ledger's files: where they are
        "ledger.tasks.webhooks_dispatch",
    ]
    assert {queue_of(name) for name in ledger_tasks} == {"ledger"}
    assert queue_of("signals.tasks.source_poll") == "celery"


def test_a_worker_started_without_queues_consumes_every_queue():
    assert set(app.amqp.queues) == {"celery", "ledger"}


def test_a_poll_is_stopped_before_its_next_period(settings):
    app.loader.import_default_modules()
    poll = app.tasks["signals.tasks.source_poll"]

    assert poll.soft_time_limit == settings.SOURCE_POLL_SOFT_TIME_LIMIT_SECONDS == 90
    assert poll.soft_time_limit < settings.SOURCE_POLL_INTERVAL_SECONDS
    assert poll.soft_time_limit < poll.time_limit <= settings.SOURCE_POLL_INTERVAL_SECONDS


@pytest.mark.slow
@pytest.mark.parametrize("program", ["worker", "beat"])
def test_a_worker_or_beat_with_a_refused_setting_stops_with_one_line(program):
    result = run(["-m", "celery", "-A", "omen_site", program], **production(DEBUG="true"))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "OMEN_ENV=production refuses to start: DEBUG is on: unset DEBUG or set DEBUG=false."
    ]


def test_workers_and_beat_never_give_up_on_the_broker():
    # Celery's default, 100 tries 2 to 30 s apart, ends a worker some 46 minutes into a broker
    # outage ("Unrecoverable error"), and nothing started it again. Not waited for
    # here: the setting is what decides it.
    assert app.conf.broker_connection_max_retries is None
    assert app.conf.broker_connection_retry_on_startup is True
