"""Webhook delivery from the ledger feed, against a real local HTTP receiver (issue 11)."""

import hashlib
import hmac
import json
import logging
import math
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F
from django.utils import timezone

from ledger import webhook_targets
from ledger.checks import check_webhook_lock
from ledger.models import WebhookAttempt, WebhookSubscription
from ledger.services import webhooks, writer
from tests.support.factories import NewsEventFactory, RawEventFactory, SignalFactory
from tests.support.processes import free_port
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

SECRET = "a-subscriber-secret-of-some-length"


@pytest.fixture
def receiver():
    started = WebhookReceiver().start()
    yield started
    started.stop()


def framed(*events) -> list[str]:
    signals = [SignalFactory(raw_event=event) for event in events]
    writer.ledger_drain()
    return [s.signal_id for s in signals]


def subscribe(url, **filters) -> WebhookSubscription:
    return WebhookSubscription.objects.create(name="downstream", url=url, secret=SECRET, **filters)


def no_sleep(seconds):
    no_sleep.waits.append(seconds)


def test_each_matching_new_signal_is_posted_once_signed_with_its_idempotency_key(receiver):
    ids = framed(RawEventFactory(source="polymarket"), NewsEventFactory(), RawEventFactory(source="polymarket"))
    subscription = subscribe(receiver.url, sources=["polymarket"])

    run = webhooks.subscription_deliver(subscription.pk)

    assert (run.delivered, run.passed_over, run.paused) == (2, 1, False)
    assert [r.headers["X-Idempotency-Key"] for r in receiver.received] == [ids[0], ids[2]]
    for received in receiver.received:
        expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
        assert received.headers["X-OMEN-Signature"] == expected
        body = json.loads(received.body)
        assert body["event"] == "signal.created" and body["signal"]["signal_id"] == body["signal_id"]
    subscription.refresh_from_db()
    assert (subscription.cursor, subscription.delivered) == (3, 2)

    assert webhooks.subscription_deliver(subscription.pk).delivered == 0  # nothing twice
    assert len(receiver.received) == 2


def test_a_500_then_a_200_delivers_once_after_one_recorded_retry(receiver):
    receiver.answers = [500, 200]
    (signal_id,) = framed(RawEventFactory())
    subscription = subscribe(receiver.url)
    no_sleep.waits = []

    webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    assert [r.answered for r in receiver.received] == [500, 200]
    assert {r.headers["X-Idempotency-Key"] for r in receiver.received} == {signal_id}
    assert receiver.received[0].body == receiver.received[1].body  # the same bytes on every try
    attempts = list(WebhookAttempt.objects.order_by("id").values_list("attempt", "status_code", "outcome"))
    assert attempts == [(1, 500, "retry"), (2, 200, "delivered")]
    assert no_sleep.waits == [0.1]


def test_a_receiver_down_for_the_whole_retry_window_pauses_the_subscription_then_resume_delivers(receiver):
    (signal_id,) = framed(RawEventFactory())
    subscription = subscribe(f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
    no_sleep.waits = []

    run = webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    subscription.refresh_from_db()
    assert run.paused and subscription.paused
    assert signal_id in subscription.pause_reason and "5 tries" in subscription.pause_reason
    assert subscription.cursor == 0  # the frame waits for the subscriber
    assert list(WebhookAttempt.objects.order_by("id").values_list("outcome", flat=True)) == ["retry"] * 4 + ["failed"]
    assert no_sleep.waits == [0.1, 0.2, 0.4, 0.8]
    assert webhooks.subscriptions_due() == []  # paused: not dispatched

    WebhookSubscription.objects.filter(pk=subscription.pk).update(url=receiver.url)
    webhooks.subscription_resume(subscription)
    assert webhooks.subscriptions_due() == [subscription.pk]
    assert webhooks.subscription_deliver(subscription.pk).delivered == 1
    assert [r.headers["X-Idempotency-Key"] for r in receiver.received] == [signal_id]


def test_a_refusal_that_a_retry_cannot_change_pauses_at_once(receiver):
    receiver.answers = [410]
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)

    webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    subscription.refresh_from_db()
    assert subscription.paused and "answered 410" in subscription.pause_reason
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    ("retry_after", "waits"),
    [(None, [0.1, 0.2, 0.4, 0.8]), ("3", [3.0, 3.0, 3.0, 3.0]), ("60", [10.0, 10.0, 10.0, 10.0])],
)
def test_waits_double_from_100_ms_and_honour_retry_after_up_to_ten_seconds(receiver, retry_after, waits):
    receiver.answers = [503, 429, 503, 503, 200]
    receiver.retry_after = retry_after
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)
    no_sleep.waits = []

    webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    assert no_sleep.waits == waits
    assert receiver.received[-1].answered == 200


