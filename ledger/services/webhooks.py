"""Webhook delivery: each new signal in the ledger, POSTed to every subscription it matches.

Driven by the ledger feed (``ledger.services.feed``): a subscription's cursor is a ledger
position, and delivery walks the committed frames after it. For each frame that creates a
signal matching the subscription's filters:

- the body is ``{"event": "signal.created", "ledger_position", "partition", "ledger_sequence",
  "signal_id", "signal": <contract>}``, the same bytes on every try;
- ``X-OMEN-Signature: sha256=<hex HMAC-SHA256 of the body under the subscription's secret>``;
- ``X-Idempotency-Key: <signal_id>``, so a receiver drops a repeat;
- 408, 429, 5xx, a timeout or a refused connection is retried: 5 tries in all, waiting 100 ms
  and doubling (at most 10 s, or the receiver's ``Retry-After`` if longer, still at most 10 s);
- every try is a ``WebhookAttempt`` row, written before the request goes out (a try whose
  worker was killed stays ``sending``) and completed with the answer;
- a try ends within WEBHOOK_TIMEOUT_SECONDS, from resolving the host to the reply's headers,
  however slowly the receiver sends them; of the reply's body (nothing in it is used) at most
  64 KiB is read, so the connection can be used again; past that it is closed;
- a frame that fails every try (or any other answer: a 3xx or 4xx says the receiver will not take
  it) pauses the subscription with the reason, and the cursor stays on that frame. Resuming
  (admin action, API) starts from it again.

The cursor is saved after each delivered frame. A worker killed mid-delivery therefore sends
again, on its next run, only the frame that was in flight, with the same ``X-Idempotency-Key``:
delivery is at least once, and exactly once for a receiver that honours the key.

One delivery per subscription runs at a time, claimed in the database like a source's poll
(``delivering_since``/``delivering_token``); a claim not renewed for WEBHOOK_LOCK_SECONDS is taken
to belong to a dead worker. Each saved cursor renews the claim, and so does each try after a wait
(the first try follows a saved cursor), each in one UPDATE made only while the claim is still this
worker's: one that lost it (stalled past the lock) stops, sends no further try of its signal beside
the worker that took over, and never moves the cursor back under it. A live worker therefore
renews its claim at least every WEBHOOK_TIMEOUT_SECONDS + 10 s (one try and the longest wait),
which the lock must exceed (system check ledger.E004). A subscription deleted meanwhile stops its
delivery too: the next write for it finds no row (the claim's renewal after a wait, or a try's
record, which fails on its foreign key, before the request goes out), and the delivery ends there,
logged, sending nothing more.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

import httpx
import orjson
from django.conf import settings
from django.db import IntegrityError
from django.db.models import F, Q
from django.utils import timezone

from ledger.models import WebhookAttempt, WebhookSubscription
from ledger.services.feed import FeedFrame, frames_after
from ledger.services.restore import ContractError, restore_signal
from ledger.webhook_targets import TargetRefused, delivery_transport, request_deadline
from utilities.database import on_a_live_connection

logger = logging.getLogger(__name__)

TRIES = 5
FIRST_WAIT = 0.1  # seconds
LONGEST_WAIT = 10.0
RETRIED_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
SIGNATURE_HEADER = "X-OMEN-Signature"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"


def claim_renewal_gap() -> float:
    """The longest, in seconds, a live delivery goes without renewing its claim: one try and the
    longest wait before the next. A try ends within WEBHOOK_TIMEOUT_SECONDS (the reply's head and
    the little of its body that is read); a wait, doubling or a receiver's ``Retry-After``, is
    capped at LONGEST_WAIT. The claim is renewed before every try and at every saved cursor, so
    WEBHOOK_LOCK_SECONDS must be longer than this, or a live worker's claim is taken for a dead
    one's (system check ledger.E004)."""
    return settings.WEBHOOK_TIMEOUT_SECONDS + LONGEST_WAIT


