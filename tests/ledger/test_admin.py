"""Operators see the ledger's partitions, its end and its backlog in the admin, read-only."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from ledger.models import LedgerOutbox, Operation, Tier
from ledger.services.seal import partition_seal
from ledger.services.writer import ledger_drain
from signals.public import signals_delete_announced
from signals.services.ingest import signals_ingest
from tests.support.factories import LedgerOutboxFactory, LedgerPartitionFactory, RawEventFactory, SignalFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_a_sealed_partition_and_the_writers_end_are_listed(admin_client):
    signals_ingest(records=RawEventFactory.build_batch(3))
    ledger_drain(now=DAY)  # in this test's transaction: on_commit never fires
    partition_seal("2026-11-20", now=DAY + timedelta(days=1))

    partitions = admin_client.get("/admin/ledger/ledgerpartition/")
    writer = admin_client.get("/admin/ledger/ledgerwriterstate/")

    assert partitions.status_code == writer.status_code == 200
    assert "2026-11-20" in partitions.content.decode() and "signals-001.wal" in writer.content.decode()
    assert admin_client.get("/admin/ledger/ledgerpartition/add/").status_code == 403


def test_the_outbox_backlog_is_listed(admin_client):
    signals_ingest(records=RawEventFactory.build_batch(2))  # not drained: the commit never happens here

    response = admin_client.get("/admin/ledger/ledgeroutbox/")

    assert response.status_code == 200
    assert response.content.decode().count("OMEN-") >= 2


@pytest.mark.parametrize("tier", [Tier.COLD, Tier.LONG_TERM, Tier.PURGED])
def test_partitions_are_filtered_by_tier(admin_client, tier):
    LedgerPartitionFactory(day=DAY.date(), tier=Tier.HOT)
    LedgerPartitionFactory(day=(DAY - timedelta(days=40)).date(), tier=tier)

    page = admin_client.get("/admin/ledger/ledgerpartition/", {"tier": tier}).content.decode()

    assert "2026-10-11" in page and "2026-11-20" not in page
    assert tier.label in page  # the filter offers it


def test_a_waiting_save_is_found_by_its_exact_signal_id(admin_client):
    wanted = LedgerOutboxFactory(operation=Operation.DELETE)
    other = LedgerOutboxFactory()

    page = admin_client.get("/admin/ledger/ledgeroutbox/", {"q": wanted.signal_id}).content.decode()

    assert wanted.signal_id in page and other.signal_id not in page


def test_a_delete_waiting_in_a_bulk_row_is_found_by_its_signal_id_whatever_its_place(admin_client):
    gone = SignalFactory.create_batch(3)
    other = SignalFactory()
    signals_delete_announced([signal.pk for signal in gone])  # in the test's transaction: not drained
    (bulk,) = LedgerOutbox.objects.filter(saves=3)

    for signal in gone:
        page = admin_client.get("/admin/ledger/ledgeroutbox/", {"q": signal.signal_id}).content.decode()
        assert f"/admin/ledger/ledgeroutbox/{bulk.pk}/change/" in page, signal.signal_id
    page = admin_client.get("/admin/ledger/ledgeroutbox/", {"q": other.signal_id}).content.decode()
    assert f"/admin/ledger/ledgeroutbox/{bulk.pk}/change/" not in page


def test_the_admin_keeps_a_webhook_secret_as_typed_and_refuses_a_url_no_delivery_can_post_to(admin_client):
    from ledger.models import WebhookSubscription

    def add(url, secret):
        return admin_client.post(
            "/admin/ledger/webhooksubscription/add/",
            {"name": "desk", "url": url, "secret": secret, "active": "on"},
        )  # fmt: skip

    refused = add("ftp://risk.example/hook", "s" * 32)
    added = add("https://risk.example/hook", "  a secret with spaces around it  ")

    assert refused.status_code == 200 and "Enter a valid URL." in refused.content.decode()
    assert added.status_code == 302
    assert WebhookSubscription.objects.get().secret == "  a secret with spaces around it  "


def test_an_operators_edit_keeps_the_cursor_and_the_pause_a_delivery_wrote_meanwhile(admin_client):
    from ledger.models import WebhookSubscription
    from ledger.services import webhooks
    from tests.support.saves import meanwhile_before_the_next_update
    from tests.support.webhook_receiver import WebhookReceiver

    signals_ingest(records=RawEventFactory.build_batch(2))
    ledger_drain(now=DAY)
    receiver = WebhookReceiver([200, 410]).start()  # the first delivered, the second refused: paused
    subscription = WebhookSubscription.objects.create(name="desk", url=receiver.url, secret="s" * 32)
    try:
        with meanwhile_before_the_next_update(
            WebhookSubscription, lambda: webhooks.subscription_deliver(subscription.pk)
        ):
            edited = admin_client.post(
                f"/admin/ledger/webhooksubscription/{subscription.pk}/change/",
                {"name": "risk desk", "url": receiver.url, "active": "on", "min_probability": "0.5"},
            )  # fmt: skip
    finally:
        receiver.stop()

    assert edited.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.name, subscription.min_probability) == ("risk desk", 0.5)
    # The form read the row before the delivery: saving all of it would unpause the subscription
    # and move its cursor back, to send the first signal again.
    assert (subscription.cursor, subscription.delivered) == (1, 1)
    assert subscription.paused and "answered 410" in subscription.pause_reason


def test_an_operators_edit_of_a_subscription_deleted_meanwhile_is_a_404(admin_client):
    from ledger.models import WebhookSubscription
    from tests.support.saves import meanwhile_before_the_next_update

    subscription = WebhookSubscription.objects.create(name="desk", url="https://example.com/hook", secret="s" * 32)
    with meanwhile_before_the_next_update(WebhookSubscription, lambda: WebhookSubscription.objects.all().delete()):
        edited = admin_client.post(
            f"/admin/ledger/webhooksubscription/{subscription.pk}/change/",
            {"name": "risk desk", "url": "https://example.com/hook", "active": "on"},
        )  # fmt: skip

    # A 404, not the 500 of a save that found no row. (The admin's transaction rolls back, and in this
    # one-transaction test the delete with it: that the row is not made again is the API test's.)
    assert edited.status_code == 404


def test_an_operator_adds_a_webhook_from_the_ledger_end_and_resumes_a_paused_one(admin_client):
    from ledger.models import WebhookAttempt, WebhookSubscription

    signals_ingest(records=RawEventFactory.build_batch(2))
    ledger_drain(now=DAY)
    form = admin_client.get("/admin/ledger/webhooksubscription/add/").content.decode()
    assert 'name="secret"' in form  # offered a fresh secret

    added = admin_client.post(
        "/admin/ledger/webhooksubscription/add/",
        {"name": "risk desk", "url": "https://risk.example/hook", "secret": "s" * 32, "active": "on"},
    )  # fmt: skip
    subscription = WebhookSubscription.objects.get()
    assert added.status_code == 302 and subscription.cursor == 2  # from now on
    WebhookSubscription.objects.update(paused_at=DAY, pause_reason="answered 503 five times")
    WebhookAttempt.objects.create(
        subscription=subscription, position=3, signal_id="OMEN-X", attempt=5, outcome="failed"
    )

    listed = admin_client.get("/admin/ledger/webhooksubscription/").content.decode()
    page = admin_client.get(f"/admin/ledger/webhooksubscription/{subscription.pk}/change/").content.decode()
    admin_client.post("/admin/ledger/webhooksubscription/", {"action": "resume", "_selected_action": [subscription.pk]})

    assert "paused" in listed and "answered 503 five times" in listed
    assert "OMEN-X" in page  # its recent attempts
    assert 'name="secret"' not in page and "s" * 32 not in page  # shown when made, never again
    assert WebhookSubscription.objects.get().paused_at is None
    (resumed,) = LogEntry.objects.filter(content_type__model="webhooksubscription", action_flag=CHANGE)
    assert (resumed.object_id, resumed.get_change_message()) == (str(subscription.pk), "Resumed.")


def test_a_webhook_added_while_the_ledger_cannot_say_where_it_ends_is_refused_on_the_form(admin_client, ledger_dir):
    """Its cursor is the ledger's end: a damaged ledger (here a frame cut out) made the add a 500."""
    from ledger.models import WebhookSubscription
    from ledger.wal import read_frames

    signals_ingest(records=RawEventFactory.build_batch(3))
    ledger_drain(now=DAY)
    (segment,) = ledger_dir.glob("*/signals-001.wal")
    data = segment.read_bytes()
    frames = read_frames(data).frames
    segment.write_bytes(data[: frames[1].offset] + data[frames[2].offset :])

    refused = admin_client.post(
        "/admin/ledger/webhooksubscription/add/",
        {"name": "risk desk", "url": "https://risk.example/hook", "secret": "s" * 32, "active": "on"},
    )

    assert refused.status_code == 200
    assert "The ledger cannot say where it ends" in refused.content.decode()
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("field", "typed", "error"),
    [
        # What the API refuses the admin refuses too. Typed as JSON, a number was stored and made
        # every delivery raise, a string matched by substring, a misspelt choice never matched,
        # and null was a 500 (the column is NOT NULL).
        ("sources", "5", "Select a valid choice. 5 is not one of the available choices."),
        ("sources", '"polymarket"', "Select a valid choice."),
        ("statuses", "ACTIVEE", "Select a valid choice. ACTIVEE is not one of the available choices."),
        ("categories", "null", "Select a valid choice. null is not one of the available choices."),
        ("min_probability", "1.5", "Ensure this value is less than or equal to 1."),
        ("min_confidence", "-0.1", "Ensure this value is greater than or equal to 0."),
        ("secret", "short", "Ensure this value has at least 16 characters (it has 5)."),
    ],
)
def test_the_admin_refuses_webhook_filters_and_secrets_the_api_refuses(admin_client, field, typed, error):
    from ledger.models import WebhookSubscription

    form = {"name": "desk", "url": "https://risk.example/hook", "secret": "s" * 32, "active": "on"}
    added = admin_client.post("/admin/ledger/webhooksubscription/add/", {**form, field: typed})

    assert added.status_code == 200
    assert error in added.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_the_admin_offers_each_filter_as_choices_and_stores_a_list_delivery_reads(admin_client):
    from ledger.models import WebhookSubscription
    from ledger.services import webhooks
    from tests.support.factories import SignalFactory

    form = admin_client.get("/admin/ledger/webhooksubscription/add/").content.decode()
    added = admin_client.post(
        "/admin/ledger/webhooksubscription/add/",
        {"name": "desk", "url": "https://risk.example/hook", "secret": "s" * 32, "active": "on",
         "sources": ["polymarket", "yahoo"], "min_probability": "0.25"},
    )  # fmt: skip

    assert 'type="checkbox" name="sources" value="polymarket"' in form
    assert added.status_code == 302
    subscription = WebhookSubscription.objects.get()
    assert (subscription.sources, subscription.statuses, subscription.min_probability) == (
        ["polymarket", "yahoo"],
        [],
        0.25,
    )
    assert webhooks.subscription_matches(subscription, SignalFactory())
    edited = admin_client.post(
        f"/admin/ledger/webhooksubscription/{subscription.pk}/change/",
        {"name": "desk", "url": "https://risk.example/hook", "active": "on", "sources": ["yahoo"]},
    )
    assert edited.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.sources, subscription.min_probability) == (["yahoo"], None)
    assert not webhooks.subscription_matches(subscription, SignalFactory())