@pytest.mark.parametrize("answers", [[200], [503, 200]])
def test_a_retry_after_that_is_no_number_is_passed_over(receiver, answers):
    receiver.answers = list(answers)  # the receiver takes them off its own list
    receiver.headers = {"Retry-After": "\u00b2"}  # "²": str.isdigit() says yes, float() says no
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)
    no_sleep.waits = []

    run = webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    assert run.delivered == 1 and no_sleep.waits == [0.1] * (len(answers) - 1)
    assert list(WebhookAttempt.objects.order_by("id").values_list("outcome", flat=True))[-1] == "delivered"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), (" 7 ", 7.0), ("\u00b2", None), ("-1", None), ("1.5", None), ("soon", None), ("", None)],
)
def test_retry_after_is_seconds_or_an_http_date_and_nothing_else(value, seconds):
    assert webhooks._retry_after(value) == seconds


def test_retry_after_as_an_http_date_is_the_time_until_it():
    from email.utils import format_datetime

    from django.utils import timezone

    in_a_minute = timezone.now() + timedelta(seconds=60)
    assert 55 <= webhooks._retry_after(format_datetime(in_a_minute, usegmt=True)) <= 60
    assert 55 <= webhooks._retry_after(in_a_minute.strftime("%a %b %d %H:%M:%S %Y")) <= 60  # asctime: GMT
    assert webhooks._retry_after(format_datetime(timezone.now() - timedelta(hours=1), usegmt=True)) == 0.0


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout_and_retried(receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.trickle = 0.05  # the head, about 100 bytes, over some 5 s: every read within the timeout
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)

    run = webhooks.subscription_deliver(subscription.pk, sleep=lambda seconds: None)

    attempts = list(WebhookAttempt.objects.order_by("id").values_list("outcome", "duration_ms", "error"))
    assert run.paused and len(attempts) == webhooks.TRIES
    assert all("Timeout" in error and duration_ms < 1500 for _, duration_ms, error in attempts), attempts


def test_an_answers_body_that_never_comes_costs_no_more_than_the_timeout_and_the_status_counts(receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.announced_body = 10**9  # announced, never sent
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)

    run = webhooks.subscription_deliver(subscription.pk)

    assert run.delivered == 1
    (duration_ms,) = WebhookAttempt.objects.values_list("duration_ms", flat=True)
    assert duration_ms < 1500


def test_signals_in_a_row_go_over_one_connection(receiver):
    framed(RawEventFactory(), RawEventFactory(), RawEventFactory())
    subscription = subscribe(receiver.url)

    assert webhooks.subscription_deliver(subscription.pk).delivered == 3
    assert len({received.peer for received in receiver.received}) == 1


def test_a_worker_whose_claim_was_taken_over_stops_and_never_moves_the_cursor(receiver):
    receiver.answers = [503, 200]
    framed(RawEventFactory(), RawEventFactory())
    subscription = subscribe(receiver.url)

    def stalled_past_the_lock(seconds):
        # Meanwhile the claim went stale and another worker took it.
        WebhookSubscription.objects.filter(pk=subscription.pk).update(delivering_token="the-other-worker")

    webhooks.subscription_deliver(subscription.pk, sleep=stalled_past_the_lock)

    subscription.refresh_from_db()
    assert (subscription.cursor, subscription.delivered, subscription.delivering_token) == (0, 0, "the-other-worker")
    assert len({r.headers["X-Idempotency-Key"] for r in receiver.received}) == 1  # not the second frame


def test_a_worker_whose_claim_was_taken_over_does_not_pause_the_subscription(receiver):
    receiver.answers = [503]
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)

    def stalled_past_the_lock(seconds):
        WebhookSubscription.objects.filter(pk=subscription.pk).update(delivering_token="the-other-worker")

    run = webhooks.subscription_deliver(subscription.pk, sleep=stalled_past_the_lock)

    subscription.refresh_from_db()
    assert not subscription.paused and not run.paused


