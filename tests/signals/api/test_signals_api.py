"""``/api/v1/signals/``: filters, detail levels, exact keyset pages, pinned query counts (issue 11)."""

from datetime import UTC, datetime, timedelta

import pytest

from signals.models import Signal
from tests.support.factories import RawEventFactory, SignalFactory

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def signal_at(moment, **event):
    return SignalFactory(raw_event=RawEventFactory(observed_at=moment, **event))


def walk(api, url):
    """Every page of ``url``, following ``next``; the signal ids in order."""
    seen = []
    while url:
        body = api.get(url).json()
        seen.extend(row["signal_id"] for row in body["results"])
        url = body["next"]
    return seen


def test_the_list_is_newest_first_with_the_list_fields_only(api):
    older, newer = signal_at(MOMENT), signal_at(MOMENT + timedelta(hours=1))

    body = api.get("/api/v1/signals/").json()

    assert [row["signal_id"] for row in body["results"]] == [newer.signal_id, older.signal_id]
    assert body["next"] is None
    assert "contract" not in body["results"][0] and "trace_id" not in body["results"][0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("source=polymarket", {"a", "b"}),
        ("source=yahoo", set()),
        ("probability_min=0.5", {"b"}),
        ("probability_max=0.5", {"a"}),
        ("generated_after=2026-11-20T12:30:00Z", {"b"}),
        ("since=2026-11-20T12:30:00Z", {"b"}),
        ("generated_before=2026-11-20T12:30:00Z", {"a"}),
        ("title=suez", {"b"}),
    ],
)
def test_filters(api, query, expected):
    ids = {
        "a": signal_at(MOMENT, probability=0.3).signal_id,
        "b": signal_at(
            MOMENT + timedelta(hours=1), probability=0.7, title="Will the Suez Canal close to container ships in 2027?"
        ).signal_id,
    }

    found = set(walk(api, f"/api/v1/signals/?{query}"))

    assert found == {ids[name] for name in expected}


@pytest.mark.parametrize(
    ("detail", "has_ids", "has_contract"), [("minimal", False, False), ("standard", True, False), ("full", True, True)]
)
def test_a_signal_in_three_levels_of_detail(api, detail, has_ids, has_contract):
    signal = signal_at(MOMENT)

    row = api.get(f"/api/v1/signals/{signal.signal_id}/?detail={detail}").json()

    assert row["signal_id"] == signal.signal_id
    assert ("trace_id" in row) is has_ids
    assert ("contract" in row) is has_contract
    if has_contract:
        assert row["contract"] == signal.contract


def test_an_unknown_detail_level_is_a_400_naming_the_parameter(api):
    signal = signal_at(MOMENT)

    body = api.get(f"/api/v1/signals/{signal.signal_id}/?detail=everything").json()

    assert body["error"] == "invalid_request" and body["details"][0]["field"] == "detail"


