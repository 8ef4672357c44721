"""``/api/v1/stats/``: what happened in a window, in a few aggregate queries (issue 11)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from omen_site.api.keys import ApiKey
from tests.support.factories import RawEventFactory, RejectionFactory, SignalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stats(client):
    _, raw = ApiKey.issue("dashboard", ["read:stats"])

    def get(query=""):
        return client.get(f"/api/v1/stats/{query}", HTTP_X_API_KEY=raw)

    return get


def signal_at(moment):
    return SignalFactory(raw_event=RawEventFactory(observed_at=moment))


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def day_and_week(now):
    """In the last day: three signals and one rejection; earlier in the week: one signal, three rejections."""
    recent = [signal_at(now - timedelta(hours=hours)) for hours in (1, 2, 3)]
    RejectionFactory(created_at=now - timedelta(hours=1), rule="liquidity", reason="Liquidity 10 is below 1000.")
    signal_at(now - timedelta(days=3))
    for _ in range(3):
        RejectionFactory(created_at=now - timedelta(days=3), rule="semantic_relevance", reason="No risk terms.")
    signal_at(now - timedelta(days=8))  # past every window but 30d
    return recent


def test_the_last_day_by_default(stats, day_and_week):
    body = stats().json()

    signals = body["signals"]
    assert signals["total"] == 3
    assert signals["by_source"] == {
        "polymarket": 3,
        "openmeteo": 0,
        "newsapi": 0,
        "newsdata": 0,
        "yahoo": 0,
        "original": 0,
    }
    for breakdown in ("by_type", "by_status", "by_confidence_level"):
        assert sum(signals[breakdown].values()) == 3
    first = day_and_week[0]
    assert signals["by_type"][first.signal_type] >= 1 and signals["by_status"][first.status] >= 1
    assert signals["by_confidence_level"][first.confidence_level] >= 1
    assert body["rejections"] == {
        "total": 1,
        "top_reasons": [{"rule": "liquidity", "reason": "Liquidity 10 is below 1000.", "count": 1}],
    }
    assert body["pass_rate"] == 0.75
    until, since = (timezone.datetime.fromisoformat(body[name]) for name in ("until", "since"))
    assert until - since == timedelta(hours=24)


@pytest.mark.parametrize(("window", "signals", "rejections"), [("24h", 3, 1), ("7d", 4, 4), ("30d", 5, 4)])
def test_named_windows(stats, day_and_week, window, signals, rejections):
    body = stats(f"?window={window}").json()

    assert (body["signals"]["total"], body["rejections"]["total"]) == (signals, rejections)
    assert body["pass_rate"] == round(signals / (signals + rejections), 6)


def test_since_is_inclusive_and_until_exclusive(stats, day_and_week, now):
    since, until = (now - timedelta(hours=hours) for hours in (2, 1))

    body = stats(f"?since={since:%Y-%m-%dT%H:%M:%S.%fZ}&until={until:%Y-%m-%dT%H:%M:%S.%fZ}").json()

    assert body["signals"]["total"] == 1  # two hours ago, not one hour ago
    assert body["rejections"]["total"] == 0
    assert body["since"] == since.isoformat().replace("+00:00", "Z")


def test_until_alone_ends_a_day_long_window(stats, day_and_week, now):
    until = now - timedelta(hours=2)

    body = stats(f"?until={until:%Y-%m-%dT%H:%M:%S.%fZ}").json()

    assert body["signals"]["total"] == 1  # three hours ago; two hours ago is the end, excluded


def test_top_reasons_are_the_ten_most_frequent_rule_and_reason(stats):
    for n in range(12):
        for _ in range(n + 1):
            RejectionFactory(created_at=timezone.now() - timedelta(hours=1), rule=f"rule{n:02}", reason=f"reason {n}")

    reasons = stats().json()["rejections"]["top_reasons"]

    assert [(r["rule"], r["count"]) for r in reasons] == [(f"rule{n:02}", n + 1) for n in range(11, 1, -1)]


def test_nothing_decided_has_no_pass_rate(stats):
    body = stats().json()

    assert body["signals"]["total"] == 0 and body["rejections"] == {"total": 0, "top_reasons": []}
    assert body["pass_rate"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?window=1y", "window"),
        ("?since=yesterday", "since"),
        ("?until=2026-13-01T00:00:00Z", "until"),
        ("?window=7d&since=2026-11-01T00:00:00Z", "window"),
        ("?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", "since"),
        ("?until=0001-01-01T00:00:00Z", "until"),  # a day before it is before the first year
        ("?since=9999-12-31T23:59:59-14:00", "since"),  # past the last representable moment in UTC
    ],
)
def test_a_bad_window_is_a_400_naming_the_field(stats, query, field):
    response = stats(query)

    assert response.status_code == 400
    assert [d["field"] for d in response.json()["details"]] == [field]


def test_stats_cost_three_queries_however_many_rows(day_and_week, view_get, django_assert_num_queries):
    with django_assert_num_queries(3):  # signals grouped; the rejections counted, and grouped by reason
        assert view_get("/api/v1/stats/?window=30d")["signals"]["total"] == 5
