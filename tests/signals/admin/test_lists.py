"""The analysts' lists: keyset pages, the date drill-down, search, and the sources' lists."""

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from signals.admin import signal as signal_admin
from signals.admin import sources as sources_admin
from signals.models import Signal, SourceRun, SourceState
from tests.signals.admin.bulk import bulk_signals, list_order
from tests.support.factories import RejectionFactory, SourceEventFactory, SourceRunFactory, SourceStateFactory
from utilities import admin as admin_helpers

pytestmark = pytest.mark.django_db

LIST = "/admin/signals/signal/"


@pytest.fixture
def per_page(monkeypatch):
    """Small pages, so a few dozen rows make several, and page edges split rows of one generated_at."""

    def set_to(rows):
        monkeypatch.setattr(signal_admin.SignalAdmin, "list_per_page", rows)

    return set_to


def open_list(client, query=""):
    response = client.get(LIST + query)
    assert response.status_code == 200, response.get("Location")
    return response


def shown(response):
    return [signal.signal_id for signal in response.context["cl"].result_list]


def walk(client, query, link):
    """Every page from ``query`` on, following the ``link`` ("older_url" or "newer_url") of each."""
    pages, queries = [], []
    while query is not None:
        response = open_list(client, query)
        pages.append(shown(response))
        queries.append(query)
        query = getattr(response.context["cl"].keyset, link)
    return pages, queries


def signal_queries(captured):
    return [q["sql"] for q in captured.captured_queries if "signals_signal" in q["sql"]]


# --- keyset pages -------------------------------------------------------------------------------


def test_older_links_walk_the_whole_list_and_newer_links_walk_it_back_page_for_page(admin_client, per_page):
    bulk_signals(40, same_time=3)  # pages of 7 split the batches of 3 that share a generated_at
    per_page(7)

    older, queries = walk(admin_client, "", "older_url")
    newer, _ = walk(admin_client, queries[-1], "newer_url")

    assert [signal_id for page in older for signal_id in page] == list_order()
    assert [len(page) for page in older] == [7, 7, 7, 7, 7, 5]
    assert newer == older[::-1]
    assert all("before=" in query for query in queries[1:])


# A search looks first among the rows nearest the position (utilities.admin.SEARCH_WINDOW): 30
# newest rows hold a page of matches here, 2 never do (so the plain query runs).
@pytest.mark.parametrize("window", [2, 30, 5000])
def test_the_links_keep_the_filters_and_the_search(admin_client, per_page, monkeypatch, window):
    monkeypatch.setattr(admin_helpers, "SEARCH_WINDOW", window)
    bulk_signals(90)
    per_page(4)

    older, queries = walk(admin_client, "?source__exact=polymarket&q=hormuz", "older_url")
    newer, _ = walk(admin_client, queries[-1], "newer_url")

    expected = list_order(Signal.objects.filter(source="polymarket", title__icontains="hormuz"))
    assert len(expected) == 15
    assert [signal_id for page in older for signal_id in page] == expected
    assert newer == older[::-1]
    for query in queries[1:]:
        params = parse_qs(urlsplit(query).query)
        assert params["source__exact"] == ["polymarket"] and params["q"] == ["hormuz"]


def test_the_first_page_is_full_when_newer_rows_arrived_since(admin_client, per_page):
    bulk_signals(12, same_time=1)
    per_page(5)
    second = open_list(admin_client, open_list(admin_client).context["cl"].keyset.older_url)
    Signal.objects.filter(signal_id__in=list_order()[:3]).delete()  # fewer rows above the second page now

    newer = open_list(admin_client, second.context["cl"].keyset.newer_url)

    assert shown(newer) == list_order()[:5]
    assert newer.context["cl"].keyset.newer_url is None


