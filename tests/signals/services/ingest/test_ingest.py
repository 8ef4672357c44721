"""signals_ingest: every record ends as a signal or a rejection, idempotently, in bulk."""

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast

from signals.announcements import signals_bulk_created
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent
from signals.services.ingest import prepare as prepare_module
from signals.services.ingest import signals_ingest
from signals.sources.polymarket import parse_markets
from tests.support.factories import ParseFailureFactory, RawEventFactory

pytestmark = pytest.mark.django_db(transaction=False)
FETCHED_AT = datetime(2026, 2, 8, tzinfo=UTC)


@pytest.fixture
def recorded_markets(recorded_dir):
    payload = json.loads((recorded_dir / "polymarket_gamma_markets_active_part1.json").read_text())
    return parse_markets(payload, fetched_at=FETCHED_AT)


def table_counts():
    return (
        Signal.objects.count(),
        Rejection.objects.count(),
        ProbabilityPoint.objects.count(),
        SourceEvent.objects.count(),
    )


def test_each_recorded_market_ends_as_a_signal_or_a_rejection(recorded_markets):
    summary = signals_ingest(records=recorded_markets)

    assert summary.fetched == 250
    assert summary.created + summary.rejected == 250
    assert summary.unchanged == 0
    signal_markets = set(Signal.objects.values_list("event__external_id", flat=True))
    rejected_markets = set(Rejection.objects.values_list("external_id", flat=True))
    assert len(signal_markets) + len(rejected_markets) == 250
    assert not signal_markets & rejected_markets
    assert not Rejection.objects.filter(rule="").exists()
    assert not Rejection.objects.filter(reason="").exists()


def test_second_ingest_of_the_same_records_writes_nothing_new(recorded_markets):
    signals_ingest(records=recorded_markets)
    before = table_counts()

    summary = signals_ingest(records=recorded_markets)

    assert summary.created == 0
    assert summary.unchanged == before[0]
    assert table_counts() == before


def test_changed_price_makes_a_new_signal_for_the_same_source_event_and_a_history_point():
    first = RawEventFactory(probability=0.30)
    later = replace(first, probability=0.42, observed_at=first.observed_at + timedelta(hours=5))

    signals_ingest(records=[first])
    summary = signals_ingest(records=[later])

    assert summary.created == 1
    source_event = SourceEvent.objects.get()
    assert source_event.signals.count() == 2
    assert list(source_event.probability_points.values_list("probability", flat=True)) == [0.30, 0.42]
    newest = Signal.objects.newest_first().first()
    assert source_event.latest_signal == newest
    assert newest.probability == 0.42
    assert source_event.last_probability == 0.42


