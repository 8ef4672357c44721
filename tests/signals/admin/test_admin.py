"""Admin behaviour that needs no browser: id searches, counting, read-only rows."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from signals.models import Signal
from tests.support.factories import SourceStateFactory
from utilities import admin as admin_helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("load_demo", stdout=StringIO(), stderr=StringIO())
    return Signal.objects.order_by("signal_id").first()


@pytest.mark.parametrize("column", ["signal_id", "trace_id", "input_event_hash", "source_event_id"])
def test_searching_an_exact_id_finds_only_that_signal(admin_client, demo, column):
    response = admin_client.get("/admin/signals/signal/", {"q": getattr(demo, column)})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [demo]


def test_searching_words_matches_titles(admin_client, demo):
    word = "Hormuz"
    response = admin_client.get("/admin/signals/signal/", {"q": word})

    titles = [s.title for s in response.context["cl"].result_list]
    assert titles and all(word in t for t in titles)


def test_list_count_stops_at_the_cap(admin_client, demo, monkeypatch):
    monkeypatch.setattr(admin_helpers, "COUNT_CAP", 3)

    # Sorted by a column: numbered pages, counted (in its own order the list pages by position, uncounted).
    response = admin_client.get("/admin/signals/signal/", {"o": "2"})

    assert Signal.objects.count() > 4
    assert response.context["cl"].paginator.count == 4  # cap + 1: "more than 3"


def test_signals_cannot_be_added_changed_or_deleted(admin_client, demo):
    assert admin_client.get("/admin/signals/signal/add/").status_code == 403
    assert admin_client.post(f"/admin/signals/signal/{demo.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Signal.objects.filter(pk=demo.pk).exists()


def test_source_states_show_an_open_circuit(admin_client):
    SourceStateFactory(source="polymarket", breaker="open", consecutive_failures=5, opened_at=timezone.now())

    response = admin_client.get("/admin/signals/sourcestate/")

    assert response.status_code == 200
    assert "circuit open" in response.content.decode()