@pytest.mark.parametrize(
    "query",
    [
        "?before=yesterday",
        "?before=2026-11-01T00:00:00%2B00:00",  # no id
        "?before=2026-11-01T00:00:00%2B00:00_x1",
        "?before=2026-11-01T00:00:00_5",  # no offset: not a position this list wrote
        "?before=2026-13-01T00:00:00%2B00:00_5",
        "?after=2026-11-01T00:00:00%2B00:00_99999999999999999999",  # past a bigint
        "?after=2026-11-01T00:00:00%2B00:00_0",
        "?before=0001-01-01T00:00:00%2B05:00_5",  # before year 1 in UTC
        "?before=9999-12-31T23:00:00-05:00_5",  # after year 9999 in UTC
        "?before=2026-11-01T00:00:00%2B00:00_5&after=2026-11-01T00:00:00%2B00:00_9",
        "?before=%D9%A1%D9%A2_%D9%A3",  # Arabic-Indic digits: isdigit() says yes, a database would not
    ],
)
def test_a_bad_position_shows_the_first_page_with_a_message(admin_client, per_page, query):
    bulk_signals(12)
    per_page(5)

    response = open_list(admin_client, query)

    assert shown(response) == list_order()[:5]
    assert [m.message for m in response.context["messages"]] == [
        "That page link is not a position in this list (mistyped or cut short?): showing the newest rows."
    ]


def test_a_page_past_the_oldest_row_is_empty_and_links_to_the_newest(admin_client):
    bulk_signals(6)

    response = open_list(admin_client, "?before=2001-01-01T00:00:00%2B00:00_1")

    keyset = response.context["cl"].keyset
    assert shown(response) == [] and keyset.older_url is None and keyset.newer_url is None
    assert keyset.newest_url == "?"


def test_a_keyset_page_counts_nothing(admin_client, per_page):
    bulk_signals(30)
    per_page(5)
    deep = open_list(admin_client, open_list(admin_client).context["cl"].keyset.older_url).context["cl"].keyset

    for query in ("", "?confidence_level__exact=LOW&q=hormuz", deep.older_url):
        with CaptureQueriesContext(connection) as captured:
            open_list(admin_client, query)
        sql = signal_queries(captured)
        assert sql and not any("COUNT(" in q.upper() for q in sql), sql


def test_sorted_by_another_column_the_list_falls_back_to_page_numbers(admin_client, per_page):
    bulk_signals(12)
    per_page(5)
    by_title = list(Signal.objects.order_by("-title", "-id").values_list("signal_id", flat=True))

    first = open_list(admin_client, "?o=-2")
    second = open_list(admin_client, "?o=-2&p=2")

    assert first.context["cl"].keyset is None
    assert shown(first) == by_title[:5] and shown(second) == by_title[5:10]
    assert "?o=-2&amp;p=2" in first.content.decode()


# --- date drill-down ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "links"),
    [
        ("", ["generated_at__year=2025", "generated_at__year=2026"]),
        ("?generated_at__year=2026", ["generated_at__month=1&", "generated_at__month=11&"]),
        ("?generated_at__year=2026&generated_at__month=11", ["generated_at__day=1&"]),
        ("?generated_at__year=2026&generated_at__month=11&generated_at__day=1", []),
    ],
)
def test_the_date_drill_down_never_runs_distinct(admin_client, query, links):
    bulk_signals(9)
    Signal.objects.filter(signal_id__in=list_order()[-2:]).update(generated_at=datetime(2025, 12, 30, tzinfo=UTC))
    Signal.objects.filter(signal_id=list_order()[-3]).update(generated_at=datetime(2026, 1, 15, tzinfo=UTC))

    with CaptureQueriesContext(connection) as captured:
        response = open_list(admin_client, query)

    hierarchy = response.content.decode().split('<nav class="toplinks">')[1].split("</nav>")[0].replace("&amp;", "&")
    assert all(link in hierarchy for link in links), hierarchy
    assert shown(response)
    assert not any("DISTINCT" in sql.upper() for sql in signal_queries(captured))
    assert sum("MIN(" in sql for sql in signal_queries(captured)) <= 1  # the bounds, read once a page


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["hormuz", "Strait HORMUZ", "tankers hormuz 2027?"])
def test_the_title_search_finds_every_word_in_any_case(admin_client, q):
    bulk_signals(20)

    titles = [Signal.objects.get(signal_id=s).title for s in shown(open_list(admin_client, f"?q={q}"))]

    words = q.lower().split()
    assert len(titles) == 10
    assert all(all(word in title.lower() for word in words) for title in titles)


