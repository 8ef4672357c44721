"""``/api/v1/webhooks/``: subscriptions through the API, their secret shown once, resume and attempts."""

import pytest

from ledger.models import WebhookAttempt, WebhookSubscription
from ledger.services import webhooks, writer
from ledger.wal import read_frames
from omen_site.api.keys import ApiKey
from tests.support.factories import SignalFactory
from tests.support.saves import meanwhile_before_the_next_update
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(client):
    _, raw = ApiKey.issue("operator", ["admin"])
    client.defaults["HTTP_X_API_KEY"] = raw
    return client


@pytest.fixture
def receiver():
    started = WebhookReceiver().start()
    yield started
    started.stop()


def test_a_new_subscription_starts_at_the_ledger_end_and_its_secret_is_shown_once(admin_api):
    SignalFactory.create_batch(3)
    writer.ledger_drain()

    created = admin_api.post(
        "/api/v1/webhooks/",
        {"name": "risk desk", "url": "https://risk.example/hook", "sources": ["polymarket"], "min_probability": 0.6},
        content_type="application/json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert len(body["secret"]) >= 32 and body["cursor"] == 3 and body["paused"] is False
    shown = admin_api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in shown and shown["sources"] == ["polymarket"]
    assert WebhookSubscription.objects.get().secret == body["secret"]


def test_a_secret_given_is_kept_byte_for_byte(admin_api):
    secret = "  padded-secret-0123456789\t"

    created = admin_api.post(
        "/api/v1/webhooks/",
        {"name": "s", "url": "https://risk.example/hook", "secret": secret},
        content_type="application/json",
    )

    assert created.status_code == 201, created.content
    assert WebhookSubscription.objects.get().secret == secret


def test_a_paused_subscription_is_resumed_and_its_attempts_listed_newest_first(admin_api):
    subscription = WebhookSubscription.objects.create(name="s", url="http://127.0.0.1:9/", secret="x" * 20)
    subscription.paused_at, subscription.pause_reason = subscription.created_at, "down"
    subscription.save()
    for attempt in (1, 2):
        WebhookAttempt.objects.create(
            subscription=subscription, position=1, signal_id="OMEN-1", attempt=attempt, outcome="retry"
        )

    resumed = admin_api.post(f"/api/v1/webhooks/{subscription.pk}/resume/")
    attempts = admin_api.get(f"/api/v1/webhooks/{subscription.pk}/attempts/").json()

    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert [a["attempt"] for a in attempts["results"]] == [2, 1]


def test_an_edit_keeps_what_a_delivery_wrote_meanwhile(admin_api, receiver):
    SignalFactory.create_batch(2)
    writer.ledger_drain()
    subscription = WebhookSubscription.objects.create(name="s", url=receiver.url, secret="x" * 20)

    def a_worker_delivers_then_the_next_one_claims():
        webhooks.subscription_deliver(subscription.pk)
        assert webhooks._claim(subscription.pk, "the-next-worker")

    with meanwhile_before_the_next_update(WebhookSubscription, a_worker_delivers_then_the_next_one_claims):
        edited = admin_api.patch(
            f"/api/v1/webhooks/{subscription.pk}/",
            {"name": "risk desk", "min_probability": 0.5},
            content_type="application/json",
        )

    assert edited.status_code == 200, edited.content
    subscription.refresh_from_db()
    assert (subscription.name, subscription.min_probability) == ("risk desk", 0.5)
    # Put back as the edit read them, the cursor would send both signals again, and the claim's
    # loss would let a second worker deliver beside the next one.
    assert (subscription.cursor, subscription.delivered, subscription.delivering_token) == (2, 2, "the-next-worker")
    assert len(receiver.received) == 2


def test_an_edit_of_a_subscription_deleted_meanwhile_is_a_404_and_does_not_make_it_again(admin_api):
    subscription = WebhookSubscription.objects.create(name="s", url="https://example.com/hook", secret="x" * 20)

    with meanwhile_before_the_next_update(WebhookSubscription, lambda: subscription.delete()):
        edited = admin_api.patch(
            f"/api/v1/webhooks/{subscription.pk}/", {"name": "risk desk"}, content_type="application/json"
        )

    assert edited.status_code == 404, edited.content
    assert edited.json()["error"] == "not_found"
    assert "deleted while it was being edited" in edited.json()["message"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://x.example:99999/h"}, "url"),  # five digits, no port
        ({"url": "https://x.example:0/h"}, "url"),
        ({"sources": ["nowhere"]}, "sources.0"),
        ({"min_probability": 2}, "min_probability"),
        ({"secret": "short"}, "secret"),
    ],
)
def test_a_bad_subscription_is_a_400_naming_the_field(admin_api, change, field):
    reply = admin_api.post(
        "/api/v1/webhooks/", {"name": "s", "url": "https://x.example/h", **change}, content_type="application/json"
    )
    assert reply.status_code == 400
    assert field in [d["field"] for d in reply.json()["details"]]


def test_a_subscription_to_an_internal_address_is_a_400_naming_the_url(admin_api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    reply = admin_api.post(
        "/api/v1/webhooks/",
        {"name": "s", "url": "http://169.254.169.254/latest/meta-data/"},
        content_type="application/json",
    )

    assert reply.status_code == 400
    (detail,) = reply.json()["details"]
    assert detail["field"] == "url" and "169.254.169.254" in detail["message"]
    assert not WebhookSubscription.objects.exists()


def test_reading_subscriptions_needs_the_admin_scope(client):
    _, raw = ApiKey.issue("consumer", ["read:ledger", "read:signals"])
    assert client.get("/api/v1/webhooks/", HTTP_X_API_KEY=raw).status_code == 403


@pytest.mark.parametrize("rows", [2, 6])
def test_the_lists_cost_the_same_queries_whatever_their_rows(view_get, django_assert_num_queries, rows):
    subscription = None
    for number in range(rows):
        subscription = WebhookSubscription.objects.create(name=f"s{number}", url="https://x.example/h", secret="x" * 20)
        WebhookAttempt.objects.create(
            subscription=subscription, position=number, signal_id="OMEN-1", attempt=1, outcome="delivered"
        )

    with django_assert_num_queries(1):
        assert len(view_get("/api/v1/webhooks/")["results"]) == rows
    with django_assert_num_queries(2):  # the subscription, then its page of attempts
        assert len(view_get(f"/api/v1/webhooks/{subscription.pk}/attempts/")["results"]) == 1


def test_a_subscription_asked_for_while_the_ledger_cannot_say_where_it_ends_is_a_503_and_not_made(
    admin_api, ledger_dir
):
    """Its cursor is the ledger's end: a damaged ledger (here a frame cut out) made this a 500."""
    SignalFactory.create_batch(3)
    writer.ledger_drain()
    (segment,) = ledger_dir.glob("*/signals-001.wal")
    frames = read_frames(segment.read_bytes()).frames
    data = segment.read_bytes()
    segment.write_bytes(data[: frames[1].offset] + data[frames[2].offset :])

    reply = admin_api.post(
        "/api/v1/webhooks/", {"name": "s", "url": "https://risk.example/hook"}, content_type="application/json"
    )

    assert reply.status_code == 503, reply.content
    assert reply.json()["error"] == "ledger_damaged" and "frame 2 carries sequence" in reply.json()["message"]
    assert not WebhookSubscription.objects.exists()