def test_a_worker_whose_claim_was_taken_over_while_it_waited_to_retry_sends_no_further_try(receiver, settings, caplog):
    receiver.answers = [503, 200]
    (signal_id,) = framed(RawEventFactory())
    subscription = subscribe(receiver.url)

    def stalled_past_the_lock(seconds):
        # The claim went stale (not renewed for the lock's length), and another worker took it.
        stale = timezone.now() - timedelta(seconds=settings.WEBHOOK_LOCK_SECONDS + 1)
        WebhookSubscription.objects.filter(pk=subscription.pk).update(delivering_since=stale)
        assert webhooks._claim(subscription.pk, "the-other-worker")

    with caplog.at_level(logging.WARNING, logger="ledger.services.webhooks"):
        run = webhooks.subscription_deliver(subscription.pk, sleep=stalled_past_the_lock)

    # The try before the wait, and none beside the worker that now delivers the signal.
    assert [r.headers["X-Idempotency-Key"] for r in receiver.received] == [signal_id]
    assert list(WebhookAttempt.objects.values_list("attempt", "outcome")) == [(1, "retry")]
    assert run.taken_over and (run.delivered, run.paused, run.deleted) == (0, False, False)
    subscription.refresh_from_db()
    assert (subscription.cursor, subscription.delivering_token) == (0, "the-other-worker")
    assert "another took its claim" in caplog.text


def test_a_live_worker_retrying_for_longer_than_the_lock_keeps_its_claim(receiver, settings):
    # The shortest lock ledger.E004 allows: one try and the longest wait.
    settings.WEBHOOK_LOCK_SECONDS = math.floor(webhooks.claim_renewal_gap()) + 1
    assert check_webhook_lock() == []
    receiver.answers = [503, 503, 503, 503, 200]
    receiver.retry_after = "10"  # four waits of 10 s: 40 s of retries, far past the lock
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)
    taken = []

    def waited(seconds):
        # As if the seconds passed: the claim ages by them. Then another worker looks for a dead one's.
        aged = F("delivering_since") - timedelta(seconds=seconds)
        WebhookSubscription.objects.filter(pk=subscription.pk).update(delivering_since=aged)
        taken.append(webhooks._claim(subscription.pk, "another-worker"))

    run = webhooks.subscription_deliver(subscription.pk, sleep=waited)

    assert taken == [False] * 4
    assert (run.delivered, run.taken_over) == (1, False)
    assert [r.answered for r in receiver.received] == [503, 503, 503, 503, 200]
    subscription.refresh_from_db()
    assert (subscription.cursor, subscription.delivered, subscription.delivering_token) == (1, 1, "")


# Committed as a worker commits: the attempt's foreign key is checked as it is written.
@pytest.mark.django_db(transaction=True)
def test_a_subscription_deleted_while_its_delivery_waits_to_retry_stops_the_delivery_quietly(receiver, caplog):
    receiver.answers = [503, 200]
    framed(RawEventFactory(), RawEventFactory())
    subscription = subscribe(receiver.url)

    def deleted_meanwhile(seconds):
        WebhookSubscription.objects.filter(pk=subscription.pk).delete()  # as an operator deletes it

    with caplog.at_level(logging.INFO, logger="ledger.services.webhooks"):
        run = webhooks.subscription_deliver(subscription.pk, sleep=deleted_meanwhile)

    assert run.deleted and (run.delivered, run.paused) == (0, False)
    assert len(receiver.received) == 1  # the try before the delete, and nothing to a subscription gone
    assert not WebhookAttempt.objects.exists()
    assert f"webhook {subscription.pk} was deleted during its delivery" in caplog.text


