"""``/api/v1/signals/?latest=true``: each source event's newest signal, keyset-paged (issue 11)."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from signals.models import Signal
from tests.support.factories import RawEventFactory, SignalFactory

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# A signal's id is its input's: two observations of a market at the same probability are one signal.
PROBABILITIES = (round(0.2 + n / 10_000, 4) for n in itertools.count())


def signal_of(market, minutes=0, probability=None, at=None):
    """A signal of the market ``market`` observed ``minutes`` after MOMENT, or ``at`` (one event per market)."""
    event = RawEventFactory(
        market=market,
        observed_at=at or MOMENT + timedelta(minutes=minutes),
        probability=probability if probability is not None else next(PROBABILITIES),
    )
    return SignalFactory(raw_event=event)


def walk(api, url):
    seen = []
    while url:
        body = api.get(url).json()
        seen.extend(row["signal_id"] for row in body["results"])
        url = body["next"]
    return seen


@pytest.fixture
def three_events():
    """Market 1 signalled three times, market 2 once, market 3 twice in one batch (a tie)."""
    first = [signal_of("1", 0), signal_of("1", 30), signal_of("1", 20)]
    second = signal_of("2", 10)
    tied = [signal_of("3", 40, probability=0.3), signal_of("3", 40, probability=0.4)]
    return {"first": first, "second": second, "tied": tied}


def test_latest_is_each_events_newest_signal_newest_first(api, three_events):
    newest_of_tie = max(three_events["tied"], key=lambda s: s.pk)  # a tie goes to the later row

    found = walk(api, "/api/v1/signals/?latest=true")

    assert found == [newest_of_tie.signal_id, three_events["first"][1].signal_id, three_events["second"].signal_id]


@pytest.mark.parametrize("query", ["", "?latest=false", "?latest=FALSE", "?latest="])
def test_without_latest_every_signal_is_listed(api, three_events, query):
    assert len(walk(api, f"/api/v1/signals/{query}")) == 6


@pytest.mark.parametrize("few_events", [4, 3], ids=["event-by-event", "anti-join"])  # of four events
def test_a_source_with_few_events_takes_the_short_way_to_the_same_list(api, three_events, monkeypatch, few_events):
    """Up to FEW_EVENTS events, a source's latest signals are looked up event by event."""
    monkeypatch.setattr("signals.selectors.FEW_EVENTS", few_events)
    signal_of("4", 50, probability=0.9)  # ... and a fourth event, not latest at 0.5 or less

    assert walk(api, "/api/v1/signals/?latest=true&source=polymarket&probability_max=0.5") == walk(
        api, "/api/v1/signals/?latest=true&probability_max=0.5"
    )
    assert len(walk(api, "/api/v1/signals/?latest=true&source=polymarket&limit=1")) == 4
    assert walk(api, "/api/v1/signals/?latest=true&source=yahoo") == []


def test_latest_pages_by_one_give_the_same_list(api, three_events):
    assert walk(api, "/api/v1/signals/?latest=true&limit=1") == walk(api, "/api/v1/signals/?latest=true")


def test_latest_then_the_other_filters(api):
    """Market 1's newest signal is above 0.5: it has no latest signal at or below 0.5."""
    signal_of("1", 0, probability=0.3)
    signal_of("1", 10, probability=0.7)
    below = signal_of("2", 0, probability=0.4)

    assert walk(api, "/api/v1/signals/?latest=true&probability_max=0.5") == [below.signal_id]


def test_latest_paging_is_exact_while_signals_arrive(api):
    """Signals that arrive during a walk, ahead of it or older than an event's newest, change no page."""
    newest_first = [signal_of(str(market), minutes=market // 3).signal_id for market in range(12)][::-1]  # ties of 3
    url, seen = "/api/v1/signals/?latest=true&limit=4", []
    while url:
        body = api.get(url).json()
        seen.extend(row["signal_id"] for row in body["results"])
        url = body["next"]
        page_end = Signal.objects.get(signal_id=seen[-1]).generated_at
        signal_of(f"new-{len(seen)}", minutes=60)  # a new market: newest of all, ahead of the walk
        signal_of(f"tie-{len(seen)}", at=page_end)  # a new market in the tie the page ended in
        signal_of("0", minutes=-60 - len(seen))  # an older signal of a market: never its latest

    assert seen == newest_first


@pytest.mark.parametrize("value", ["yes", "1", "truth"])
def test_latest_other_than_true_or_false_is_a_400_naming_it(api, value):
    body = api.get(f"/api/v1/signals/?latest={value}").json()

    assert body["error"] == "invalid_request"
    assert [d["field"] for d in body["details"]] == ["latest"]


def test_latest_costs_one_query_whatever_the_page_size(three_events, view_get, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/signals/?latest=true&limit=2")["results"]) == 2
    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/signals/?latest=true&limit=50")["results"]) == 3
    with django_assert_num_queries(3):  # a source's events counted, their newest signals, then the page
        assert len(view_get("/api/v1/signals/?latest=true&source=polymarket")["results"]) == 3


def test_a_source_with_many_events_costs_one_count_before_its_page(
    three_events, view_get, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr("signals.selectors.FEW_EVENTS", 2)  # three events: too many for the short way
    with django_assert_num_queries(2):  # the bounded count, then the page (no event-by-event lookups)
        assert len(view_get("/api/v1/signals/?latest=true&source=polymarket")["results"]) == 3
