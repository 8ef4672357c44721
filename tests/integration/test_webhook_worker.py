"""Webhook delivery by a real Celery worker on the real Redis, killed mid-delivery (issue 11).

The worker is SIGKILLed while the receiver holds one delivery open. Once its claim is stale (older
than WEBHOOK_LOCK_SECONDS, left at its default: the claim is aged in the database, as time would
age it), a new worker finishes the job: every signal reaches the receiver, the ones acknowledged
before the kill are not sent again, and the one in flight is sent again with the same
X-Idempotency-Key (at least once on the wire, once for a receiver that honours the key).
"""

import os
import signal
from collections import Counter

import pytest
from celery import Celery

from tests.support.broker import REDIS_URL
from tests.support.processes import manage, query
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def send_delivery(pk: int) -> None:
    Celery(broker=REDIS_URL).send_task("ledger.tasks.webhook_deliver", args=[pk], queue="ledger")


def test_a_worker_killed_mid_delivery_leaves_nothing_undelivered_and_resends_only_the_frame_in_flight(
    omen, recorded_dir
):
    receiver = WebhookReceiver().start()
    try:
        pk = int(manage(
            omen.env, "shell", "-c",
            "from ledger.models import WebhookSubscription as W; "
            f"print(W.objects.create(name='downstream', url='{receiver.url}', secret='s' * 32).pk)",
        ).split()[-1])  # fmt: skip
        manage(omen.env, "ingest_file", str(recorded_dir / "polymarket_gamma_markets_active_part1.json"),
               "--source", "polymarket")  # fmt: skip
        signal_ids = [row[0] for row in query(omen.url, "SELECT signal_id FROM signals_signal ORDER BY id")]
        assert len(signal_ids) > 5
        held = signal_ids[2]
        receiver.hold(held)

        first = omen.worker("w1")
        send_delivery(pk)
        assert receiver.holding.wait(60), "the delivery never reached the third signal"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        receiver.release()
        # The dead worker's claim is still there, and stale once it is older than WEBHOOK_LOCK_SECONDS
        # (no live worker goes that long without renewing it): aged past the lock rather than waited for.
        aged = manage(
            omen.env, "shell", "-c",
            "from datetime import timedelta; from django.conf import settings; from django.utils import timezone; "
            "from ledger.models import WebhookSubscription as W; "
            f"print(W.objects.filter(pk={pk}).exclude(delivering_token='').update(delivering_since="
            "timezone.now() - timedelta(seconds=settings.WEBHOOK_LOCK_SECONDS + 1)))",
        )  # fmt: skip
        assert aged.split()[-1] == "1", "the killed worker left no claim"

        omen.worker("w2")
        send_delivery(pk)
        omen.wait_for("SELECT cursor FROM ledger_webhooksubscription", len(signal_ids))
    finally:
        receiver.stop()

    sent = Counter(r.headers["X-Idempotency-Key"] for r in receiver.received)
    assert set(sent) == set(signal_ids)
    assert sent[held] == 2 and all(count == 1 for key, count in sent.items() if key != held)
    assert [r.headers["X-Idempotency-Key"] for r in receiver.received][:2] == signal_ids[:2]
    outcomes = Counter(row[0] for row in query(omen.url, "SELECT outcome FROM ledger_webhookattempt"))
    assert outcomes == {"delivered": len(signal_ids), "sending": 1}  # the killed try is on record
    assert omen.count("SELECT delivered FROM ledger_webhooksubscription") == len(signal_ids)