@dataclass
class DeliveryRun:
    subscription: int
    claimed: bool = True
    delivered: int = 0
    passed_over: int = 0  # frames that were not new signals matching the filters
    paused: bool = False
    deleted: bool = False  # the subscription was deleted during the delivery
    taken_over: bool = False  # this worker stalled past the lock, and another took the claim


class SubscriptionDeleted(Exception):
    """The subscription's row is gone: nothing more is delivered to it."""


def signature(secret: str, body: bytes) -> str:
    """The ``X-OMEN-Signature`` value: what a receiver recomputes to trust the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def subscription_matches(subscription: WebhookSubscription, row) -> bool:
    """Whether a signal (its columns, as ``restore_signal`` reads them from a contract) passes the filters."""
    return (
        (not subscription.sources or row.source in subscription.sources)
        and (not subscription.signal_types or row.signal_type in subscription.signal_types)
        and (not subscription.statuses or row.status in subscription.statuses)
        and (not subscription.categories or row.category in subscription.categories)
        and (not subscription.confidence_levels or row.confidence_level in subscription.confidence_levels)
        and (subscription.min_probability is None or row.probability >= subscription.min_probability)
        and (subscription.min_confidence is None or row.confidence >= subscription.min_confidence)
    )


def ledger_end() -> int:
    """The position of the last committed frame: where a new subscription starts."""
    return frames_after(0, 0).end  # no frame read: dispatch asks every few seconds


def subscriptions_due() -> list[int]:
    """Active, unpaused subscriptions whose cursor is behind the ledger's end."""
    end = ledger_end()
    return list(
        WebhookSubscription.objects.filter(active=True, paused_at__isnull=True, cursor__lt=end).values_list(
            "pk", flat=True
        )
    )


