"""A market that no longer trades never becomes a live signal (issue 10, point 3).

Real Gamma shapes: ``closed`` / ``archived`` flags, ``closedTime`` as "2026-01-05 04:22:25+00",
``outcomes`` and ``outcomePrices`` as JSON arrays inside strings, and /events replies whose
markets are nested in an event that may itself be closed.
"""

import json
from datetime import UTC, datetime

import pytest

from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent
from signals.pipeline import PipelineContext, RuleStatus, evaluate
from signals.services.ingest import signals_ingest
from signals.sources.polymarket import parse_markets
from tests.support.recorded import EVENTS, recorded_json

FETCHED_AT = datetime(2026, 2, 8, tzinfo=UTC)
OPEN_AT = "2026-01-20T10:00:00Z"
CLOSED_AT = "2026-02-01T10:00:00Z"


def market(**fields) -> dict:
    """A relevant, liquid Gamma market, open unless ``fields`` say otherwise."""
    record = {
        "id": "700001",
        "question": "Will the Houthis attack a tanker in the Red Sea by March 31?",
        "description": "Resolves Yes if a missile or drone strike hits a commercial tanker in the Red Sea.",
        "conditionId": "0xabc",
        "slug": "houthi-tanker-red-sea",
        "endDate": "2026-03-31T12:00:00Z",
        "outcomes": '["Yes", "No"]',
        "outcomePrices": '["0.62", "0.38"]',
        "liquidityNum": 250000.0,
        "volumeNum": 1200000.0,
        "active": True,
        "closed": False,
        "archived": False,
        "updatedAt": OPEN_AT,
    }
    record.update(fields)
    return record


def closed_market(**fields) -> dict:
    return market(
        closed=True,
        closedTime="2026-02-01 09:58:00+00",
        outcomePrices='["1", "0"]',
        liquidityNum=0,
        updatedAt=CLOSED_AT,
        **fields,
    )


def ingest(*records):
    return signals_ingest(records=parse_markets(list(records), fetched_at=FETCHED_AT))


def one(records):
    (record,) = records
    return record


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("fields", "state", "outcome"),
    [
        ({}, "", None),
        ({"closed": True, "outcomePrices": '["0", "1"]'}, "resolved", "No"),
        ({"closed": True, "outcomePrices": '["1", "0"]'}, "resolved", "Yes"),
        ({"closed": True, "outcomePrices": '["0.5", "0.5"]'}, "closed", None),  # closed, not settled
        ({"archived": True}, "archived", None),
        ({"endDate": "2026-01-10T00:00:00Z"}, "ended", None),  # before updatedAt, still "active"
    ],
)
def test_the_parser_reads_whether_a_market_still_trades(fields, state, outcome):
    event = one(parse_markets([market(**fields)], fetched_at=FETCHED_AT))

    assert (event.closed_state, event.outcome) == (state, outcome)


def test_closing_time_is_closedtime_else_the_end_date():
    closed = one(parse_markets([closed_market()], fetched_at=FETCHED_AT))
    no_time = one(parse_markets([market(closed=True)], fetched_at=FETCHED_AT))

    assert closed.closed_at == datetime(2026, 2, 1, 9, 58, tzinfo=UTC)
    assert no_time.closed_at == datetime(2026, 3, 31, 12, tzinfo=UTC)


def test_a_closed_flag_that_is_not_a_boolean_is_a_parse_failure_naming_it():
    failure = one(parse_markets([market(closed="yes")], fetched_at=FETCHED_AT))

    assert failure.field == "closed"
    assert "closed must be true or false" in failure.reason


def test_the_events_reply_parses_its_nested_markets_with_their_state():
    events = parse_markets(recorded_json(EVENTS), fetched_at=FETCHED_AT)

    assert [e.external_id for e in events] == ["516926", "824952", "692250", "692258"]
    settled = events[0]
    assert (settled.closed_state, settled.outcome) == ("resolved", "No")
    assert settled.closed_at == datetime(2026, 1, 5, 4, 22, 25, tzinfo=UTC)
    # 692250 has no endDate of its own: the event's (2025-12-31) applies, and it has passed.
    assert [e.closed_state for e in events[1:]] == ["", "ended", ""]


def test_a_closed_event_closes_every_market_nested_in_it():
    reply = [{"id": "9", "title": "An event", "closed": True, "markets": [market(), market(id="700002")]}]

    assert [e.closed_state for e in parse_markets(reply, fetched_at=FETCHED_AT)] == ["closed", "closed"]


# ------------------------------------------------------------------ pipeline


def test_the_pipeline_never_makes_a_closed_market_active():
    event = one(parse_markets([closed_market()], fetched_at=FETCHED_AT))

    untracked = evaluate(event)
    tracked = evaluate(event, PipelineContext(tracked=True))

    assert untracked.status == RuleStatus.REJECTED_MARKET_CLOSED
    assert untracked.reason.startswith("Market closed: resolved on 2026-02-01 09:58 UTC with outcome 'Yes'")
    assert tracked.signal["status"] == "RESOLVED"