# The window the renewal before each retry cannot close: after the cursor's save, before a first
# try's row is written.
@pytest.mark.django_db(transaction=True)
def test_a_subscription_deleted_just_before_a_tries_row_is_written_sends_nothing(receiver):
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)
    attempts = WebhookAttempt._meta.db_table

    def deleted_first(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and attempts in sql and WebhookSubscription.objects.exists():
            WebhookSubscription.objects.filter(pk=subscription.pk).delete()  # as an operator deletes it
        return execute(sql, params, many, context)

    with connection.execute_wrapper(deleted_first):
        run = webhooks.subscription_deliver(subscription.pk)

    assert run.deleted and (run.delivered, run.paused) == (0, False)
    assert receiver.received == [] and not WebhookAttempt.objects.exists()


def test_a_subscription_being_delivered_elsewhere_is_not_claimed_twice(receiver):
    framed(RawEventFactory())
    subscription = subscribe(receiver.url)
    assert webhooks._claim(subscription.pk, "another-worker")

    run = webhooks.subscription_deliver(subscription.pk)

    assert not run.claimed and receiver.received == []


def test_filters_on_level_probability_and_type(receiver):
    framed(RawEventFactory(probability=0.2), RawEventFactory(probability=0.9))
    subscription = subscribe(receiver.url, min_probability=0.5)

    webhooks.subscription_deliver(subscription.pk)

    assert [json.loads(r.body)["signal"]["probability"] >= 0.5 for r in receiver.received] == [True]


# --------------------------------------------------------------------------- public addresses only


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",  # a name that resolves to loopback
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata address
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://224.0.0.1/hook",
        "http://[64:ff9b::a00:5]/hook",  # NAT64 of 10.0.0.5
        "http://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
        "http://[::7f00:1]/hook",  # IPv4-compatible 127.0.0.1
        "http://[fec0::1]/hook",  # site-local
        "http://[64:ff9b:1::1]/hook",  # local-use NAT64
    ],
)
def test_a_subscription_to_an_address_that_is_not_public_is_refused_naming_it(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    subscription = WebhookSubscription(name="inside", url=url, secret=SECRET)

    with pytest.raises(ValidationError) as refused:
        subscription.full_clean()

    (message,) = refused.value.message_dict["url"]
    assert "not public" in message and "WEBHOOK_ALLOW_PRIVATE_ADDRESSES" in message
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    subscription.full_clean()  # development allows them


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
        "https://[64:ff9b::808:808]/hook",  # NAT64 of 8.8.8.8
        "https://[2002:808:808::1]/hook",  # 6to4 of 8.8.8.8
        "https://receiver.invalid/hook",
        "http://[::1",
        "http://" + "é" * 60 + ".com/hook",  # a name IDNA cannot encode: not resolved, not refused
    ],
)
def test_public_addresses_and_names_that_do_not_resolve_are_not_refused_as_internal(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    webhook_targets.validate_target(url)  # an unresolvable name fails at delivery like any unreachable one


def test_a_delivery_to_an_address_that_is_not_public_is_refused_when_it_connects_and_pauses_at_once(settings, receiver):
    # Saved while allowed, or by a name that resolved elsewhere when it was saved (DNS rebinding):
    # the check that counts is the one made as the delivery connects.
    framed(RawEventFactory())
    subscription = subscribe(receiver.url.replace("127.0.0.1", "localhost"))
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    subscription.refresh_from_db()
    assert receiver.received == []
    assert subscription.paused and "localhost is, or resolves to, an address that is not public" in (
        subscription.pause_reason
    )
    assert WebhookAttempt.objects.filter(subscription=subscription).count() == 1  # no retry makes it public


def test_a_delivery_connects_to_the_address_it_checked_and_still_names_the_host(settings, receiver, monkeypatch):
    # Loopback taken for public, to follow a checked delivery to its end on this machine.
    monkeypatch.setattr(webhook_targets, "_not_public", lambda address: False)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    framed(RawEventFactory())
    url = receiver.url.replace("127.0.0.1", "localhost")
    subscription = subscribe(url)

    webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    (received,) = receiver.received
    assert received.headers["Host"] == url.split("/")[2]


def test_a_saved_url_that_httpx_cannot_send_to_pauses_at_once(receiver):
    framed(RawEventFactory())
    subscription = subscribe("http://" + "é" * 60 + ".com/hook")

    webhooks.subscription_deliver(subscription.pk, sleep=no_sleep)

    subscription.refresh_from_db()
    (attempt,) = WebhookAttempt.objects.filter(subscription=subscription)
    assert subscription.paused and "InvalidURL" in subscription.pause_reason
    assert attempt.outcome == WebhookAttempt.Outcome.FAILED