def test_paging_is_exact_while_signals_are_inserted_among_the_ties(api):
    """Signals of one batch share generated_at: a cursor that keys on it alone would shift."""
    existing = [signal_at(MOMENT + timedelta(minutes=i // 4)) for i in range(23)]  # ties of four
    url = "/api/v1/signals/?source=polymarket&limit=5"
    seen = []
    while url:
        body = api.get(url).json()
        seen.extend(row["signal_id"] for row in body["results"])
        url = body["next"]
        if body["results"]:
            # Another writer inserts at the very moment the page ended at, and newer and older.
            last = Signal.objects.get(signal_id=body["results"][-1]["signal_id"]).generated_at
            for offset in (timedelta(0), timedelta(minutes=30), -timedelta(minutes=30)):
                signal_at(last + offset)

    pre_existing = {s.signal_id for s in existing}
    assert sorted(s for s in seen if s in pre_existing) == sorted(pre_existing)  # each exactly once
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "MjAyNi0xMS0yMFQxMjowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ",  # an id past a bigint
        "MjAyNi0xMS0yMFQxMjowMDowMHw1",  # a time without its zone
        "MjAyNi0xMS0yMFQxMjowMDowMCswMDowMHwtMQ",
        "MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHwx",  # year 1 at +01:00: before the first year in UTC
        "OTk5OS0xMi0zMVQyMzo1OTo1OS0wMTowMHwx",  # 9999-12-31 at -01:00: past the last
    ],
)
def test_a_cursor_the_api_did_not_give_is_a_400(api, cursor):
    body = api.get(f"/api/v1/signals/?cursor={cursor}").json()

    assert body["error"] == "invalid_request" and body["details"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    "query", ["generated_after=0001-01-01T00:00:00%2B01:00", "generated_before=9999-12-31T23:59:59-01:00"]
)
def test_a_moment_utc_cannot_hold_is_a_400_naming_the_filter(api, query):
    """Both parse; in UTC one is before year 1 and one after 9999 (SQLite's adapter raised: a 500)."""
    body = api.get(f"/api/v1/signals/?{query}").json()

    assert body["error"] == "invalid_request" and body["details"][0]["field"] == query.split("=")[0]


@pytest.mark.parametrize("limit", ["0", "501", "many"])
def test_a_page_size_out_of_range_is_a_400(api, limit):
    assert api.get(f"/api/v1/signals/?limit={limit}").status_code == 400


def test_the_list_costs_the_same_queries_whatever_the_page_size(view_get, django_assert_num_queries):
    for i in range(30):
        signal_at(MOMENT + timedelta(minutes=i))

    # The page itself, never one query per row.
    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/signals/?limit=5")["results"]) == 5
    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/signals/?limit=30&source=polymarket")["results"]) == 30


def test_history_is_the_markets_series_oldest_first_with_its_momentum(api):
    first = signal_at(MOMENT, market="800001", probability=0.30)
    # Ingest writes a market's points; the factory writes none: the series is made here.
    for hours, probability in ((0, 0.30), (1, 0.32), (25, 0.40), (26, 0.45)):
        first.event.probability_points.create(observed_at=MOMENT + timedelta(hours=hours), probability=probability)

    body = api.get(f"/api/v1/signals/{first.signal_id}/history/").json()

    assert [p["probability"] for p in body["points"]] == [0.30, 0.32, 0.40, 0.45]
    assert body["momentum"] == {"change_24h": pytest.approx(0.13), "change_total": pytest.approx(0.15)}
    assert body["source_event_id"] == first.source_event_id


def test_explanation_is_the_contracts_chain_rule_by_rule(api):
    signal = signal_at(MOMENT)

    body = api.get(f"/api/v1/signals/{signal.signal_id}/explanation/").json()

    assert body["steps"] == signal.contract["explanation"]
    assert [step["rule"] for step in body["steps"]][:2] == ["liquidity", "semantic_relevance"]
    assert body["confidence_interval"] == signal.contract["confidence_interval"]


def test_rejections_newest_first_filtered_by_rule(api):
    from tests.support.factories import RejectionFactory

    old = RejectionFactory(rule="liquidity", created_at=MOMENT)
    new = RejectionFactory(rule="liquidity", created_at=MOMENT + timedelta(hours=1))
    RejectionFactory(rule="semantic_relevance", created_at=MOMENT + timedelta(hours=2))

    body = api.get("/api/v1/rejections/?rule=liquidity").json()

    assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
    assert body["results"][0]["reason"] == new.reason


def test_sources_show_health_breaker_and_last_run(api):
    from tests.support.factories import SourceRunFactory

    SourceRunFactory(source="polymarket", outcome="ok", fetched=250, accepted=20)

    rows = {row["source"]: row for row in api.get("/api/v1/sources/").json()}

    assert set(rows) == {"polymarket", "openmeteo", "newsapi", "newsdata", "yahoo"}
    assert rows["polymarket"]["last_run"]["accepted"] == 20
    assert rows["polymarket"]["health"] == "healthy"
    assert rows["yahoo"] == {
        "source": "yahoo",
        "health": "unknown",
        "breaker": "closed",
        "consecutive_failures": 0,
        "last_run": None,
    }


def test_the_rejection_list_costs_the_same_queries_whatever_the_page_size(view_get, django_assert_num_queries):
    from tests.support.factories import RejectionFactory

    for i in range(20):
        RejectionFactory(created_at=MOMENT + timedelta(minutes=i))

    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/rejections/?limit=20")["results"]) == 20


def test_sources_cost_two_queries_whatever_the_number_of_sources_and_runs(view_get, django_assert_num_queries):
    from signals.selectors import source_health
    from tests.support.factories import SourceRunFactory, SourceStateFactory

    for source, outcomes in {"polymarket": ["failed", "ok"], "openmeteo": ["ok", "disabled"], "yahoo": ["ok"]}.items():
        for minutes, outcome in enumerate(outcomes):
            SourceRunFactory(source=source, outcome=outcome, started_at=MOMENT + timedelta(minutes=minutes))
    SourceStateFactory(source="yahoo", breaker="open", consecutive_failures=5)
    SourceStateFactory(source="newsapi", consecutive_failures=3)

    with django_assert_num_queries(2):  # the states, the newest run of each source
        rows = {row["source"]: row for row in view_get("/api/v1/sources/")}

    assert {source: row["health"] for source, row in rows.items()} == {source: source_health(source) for source in rows}
    assert rows["polymarket"]["last_run"]["outcome"] == "ok"
    assert rows["openmeteo"]["health"] == "disabled" and rows["yahoo"]["breaker"] == "open"


def test_a_list_row_is_what_drf_would_write_field_by_field():
    from zoneinfo import ZoneInfo

    from rest_framework import serializers

    from signals.api.serializers import SignalListSerializer

    signal = SignalFactory.build(
        raw_event=RawEventFactory(observed_at=datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=ZoneInfo("Asia/Tokyo")))
    )
    signal.generated_at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    written = SignalListSerializer(signal)

    assert written.data == serializers.ModelSerializer.to_representation(written, signal)
    assert written.data["observed_at"] == "2026-11-20T03:00:00.123456Z"


def test_each_request_filters_with_its_own_filters_and_one_shared_form_class():
    from django.http import QueryDict

    from signals.api.filters import SignalFilter

    first = SignalFilter(QueryDict("latest=true&source=yahoo"), queryset=Signal.objects.all())
    second = SignalFilter(QueryDict("latest=yes"), queryset=Signal.objects.all())

    # A request sets its filterset as each filter's parent; the method filter must call the
    # method of its own request's filterset, whichever was built last.
    assert first.filters["latest"] is not second.filters["latest"]
    assert first.filters["latest"].filter.f.parent is first
    assert second.filters["latest"].filter.f.parent is second
    assert not hasattr(SignalFilter.base_filters["latest"], "parent")
    assert type(first.form) is type(second.form)
    assert first.is_valid() and first.form.cleaned_data["latest"] is True
    assert not second.is_valid() and second.errors["latest"] == ["Send true or false."]
    assert first.is_valid() and not first.errors  # the other request's errors stay its own