def test_a_title_search_for_words_no_title_holds_finds_nothing(admin_client):
    bulk_signals(6)

    assert shown(open_list(admin_client, "?q=hormuz+volcano")) == []


def test_a_search_of_more_words_than_a_title_holds_is_refused_with_a_message(admin_client):
    """Each word is a condition: on SQLite past about 1,000 of them the query was an error
    ("Expression tree is too large"), the list and its exports a 500."""
    bulk_signals(6)
    most = " ".join(["hormuz"] * signal_admin.SEARCH_WORDS_MAX)

    listed = admin_client.get(LIST, {"q": " ".join(["a"] * 2000)}, follow=True)
    exported = admin_client.get(LIST + "export.csv", {"q": "x " * 1500}, follow=True)

    for response in (listed, exported):
        assert response.redirect_chain == [(f"{LIST}?e=1", 302)]
        assert [m.message for m in response.context["messages"]] == [
            f"That search holds more than {signal_admin.SEARCH_WORDS_MAX} words: search a title by a few of its words."
        ]
    assert len(shown(open_list(admin_client, f"?q={most}"))) == 3


@pytest.mark.parametrize("column", ["signal_id", "trace_id", "input_event_hash", "source_event_id"])
def test_an_id_search_is_an_equality_on_its_column_never_a_title_scan(admin_client, column):
    bulk_signals(12)
    target = Signal.objects.order_by("id")[4]

    with CaptureQueriesContext(connection) as captured:
        response = open_list(admin_client, f"?q={getattr(target, column)}")

    assert shown(response) == [target.signal_id]
    sql = signal_queries(captured)
    assert any(f'"signals_signal"."{column}" = ' in query for query in sql), sql
    assert not any(" LIKE " in query.upper() for query in sql), sql