def test_a_batch_is_written_with_bulk_statements_not_a_query_per_row():
    def queries_for(n):
        statements = []

        def count(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        records = RawEventFactory.build_batch(n)
        with connection.execute_wrapper(count):
            signals_ingest(records=records, batch_size=1000)
        return len(statements)

    small, large = queries_for(5), queries_for(400)
    # SQLite splits a multi-row INSERT to stay under its parameter limit,
    # so allow one more statement per 25 rows, far from one per row.
    assert large <= small + 400 // 25


def test_parse_failures_become_rejections_naming_the_field_and_the_rest_goes_on():
    failure = ParseFailureFactory(field="liquidity", reason="liquidity is negative: -5.0")
    good = RawEventFactory()

    summary = signals_ingest(records=[failure, good])

    assert summary.created == 1 and summary.rejected == 1
    rejection = Rejection.objects.get()
    assert (rejection.stage, rejection.field) == ("parse", "liquidity")
    assert "liquidity is negative: -5.0" in rejection.reason


def test_pipeline_crash_on_one_event_rejects_that_event_only(monkeypatch):
    real_evaluate = prepare_module.evaluate
    bad = RawEventFactory(title="Will the Red Sea shipping lanes reopen? (explodes)")

    def evaluate(event, context):
        if event is bad:
            raise ZeroDivisionError("boom")
        return real_evaluate(event, context)

    monkeypatch.setattr(prepare_module, "evaluate", evaluate)
    summary = signals_ingest(records=[RawEventFactory(), bad, RawEventFactory()])

    assert summary.created == 2
    rejection = Rejection.objects.get()
    assert rejection.status == "REJECTED_RULE_ERROR"
    assert "ZeroDivisionError: boom" in rejection.reason


def test_an_id_too_long_for_the_database_is_rejected_not_crashed():
    summary = signals_ingest(records=[RawEventFactory(external_id="9" * 500)])

    assert summary.rejected == 1
    assert Rejection.objects.get().field == "id"


def test_a_failing_batch_leaves_nothing_of_itself_behind():
    def fail(**kwargs):
        raise RuntimeError("listener failed mid-batch")

    signals_bulk_created.connect(fail, dispatch_uid="test-fail")
    try:
        with pytest.raises(RuntimeError):
            signals_ingest(records=[RawEventFactory(), ParseFailureFactory()])
    finally:
        signals_bulk_created.disconnect(dispatch_uid="test-fail")

    assert table_counts() == (0, 0, 0, 0)


def test_bulk_insert_announces_every_created_signal_in_the_same_transaction():
    received = []

    def listener(sender, signals, **kwargs):
        received.append((signals, connection.in_atomic_block))

    signals_bulk_created.connect(listener, dispatch_uid="test-listen")
    try:
        signals_ingest(records=RawEventFactory.build_batch(3))
    finally:
        signals_bulk_created.disconnect(dispatch_uid="test-listen")

    ((announced, in_transaction),) = received
    assert in_transaction
    stored = Signal.objects.values_list(
        "pk", "signal_id", "trace_id", "input_event_hash", "source_event_id", "ruleset_version",
        "observed_at", "created_at", Cast("contract", output_field=TextField()), "pushed",
    )  # fmt: skip
    # What listeners are told is what the table holds, contract text byte for byte.
    assert sorted(announced) == sorted(stored)


def test_record_order_does_not_change_the_outcome():
    """History is built in time order, so shuffled input gives the same signals."""
    base = RawEventFactory()
    records = [
        replace(base, probability=p, observed_at=base.observed_at.replace(hour=h))
        for h, p in enumerate([0.30, 0.31, 0.33, 0.32, 0.35])
    ]

    def ingest_and_dump(batch):
        signals_ingest(records=batch)
        dump = sorted(Signal.objects.values_list("signal_id", "contract"))
        Signal.objects.all().delete()
        ProbabilityPoint.objects.all().delete()
        SourceEvent.objects.all().delete()
        return dump

    assert ingest_and_dump(records) == ingest_and_dump(list(reversed(records)))


def test_an_older_observation_never_rolls_a_source_event_back():
    newer = RawEventFactory(probability=0.40)
    older = replace(
        newer, probability=0.20, title=newer.title + " (old wording)", observed_at=newer.observed_at.replace(year=2025)
    )

    signals_ingest(records=[newer])
    signals_ingest(records=[older])

    source_event = SourceEvent.objects.get()
    assert source_event.last_probability == 0.40
    assert source_event.title == newer.title
    assert source_event.last_seen_at == newer.observed_at
    assert source_event.latest_signal.probability == 0.40
    assert source_event.first_seen_at == newer.observed_at  # first_seen is never updated
    assert source_event.probability_points.count() == 2


def test_latest_signal_stays_when_the_newest_observation_is_rejected():
    accepted = RawEventFactory(probability=0.40)
    rejected = replace(accepted, liquidity=10.0, observed_at=accepted.observed_at + timedelta(hours=1))

    signals_ingest(records=[accepted])
    summary = signals_ingest(records=[rejected])

    assert summary.rejected == 1
    source_event = SourceEvent.objects.get()
    assert source_event.latest_signal.signal_id == Signal.objects.get().signal_id
    assert source_event.last_seen_at == rejected.observed_at


@pytest.mark.parametrize("field", ["title", "description", "external_id", "url"])
def test_a_nul_character_rejects_that_event_not_the_batch(field):
    """PostgreSQL text cannot store NUL; SQLite can. Both reject the event the same way."""
    bad = RawEventFactory(**{field: "Red Sea\x00shipping"})

    summary = signals_ingest(records=[bad, RawEventFactory()])

    assert (summary.created, summary.rejected) == (1, 1)
    rejection = Rejection.objects.get()
    assert rejection.field == field and "NUL" in rejection.reason
    assert "\x00" not in rejection.external_id + rejection.excerpt


def test_a_market_with_escape_sequences_bells_and_line_breaks_is_stored_without_them():
    """From the Gamma reply to the row: the title, the contract and the source event hold clean text."""
    market = {
        "id": "\x1b[31m880001\x1b[0m",
        "question": "\x1b[1;31mWill Houthi attacks close\x07 the Red Sea\x1b[0m\r\nshipping route to container ships?",
        "description": "\x1b]0;pwned\x07Resolves Yes if major carriers\r\nsuspend Suez Canal transits.\x9b2J",
        "slug": "red-sea\x1b[K-2027\x07",
        "outcomePrices": '["0.35", "0.65"]',
        "liquidityNum": 50_000.0,
        "volumeNum": 750_000.0,
        "oneDayPriceChange": 0.01,
        "updatedAt": "2026-11-01T00:00:00Z",
    }

    summary = signals_ingest(records=parse_markets([market], fetched_at=FETCHED_AT))

    assert summary.created == 1
    signal = Signal.objects.get()
    title = "Will Houthi attacks close the Red Sea shipping route to container ships?"
    assert signal.title == signal.contract["title"] == title
    assert signal.contract["description"] == "Resolves Yes if major carriers suspend Suez Canal transits."
    stored = Signal.objects.values_list(Cast("contract", output_field=TextField()), flat=True).get()
    assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]|\\u00(?:[01][0-9a-f]|7f|[89][0-9a-f])", stored)
    event = SourceEvent.objects.get()
    assert (event.external_id, event.title) == ("880001", title)
    assert event.url == "https://polymarket.com/event/red-sea-2027"


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        signals_ingest(records=[RawEventFactory()], batch_size=0)


@pytest.mark.django_db(transaction=True)
def test_each_batch_commits_on_its_own_and_a_failing_one_leaves_nothing():
    """Real commits (no test transaction around them): batch 1 stays, batch 2 is rolled back whole."""
    batches = []

    def fail_on_second_batch(**kwargs):
        batches.append(kwargs["signals"])
        if len(batches) == 2:
            raise RuntimeError("database gone mid-ingest")

    first, second = RawEventFactory(), RawEventFactory()
    signals_bulk_created.connect(fail_on_second_batch, dispatch_uid="test-second-batch")
    try:
        with pytest.raises(RuntimeError):
            signals_ingest(records=[first, second, ParseFailureFactory()], batch_size=1)
    finally:
        signals_bulk_created.disconnect(dispatch_uid="test-second-batch")

    assert list(Signal.objects.values_list("event__external_id", flat=True)) == [first.external_id]
    assert SourceEvent.objects.get().latest_signal.event.external_id == first.external_id
    assert ProbabilityPoint.objects.count() == 1
    assert Rejection.objects.count() == 0
