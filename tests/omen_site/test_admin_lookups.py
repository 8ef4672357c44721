"""Every admin list refuses, as a bad filter, what its query string asks the database cannot answer.

Django's admin takes a lookup on any of a list's fields from its query string (``?title__regex=``,
``?generated_at__year__gt=``), beside the filters the page offers. Some of them the database, or
Django building the query, fails on: each was a 500. Now each sends the list to ``?e=1``, as a
lookup on a field that does not exist does.
"""

import pytest
from django_celery_beat.models import PeriodicTask

from ledger.models import LedgerPartition
from omen_site.api.access_log import ApiAccessLogEntry
from signals.models import Signal
from tests.omen_site.admin_rows import a_row_of, admin_url
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db

REFUSED = [
    # A regular expression the database cannot compile (and one it can, written to be slow).
    (Signal, {"title__iregex": "[z-a]"}),
    (Signal, {"signal_id__regex": "(("}),
    (PeriodicTask, {"name__regex": "(("}),
    # A year no date holds, compared or by ISO week: Django computes the year's bounds in Python.
    (Signal, {"generated_at__year__gt": "99999"}),
    (Signal, {"generated_at__year__lte": "10000"}),
    (Signal, {"generated_at__iso_year": "0"}),
    (Signal, {"observed_at__iso_year__gte": "99999999999"}),
    # The date drill-down's last year: Django computes the period's end, past year 9999.
    (Signal, {"generated_at__year": "9999"}),
    (Signal, {"generated_at__year": "9999", "generated_at__month": "12"}),
    (ApiAccessLogEntry, {"created_at__year": "9999", "created_at__month": "12", "created_at__day": "31"}),
    (LedgerPartition, {"day__year": "9999"}),
    # The drill-down's month or day past a C long: Django's datetime() raised OverflowError.
    (Signal, {"generated_at__year": "2026", "generated_at__month": "99999999999999999999"}),
    (LedgerPartition, {"day__year": "2026", "day__month": "1", "day__day": "-99999999999999999999"}),
    # An id past 64 bits, on a foreign key (SQLite's driver raised OverflowError).
    (Signal, {"event_id": "9223372036854775808"}),
    (Signal, {"event__in": "1,9223372036854775808"}),
    # A range: Django reads its value character by character, the first two the bounds (one
    # character was an IndexError; "ab" on a text column filtered from "a" to "b").
    (Signal, {"probability__range": "1"}),
    (Signal, {"title__range": "ab"}),
    (PeriodicTask, {"name__range": "a"}),
]


def named(value) -> str:
    return value._meta.label if hasattr(value, "_meta") else "&".join(f"{name}={text}" for name, text in value.items())


@pytest.mark.parametrize(("model", "query"), REFUSED, ids=named)
def test_a_filter_the_database_cannot_answer_is_a_bad_filter_not_an_error(admin_client, model, query):
    a_row_of(model)

    listed = admin_client.get(admin_url(model, "changelist"), query)

    assert (listed.status_code, listed["Location"]) == (302, f"{admin_url(model, 'changelist')}?e=1")


@pytest.mark.parametrize(
    "query", [{"signal_id__regex": "(("}, {"generated_at__year": "9999"}, {"probability__range": "1"}]
)
def test_the_signal_exports_refuse_them_alike(admin_client, query):
    SignalFactory()

    exported = admin_client.get("/admin/signals/signal/export.csv", query)

    assert (exported.status_code, exported["Location"]) == (302, "/admin/signals/signal/?e=1")


@pytest.mark.parametrize(
    "query",
    [
        {"generated_at__year": "2026", "generated_at__month": "11"},
        {"generated_at__year__gte": "2026"},
        {"event__id__exact": "{event}"},
        {"event__in": "{event},9223372036854775807"},
        {"source__exact": "polymarket"},
        {"probability__gte": "0.3"},
        {"title__icontains": "red sea"},
    ],
)
def test_the_filters_it_can_answer_still_filter(admin_client, query):
    signal = SignalFactory()

    query = {name: value.format(event=signal.event_id) for name, value in query.items()}

    listed = admin_client.get("/admin/signals/signal/", {**query, "o": "1"})

    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [signal]