def planned_indexes(queryset) -> set[str]:
    """The indexes PostgreSQL would read for ``queryset`` if it could not scan the table (tiny here)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    # "Index Scan using <index> on <table>", "Index Only Scan Backward using ...", "Bitmap Index Scan on <index>"
    return {
        a or b
        for a, b in re.findall(r"Index (?:Only )?Scan (?:Backward )?using (\w+)|Bitmap Index Scan on (\w+)", plan)
    }


@pytest.mark.postgresql
@pytest.mark.parametrize(
    ("q", "index"),
    [
        ("hormuz tankers", "signal_title_trgm_idx"),
        ("OMEN-000000000005", "signal_signal_id_uniq"),
        ("0000000000000004", "signal_trace_id_idx"),
        ("0" * 63 + "4", "signal_input_hash_idx"),
        ("newsapi-600004", "signal_source_event_id_idx"),
    ],
)
def test_on_postgresql_each_search_is_served_by_its_index(admin_client, rf, q, index):
    if connection.vendor != "postgresql":
        pytest.skip("the indexes compared are PostgreSQL's plans")
    bulk_signals(12)
    request = rf.get(LIST, {"q": q})
    model_admin = signal_admin.SignalAdmin(Signal, signal_admin.admin.site)

    searched, _ = model_admin.get_search_results(request, Signal.objects.all(), q)

    assert index in planned_indexes(searched)


# --- the sources' lists -------------------------------------------------------------------------


def test_rejections_are_summed_up_by_rule_and_stage_for_the_current_filters(admin_client):
    RejectionFactory.create_batch(3, rule="semantic_relevance", stage="validation")
    RejectionFactory.create_batch(2, rule="min_liquidity", stage="validation")
    RejectionFactory.create_batch(1, rule="json_shape", stage="parse", status="REJECTED_PARSE")

    whole = admin_client.get("/admin/signals/rejection/").context["rejection_summary"]
    parse = admin_client.get("/admin/signals/rejection/?stage__exact=parse").context["rejection_summary"]

    assert [(r["rule"], r["stage"], r["count"]) for r in whole["rows"]] == [
        ("semantic_relevance", "Validation", 3),
        ("min_liquidity", "Validation", 2),
        ("json_shape", "Parse", 1),
    ]
    assert (whole["total"], whole["capped"]) == (6, False)
    assert [(r["rule"], r["count"]) for r in parse["rows"]] == [("json_shape", 1)]


def test_the_rejection_summary_reads_only_the_newest_rows(admin_client, monkeypatch):
    monkeypatch.setattr(sources_admin, "SUMMARY_ROWS", 3)
    RejectionFactory.create_batch(4, rule="old_rule", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    RejectionFactory.create_batch(3, rule="new_rule", created_at=datetime(2026, 6, 1, tzinfo=UTC))

    response = admin_client.get("/admin/signals/rejection/")

    summary = response.context["rejection_summary"]
    assert [(r["rule"], r["count"]) for r in summary["rows"]] == [("new_rule", 3)]
    assert summary["capped"] and summary["since"] == datetime(2026, 6, 1, tzinfo=UTC)
    assert "the newest 3 rejections in this list" in response.content.decode()


def test_source_events_show_a_sparkline_of_their_recent_probabilities(admin_client):
    history = [[1_780_000_000 + 3600 * i, p, 1000.0] for i, p in enumerate([0.2, 0.25, 0.4, 0.35])]
    event = SourceEventFactory(recent_history=orjson.dumps(history).decode())
    SourceEventFactory(external_id="quiet", recent_history="[]")

    page = admin_client.get("/admin/signals/sourceevent/").content.decode()

    assert f'id="event-{event.pk}-recent"' in page
    assert page.count("<polyline") == 1
    assert "/static/omen_site/charts.css" in page


def test_a_source_events_page_shows_its_newest_points_only_however_many_it_has(admin_client, monkeypatch):
    from datetime import timedelta

    from signals.models import ProbabilityPoint

    monkeypatch.setattr(sources_admin, "EVENT_PAGE_POINTS", 3)
    event = SourceEventFactory()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    ProbabilityPoint.objects.bulk_create(
        ProbabilityPoint(source_event=event, observed_at=start + timedelta(minutes=n), probability=n / 10)
        for n in range(5)
    )

    page = admin_client.get(f"/admin/signals/sourceevent/{event.pk}/change/")

    # Every point was a row of the page: a market polled every two minutes keeps 1,000 to 1,700
    # between sweeps (5,000 points were 8 s and 6 MB of page).
    (points,) = page.context["inline_admin_formsets"]
    shown = [form.instance.probability for form in points.formset.forms]
    assert shown == [0.4, 0.3, 0.2]
    assert "the newest 3" in page.content.decode()


def test_source_runs_and_states_are_coloured_by_health(admin_client):
    SourceRunFactory(source="polymarket", outcome=SourceRun.Outcome.OK)
    SourceRunFactory(source="newsapi", outcome=SourceRun.Outcome.FAILED)
    SourceStateFactory(source="newsapi", breaker=SourceState.Breaker.OPEN, consecutive_failures=5)

    runs = admin_client.get("/admin/signals/sourcerun/").content.decode()
    states = admin_client.get("/admin/signals/sourcestate/").content.decode()

    assert '<span class="health health-good">OK</span>' in runs
    assert '<span class="health health-bad">Failed</span>' in runs
    assert '<span class="health health-bad">circuit open</span>' in states
    assert '<span class="health health-bad">Open</span>' in states
    assert "/static/signals/admin.css" in runs and "/static/signals/admin.css" in states


def test_the_lists_and_the_signal_page_carry_no_inline_style(admin_client):
    bulk_signals(3)
    SourceEventFactory(recent_history="[[1780000000, 0.2, 1.0], [1780003600, 0.3, 1.0]]")
    RejectionFactory()
    SourceRunFactory()
    SourceStateFactory()
    signal = Signal.objects.first()

    for path in [
        LIST,
        f"/admin/signals/signal/{signal.pk}/change/",
        "/admin/signals/sourceevent/",
        "/admin/signals/rejection/",
        "/admin/signals/sourcerun/",
        "/admin/signals/sourcestate/",
    ]:
        page = admin_client.get(path).content.decode()
        assert not re.search(r"\sstyle\s*=|<style", page), path
    assert (
        '<pre class="pretty-json">' in admin_client.get(f"/admin/signals/signal/{signal.pk}/change/").content.decode()
    )