def subscription_deliver(
    pk: int,
    *,
    batch: int = 100,
    time_budget: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryRun:
    """Deliver what the subscription has not had yet, until the ledger's end or the time budget."""
    run = DeliveryRun(pk)
    token = uuid.uuid4().hex
    if not _claim(pk, token):
        run.claimed = False
        return run
    budget = settings.WEBHOOK_DELIVERY_BUDGET_SECONDS if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    try:
        subscription = WebhookSubscription.objects.get(pk=pk)
        with httpx.Client(
            transport=delivery_transport(), timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            while time.monotonic() < deadline and subscription.active and not subscription.paused:
                page = frames_after(subscription.cursor, batch)
                for frame in page.frames:
                    matching = _body_if_matching(subscription, frame)
                    if matching is None:
                        run.passed_over += 1
                        subscription.cursor = frame.position
                        continue
                    # Passed-over frames before this one are recorded with it: a kill here resends only it.
                    if not _save_cursor(subscription, token, frame.position - 1):
                        return run  # the claim was taken over: that worker delivers from here
                    if not _deliver(client, subscription, token, frame, *matching, sleep):
                        # Paused, unless the claim was lost meanwhile (then another worker delivers).
                        run.paused = subscription.paused
                        return run
                    run.delivered += 1
                    if not _save_cursor(subscription, token, frame.position, delivered=True):
                        return run
                    if time.monotonic() >= deadline:
                        return run
                if not _save_cursor(subscription, token, page.next_after):
                    return run
                if not page.has_more:
                    break
                subscription.refresh_from_db(fields=["active", "paused_at"])
    except (WebhookSubscription.DoesNotExist, SubscriptionDeleted):
        pass  # logged below, with the stops that found no row by the claim
    finally:
        # On a live connection: the database gone from under the delivery left the claim held.
        if not on_a_live_connection(
            lambda: WebhookSubscription.objects.filter(pk=pk, delivering_token=token).update(
                delivering_since=None, delivering_token=""
            )
        ):
            # The claim went to another worker, or went with the row: deleted during the delivery.
            run.deleted = not WebhookSubscription.objects.filter(pk=pk).exists()
            run.taken_over = not run.deleted
            if run.deleted:
                logger.info("webhook %d was deleted during its delivery: stopped", pk)
            else:
                logger.warning(
                    "webhook %d: this worker stalled past WEBHOOK_LOCK_SECONDS and another took its claim: stopped", pk
                )
    return run


def _claim(pk: int, token: str) -> bool:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_LOCK_SECONDS)
    return (
        WebhookSubscription.objects.filter(
            Q(delivering_since__isnull=True) | Q(delivering_since__lt=stale), pk=pk
        ).update(delivering_since=now, delivering_token=token)
        == 1
    )


def _renew_claim(subscription: WebhookSubscription, token: str) -> bool:
    """Renew the claim; False when it is no longer ours (taken over, or the row deleted)."""
    return (
        WebhookSubscription.objects.filter(pk=subscription.pk, delivering_token=token).update(
            delivering_since=timezone.now()
        )
        == 1
    )


def _save_cursor(subscription: WebhookSubscription, token: str, position: int, delivered: bool = False) -> bool:
    """Save the cursor and renew the claim; False, saving nothing, when the claim is no longer ours."""
    now = timezone.now()
    subscription.cursor = max(position, 0)
    changes = {"cursor": subscription.cursor, "delivering_since": now}
    if delivered:
        changes |= {"delivered": F("delivered") + 1, "last_delivered_at": now}
    return WebhookSubscription.objects.filter(pk=subscription.pk, delivering_token=token).update(**changes) == 1


def _body_if_matching(subscription: WebhookSubscription, frame: FeedFrame) -> tuple[str, bytes] | None:
    """(signal id, the body to POST) for a frame creating a signal the subscription wants, else None."""
    envelope = orjson.loads(frame.payload)
    if envelope.get("operation") != "create":
        return None  # updates and deletes are not new signals
    try:
        restored = restore_signal(envelope)
    except ContractError as exc:
        logger.warning(
            "webhook %s: frame %d not delivered, its contract is unreadable: %s", subscription, frame.position, exc
        )
        return None
    if not subscription_matches(subscription, restored.row):
        return None
    return envelope["signal_id"], orjson.dumps(
        {
            "event": "signal.created",
            "ledger_position": frame.position,
            "partition": frame.partition,
            "ledger_sequence": frame.ledger_sequence,
            "signal_id": envelope["signal_id"],
            "signal": envelope["signal"],
        }
    )


def _deliver(
    client: httpx.Client,
    subscription: WebhookSubscription,
    token: str,
    frame: FeedFrame,
    signal_id: str,
    body: bytes,
    sleep: Callable[[float], None],
) -> bool:
    """POST one signal with retries; True once delivered, False when the subscription got paused or
    the claim was found lost (or the row gone) before a retry."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "OMEN-webhooks/1",
        SIGNATURE_HEADER: signature(subscription.secret, body),
        IDEMPOTENCY_HEADER: signal_id,
    }
    wait = FIRST_WAIT
    for attempt in range(1, TRIES + 1):
        # The first try follows the cursor's save, which renewed the claim; each later one follows
        # a wait, after which the claim is renewed, or found taken over: this worker stalled past
        # the lock and another delivers from this frame, so this one sends nothing more.
        if attempt > 1 and not _renew_claim(subscription, token):
            return False
        record = _record_try(subscription, frame, signal_id, attempt)
        started = time.monotonic()
        status, error, retry_after, refused = None, "", None, False
        try:
            with (
                request_deadline(settings.WEBHOOK_TIMEOUT_SECONDS),
                client.stream("POST", subscription.url, content=body, headers=headers) as reply,
            ):
                status = reply.status_code
                retry_after = _retry_after(reply.headers.get("Retry-After", ""))
                _read_a_little(reply)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            refused = isinstance(exc.__cause__, TargetRefused)  # no retry makes it public
        except httpx.InvalidURL as exc:  # saved, but httpx cannot send to it: no retry mends it
            error, refused = f"InvalidURL: {exc}", True
        duration_ms = int((time.monotonic() - started) * 1000)
        delivered = status is not None and 200 <= status < 300
        retried = not delivered and not refused and (status is None or status in RETRIED_STATUSES) and attempt < TRIES
        outcome = (
            WebhookAttempt.Outcome.DELIVERED
            if delivered
            else WebhookAttempt.Outcome.RETRY
            if retried
            else WebhookAttempt.Outcome.FAILED
        )
        WebhookAttempt.objects.filter(pk=record.pk).update(
            status_code=status, error=error[:2000], duration_ms=duration_ms, outcome=outcome
        )
        if delivered:
            return True
        if not retried:
            what = f"answered {status}" if status is not None else error
            reason = f"{signal_id} (ledger position {frame.position}) not delivered after {attempt} tries: {what}"
            _pause(subscription, token, reason)
            return False
        sleep(min(max(wait, retry_after or 0.0), LONGEST_WAIT))
        wait = min(wait * 2, LONGEST_WAIT)
    return False  # not reached: the last try either delivers or pauses


def _record_try(subscription: WebhookSubscription, frame: FeedFrame, signal_id: str, attempt: int) -> WebhookAttempt:
    """The try's row, written before its request goes out; SubscriptionDeleted if the subscription is gone."""
    try:
        return WebhookAttempt.objects.create(
            subscription=subscription,
            position=frame.position,
            signal_id=signal_id,
            attempt=attempt,
            outcome=WebhookAttempt.Outcome.SENDING,
        )
    except IntegrityError:
        # Deleted between the claim's renewal (or the cursor's save, before a first try) and this
        # insert: its foreign key names no row. The row is looked up rather than the error read,
        # whose wording is each backend's own.
        if WebhookSubscription.objects.filter(pk=subscription.pk).exists():
            raise
        raise SubscriptionDeleted(subscription.pk) from None


# An answer's body is not used: a short one is read, so its connection can take the next signal;
# past this, the connection is closed rather than the body read (a receiver could send gigabytes).
_BODY_READ = 64 * 1024


def _read_a_little(reply: httpx.Response) -> None:
    read = 0
    try:
        for chunk in reply.iter_raw():
            read += len(chunk)
            if read > _BODY_READ:
                return
    except httpx.HTTPError:
        pass  # the status is what counts: a body cut short changes nothing


def _retry_after(value: str) -> float | None:
    """A ``Retry-After`` in seconds: delta-seconds or an HTTP date; None for anything else (it is the
    receiver's text: ``²`` passes ``str.isdigit`` and fails ``float``)."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # asctime's form names no zone: HTTP dates are in GMT (RFC 9110)
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - timezone.now()).total_seconds())


def _pause(subscription: WebhookSubscription, token: str, reason: str) -> None:
    now = timezone.now()
    # Only while the claim is ours: a worker that lost it does not pause what another delivers.
    if WebhookSubscription.objects.filter(pk=subscription.pk, delivering_token=token).update(
        paused_at=now, pause_reason=reason
    ):
        subscription.paused_at, subscription.pause_reason = now, reason
        logger.warning("webhook %s paused: %s", subscription, reason)


def subscription_resume(subscription: WebhookSubscription) -> None:
    """Deliver again from the frame that paused it."""
    subscription.paused_at, subscription.pause_reason = None, ""
    WebhookSubscription.objects.filter(pk=subscription.pk).update(paused_at=None, pause_reason="")


def subscription_save_edit(subscription: WebhookSubscription, fields: Sequence[str]) -> bool:
    """Save an operator's edit of ``fields`` (admin, API), and no other: a delivery running meanwhile
    writes the cursor, the counters, the pause and its claim, which saving the whole row would put
    back as the edit read them. False when the subscription was deleted meanwhile (a full save
    would have made it again).

    One UPDATE, not ``save(update_fields=…)``: that raises a bare DatabaseError for a row that is
    gone and marks the request's transaction for rollback, where this only counts the rows.
    """
    if not fields:  # nothing changed; but a row that is gone is said to be gone
        return WebhookSubscription.objects.filter(pk=subscription.pk).exists()
    values = {name: getattr(subscription, name) for name in fields}
    return WebhookSubscription.objects.filter(pk=subscription.pk).update(**values) == 1