# ------------------------------------------------------------------ ingest


@pytest.mark.django_db
def test_a_market_first_seen_closed_is_a_market_closed_rejection_and_nothing_else():
    summary = ingest(closed_market())

    assert (summary.created, summary.rejected) == (0, 1)
    rejection = Rejection.objects.get()
    assert (rejection.rule, rejection.status) == ("market_status", "REJECTED_MARKET_CLOSED")
    assert "Market closed" in rejection.reason
    # Not tracked: no SourceEvent and no point, so it stays untracked.
    assert not SourceEvent.objects.exists()
    assert not ProbabilityPoint.objects.exists()


@pytest.mark.django_db
def test_a_tracked_market_that_closes_gets_one_resolved_signal_with_its_outcome():
    ingest(market())
    live = Signal.objects.get()
    assert live.status != "RESOLVED"

    summary = ingest(closed_market())

    assert summary.created == 1
    resolved = Signal.objects.exclude(pk=live.pk).get()
    assert resolved.status == "RESOLVED"
    assert resolved.contract["resolution"] == {
        "state": "resolved",
        "outcome": "Yes",
        "resolved_at": "2026-02-01T09:58:00Z",
        "final_probability": 1.0,
    }
    assert SourceEvent.objects.get().latest_signal_id == resolved.signal_id


@pytest.mark.django_db
def test_a_market_closed_without_a_price_move_still_gets_its_resolved_signal():
    ingest(market(outcomePrices='["1", "0"]'))  # already at 1 while trading

    summary = ingest(closed_market())

    assert summary.created == 1
    assert Signal.objects.filter(status="RESOLVED").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("tracked", [False, True])
def test_the_same_closed_reply_twice_writes_nothing_new(tracked):
    if tracked:
        ingest(market())
    ingest(closed_market())
    counts = (Signal.objects.count(), Rejection.objects.count(), ProbabilityPoint.objects.count())

    summary = ingest(closed_market())

    assert summary.created == 0
    assert (Signal.objects.count(), Rejection.objects.count(), ProbabilityPoint.objects.count()) == counts


@pytest.mark.django_db
def test_open_then_closed_in_one_reply_is_tracked_within_it():
    summary = ingest(market(), closed_market())

    assert summary.created == 2
    assert Signal.objects.filter(status="RESOLVED").count() == 1


@pytest.mark.django_db
def test_the_recorded_events_reply_ingests_its_settled_market_as_a_rejection():
    summary = signals_ingest(records=parse_markets(recorded_json(EVENTS), fetched_at=FETCHED_AT))

    assert summary.fetched == 4
    closed = Rejection.objects.filter(status="REJECTED_MARKET_CLOSED")
    assert sorted(closed.values_list("external_id", flat=True)) == ["516926", "692250"]
    assert not Signal.objects.filter(status="ACTIVE", event__external_id__in=["516926", "692250"]).exists()


def test_recorded_events_fixture_is_what_these_tests_expect():
    (event,) = recorded_json(EVENTS)
    assert json.loads(event["markets"][0]["outcomePrices"]) == ["0", "1"]


@pytest.mark.django_db
def test_a_tracked_market_past_its_end_date_is_monitoring_until_it_closes():
    ingest(market())
    ended = market(endDate="2026-01-25T00:00:00Z", outcomePrices='["0.70", "0.30"]', updatedAt="2026-01-26T10:00:00Z")

    ingest(ended)

    signal = Signal.objects.latest("id")
    assert signal.status == "MONITORING"
    assert signal.contract["resolution"] == {
        "state": "ended",
        "outcome": None,
        "resolved_at": None,
        "final_probability": None,
    }
    # Its close, when it comes, is the RESOLVED one.
    ingest(closed_market(endDate="2026-01-25T00:00:00Z"))
    assert Signal.objects.latest("id").status == "RESOLVED"


@pytest.mark.django_db
def test_a_market_omen_observed_but_never_signalled_is_a_market_closed_rejection_when_it_closes():
    ingest(market(liquidityNum=50.0))  # observed, rejected for thin liquidity: no signal
    assert SourceEvent.objects.get().latest_signal is None

    summary = ingest(closed_market())

    assert (summary.created, summary.rejected) == (0, 1)
    assert Rejection.objects.filter(status="REJECTED_MARKET_CLOSED").count() == 1
    assert not Signal.objects.exists()


def test_a_bad_closedtime_on_an_open_market_is_not_read():
    event = one(parse_markets([market(closedTime="not a time")], fetched_at=FETCHED_AT))

    assert event.closed_state == ""
