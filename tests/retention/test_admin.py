"""Retention in the admin: legal holds released, never deleted, and who released them on record."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from retention.models import LegalHold
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db


def test_releasing_holds_records_who_and_when_on_the_hold_and_in_the_change_log(admin_client, admin_user):
    held, released_before = (
        LegalHold.objects.create(source=source, reason="litigation") for source in ("yahoo", "newsapi")
    )
    LegalHold.objects.filter(pk=released_before.pk).update(released_at="2026-01-01T00:00:00Z")

    admin_client.post(
        "/admin/retention/legalhold/", {"action": "release", "_selected_action": [held.pk, released_before.pk]}
    )

    held.refresh_from_db()
    assert held.released_by == admin_user and held.released_at is not None
    # The admin's change log is the audit trail (the audit_trail policy): the hold's history page
    # shows the release. A hold released before is not released again.
    (entry,) = LogEntry.objects.filter(content_type__model="legalhold")
    assert (entry.object_id, entry.user, entry.action_flag) == (str(held.pk), admin_user, CHANGE)
    assert entry.get_change_message() == "Released."


def test_the_hold_list_costs_the_same_queries_whatever_each_hold_names(admin_client, django_user_model):
    def listed_with(holds: int) -> int:
        for number in range(LegalHold.objects.count(), holds):
            user = django_user_model.objects.create_user(f"operator-{number}")
            LegalHold.objects.create(source_event=SignalFactory().event, reason="litigation", set_by=user)
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/retention/legalhold/").status_code == 200
        return len(captured)

    # set_by and source_event may be null, so Django's own select_related() left them out: two
    # queries per row (its target names the source event, its "set by" the user).
    assert listed_with(2) == listed_with(12)


def hold(admin_client, signal_id: str):
    return admin_client.post("/admin/retention/legalhold/add/", {"signal_id": signal_id, "reason": "litigation"})


def test_a_hold_on_a_signal_id_omen_never_issued_is_refused_naming_it(admin_client):
    signal = SignalFactory()

    # The sweep compares ids exactly: a mistyped one (or one in lower case) held nothing, silently,
    # and the signal meant went at its 90 days.
    for typed in ("OMEN-000000000000", signal.signal_id.lower()):
        refused = hold(admin_client, typed)
        assert refused.status_code == 200
        assert f"No signal {typed} in the database or the ledger" in refused.content.decode()
    assert not LegalHold.objects.exists()

    assert hold(admin_client, f"  {signal.signal_id} ").status_code == 302
    assert LegalHold.objects.get().signal_id == signal.signal_id


def test_a_hold_on_a_signal_only_the_ledger_holds_now_is_taken(admin_client):
    from ledger.services.writer import ledger_drain
    from signals.models import Signal

    signal = SignalFactory()
    ledger_drain()
    Signal.objects.filter(pk=signal.pk).delete()  # swept to its archive, say: its frames stay (the ledger policy)

    assert hold(admin_client, signal.signal_id).status_code == 302
