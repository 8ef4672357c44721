"""Operators tune relevance in the admin, without a deploy (issue 10, point 4)."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from signals.models import RelevanceTerm, Signal
from signals.services.ingest import signals_ingest
from tests.support.factories import FixedEventFactory

pytestmark = pytest.mark.django_db


def add_term(admin_client, **fields):
    data = {"term": "", "kind": "watch", "category": "", "weight": "1.0", "enabled": "on", "note": "", **fields}
    return admin_client.post("/admin/signals/relevanceterm/add/", data)


def test_adding_a_watch_term_changes_the_ruleset_version_of_new_signals_not_of_old_ones(admin_client):
    first = FixedEventFactory()
    signals_ingest(records=[first])
    old = Signal.objects.get()

    response = add_term(admin_client, term="Houthi drone(s)", category="geopolitical", weight="1.5")
    assert response.status_code == 302, response.content.decode()[:2000]
    later = replace(first, probability=first.probability + 0.01, observed_at=first.observed_at + timedelta(hours=1))
    signals_ingest(records=[later])

    new = Signal.objects.exclude(pk=old.pk).get()
    old.refresh_from_db()
    assert new.ruleset_version != old.ruleset_version
    assert new.ruleset_version.split("+")[0] == old.ruleset_version.split("+")[0]
    assert new.contract["ruleset_version"] == new.ruleset_version
    assert old.contract["ruleset_version"] == old.ruleset_version  # untouched
    term = RelevanceTerm.objects.get()
    assert (term.term, term.updated_by.username) == ("houthi drone(s)", "admin")


def test_a_disabled_term_leaves_the_version_as_the_built_in_vocabulary_gives_it(admin_client):
    signals_ingest(records=[FixedEventFactory()])
    built_in = Signal.objects.get().ruleset_version
    add_term(admin_client, term="cobalt", category="energy", enabled="")

    event = FixedEventFactory(external_id="2002", event_id="polymarket-2002")
    signals_ingest(records=[event])

    assert set(Signal.objects.values_list("ruleset_version", flat=True)) == {built_in}


def test_a_watch_term_needs_a_category_and_the_error_names_it(admin_client):
    response = add_term(admin_client, term="cobalt")

    assert response.status_code == 200
    assert "A watch term needs the risk category it counts for." in response.content.decode()
    assert not RelevanceTerm.objects.exists()


@pytest.mark.parametrize(
    ("term", "named"),
    [("hor\u200bmuz", "U+200B"), ("ho\u00adrmuz", "U+00AD"), ("\u2066hormuz\u2069", "U+2066, U+2069")],
    ids=["zero-width-space", "soft-hyphen", "bidi-isolates"],
)
def test_a_term_holding_an_invisible_character_is_refused_naming_it(admin_client, term, named):
    """Pasted from a web page, "hor<U+200B>muz" was saved looking like "hormuz" in every list and
    matched no title: no signal ever counted it, and nothing said why."""
    response = add_term(admin_client, term=term, category="geopolitical")

    assert response.status_code == 200
    assert f"(it has {named})" in response.content.decode()
    assert not RelevanceTerm.objects.exists()


def test_the_term_list_shows_the_ruleset_version_new_signals_record(admin_client):
    add_term(admin_client, term="cobalt", category="energy")

    response = admin_client.get("/admin/signals/relevanceterm/")

    assert response.status_code == 200
    assert "New signals record ruleset version 2026.12.0+" in response.content.decode()


def test_the_term_list_costs_the_same_queries_whoever_changed_each_term(admin_client, django_user_model):
    def listed_with(terms: int) -> int:
        for number in range(RelevanceTerm.objects.count(), terms):
            user = django_user_model.objects.create_user(f"operator-{number}")
            RelevanceTerm.objects.create(term=f"term {number}", category="disruption", updated_by=user)
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/signals/relevanceterm/").status_code == 200
        return len(captured)

    # updated_by may be null, so Django's own select_related() left it out: a query per row.
    assert listed_with(2) == listed_with(12)
