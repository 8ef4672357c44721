"""``/api/v1/source-events/``: what OMEN watches, newest first sighting first, keyset-paged (issue 11)."""

from datetime import UTC, datetime, timedelta

import pytest

from signals.models import SourceEvent
from tests.support.factories import RawEventFactory, SignalFactory, SourceEventFactory

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def event_at(hours, **fields):
    first_seen = MOMENT + timedelta(hours=hours)
    return SourceEventFactory(first_seen_at=first_seen, last_seen_at=first_seen + timedelta(hours=1), **fields)


def walk(api, url):
    seen = []
    while url:
        body = api.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]
    return seen


def test_an_event_with_its_newest_observation_and_latest_signal(api):
    signal = SignalFactory(raw_event=RawEventFactory(market="517310", observed_at=MOMENT, probability=0.42))
    event = signal.event
    SourceEvent.objects.filter(pk=event.pk).update(latest_signal=signal.signal_id, last_probability=0.42)

    row = api.get("/api/v1/source-events/").json()["results"][0]

    assert row == {
        "id": event.pk,
        "source": "polymarket",
        "external_id": "517310",
        "source_event_id": "polymarket-517310",
        "title": event.title,
        "url": event.url,
        "first_seen_at": "2026-11-20T12:00:00Z",
        "last_seen_at": "2026-11-20T12:00:00Z",
        "last_probability": 0.42,
        "latest_signal_id": signal.signal_id,
    }


def test_one_event_adds_its_number_of_signals(api):
    first = SignalFactory(raw_event=RawEventFactory(market="1", probability=0.3))
    SignalFactory(raw_event=RawEventFactory(market="1", probability=0.4))
    unsignalled = SourceEventFactory()

    assert api.get(f"/api/v1/source-events/{first.event_id}/").json()["signal_count"] == 2
    body = api.get(f"/api/v1/source-events/{unsignalled.pk}/").json()
    assert body["signal_count"] == 0 and body["latest_signal_id"] is None


@pytest.mark.parametrize("event_id", ["0", "99999999999999999999", "abc"])
def test_an_unknown_event_is_a_404_in_the_error_shape(api, event_id):
    response = api.get(f"/api/v1/source-events/{event_id}/")

    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_newest_first_sighting_first_and_exact_while_events_arrive_and_are_seen_again(api):
    """Ordered by first sighting: an event seen again (last_seen_at moves) keeps its place."""
    existing = [event_at(hours=i // 3).pk for i in range(10)]  # ties of three
    url, seen = "/api/v1/source-events/?limit=3", []
    while url:
        body = api.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]
        page_end = SourceEvent.objects.get(pk=seen[-1]).first_seen_at
        SourceEventFactory(first_seen_at=page_end, last_seen_at=page_end)  # a new event in the tie
        SourceEvent.objects.filter(pk=existing[0]).update(last_seen_at=MOMENT + timedelta(days=9))

    assert seen == sorted(existing, key=lambda pk: (SourceEvent.objects.get(pk=pk).first_seen_at, pk), reverse=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("source=yahoo", {"yahoo"}),
        ("source=polymarket", {"old", "new"}),
        ("first_seen_after=2026-11-20T14:00:00Z", {"new", "yahoo"}),  # inclusive
        ("first_seen_before=2026-11-20T14:00:00Z", {"old"}),  # exclusive
        ("last_seen_after=2026-11-20T15:30:00Z", {"yahoo"}),
        ("last_seen_before=2026-11-20T15:00:00Z", {"old"}),
    ],
)
def test_filters_by_source_and_time(api, query, expected):
    ids = {
        "old": event_at(hours=0).pk,
        "new": event_at(hours=2).pk,
        "yahoo": event_at(hours=3, source="yahoo", external_id="CL=F").pk,
    }

    assert set(walk(api, f"/api/v1/source-events/?{query}")) == {ids[name] for name in expected}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("source=nowhere", "source"),
        ("first_seen_after=yesterday", "first_seen_after"),
        ("last_seen_before=9999-12-31T23:59:59-01:00", "last_seen_before"),  # past 9999 in UTC
        ("cursor=nope", "cursor"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_field(api, query, field):
    body = api.get(f"/api/v1/source-events/?{query}").json()

    assert body["error"] == "invalid_request" and [d["field"] for d in body["details"]] == [field]


def test_the_list_costs_one_query_whatever_the_page_size(view_get, django_assert_num_queries):
    for hours in range(12):
        event = event_at(hours)
        SignalFactory(raw_event=RawEventFactory(market=event.external_id, observed_at=event.first_seen_at))

    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/source-events/?limit=12")["results"]) == 12
    with django_assert_num_queries(1):  # one event, its count included
        assert view_get(f"/api/v1/source-events/{event.pk}/")["signal_count"] == 1
