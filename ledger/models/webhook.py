"""Webhook subscriptions and every delivery attempt: OMEN pushing new signals downstream.

A subscription's ``cursor`` is a ledger position (``ledger.services.feed``): delivery reads the
committed frames after it, so nothing is pushed that the ledger does not hold, and the cursor
moves past a frame only once that frame is delivered or does not match, so nothing committed is
skipped.
"""

from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from ledger.webhook_targets import validate_target
from signals.models.choices import Category, ConfidenceLevel, SignalStatus, SignalType, Source


class WebhookSubscription(models.Model):
    # What delivery writes: shown everywhere, edited nowhere (the admin, the API).
    DELIVERY_STATE_FIELDS = ("paused_at", "pause_reason", "cursor", "delivered", "last_delivered_at", "created_at")
    # The shortest secret the admin and the API take: a key a receiver's HMAC can rely on.
    SECRET_MIN_LENGTH = 16

    name = models.CharField(max_length=100)
    url = models.URLField(
        max_length=2000,
        # Django's URL field also takes ftp:// and ftps://, which no delivery can POST to.
        validators=[URLValidator(schemes=["http", "https"]), validate_target],
        help_text="Where new signals are POSTed (http or https): a public address, in production.",
    )
    # Kept as given: signing needs the secret itself, unlike an API key, which only needs its hash.
    secret = models.CharField(max_length=128, help_text="The HMAC-SHA256 key of the X-OMEN-Signature header.")

    # Filters on the signal; an empty list or no minimum lets everything through.
    sources = models.JSONField(default=list, blank=True, help_text=f"Any of: {', '.join(Source.values)}.")
    signal_types = models.JSONField(default=list, blank=True, help_text=f"Any of: {', '.join(SignalType.values)}.")
    statuses = models.JSONField(default=list, blank=True, help_text=f"Any of: {', '.join(SignalStatus.values)}.")
    categories = models.JSONField(default=list, blank=True, help_text=f"Any of: {', '.join(Category.values)}.")
    confidence_levels = models.JSONField(
        default=list, blank=True, help_text=f"Any of: {', '.join(ConfidenceLevel.values)}."
    )
    min_probability = models.FloatField(null=True, blank=True)
    min_confidence = models.FloatField(null=True, blank=True)

    active = models.BooleanField(default=True, help_text="Off: nothing is delivered, the cursor waits.")
    paused_at = models.DateTimeField(null=True, blank=True, help_text="Set when a delivery failed every retry.")
    pause_reason = models.TextField(blank=True)
    cursor = models.BigIntegerField(default=0, help_text="The ledger position delivered (or passed over) up to.")
    delivered = models.BigIntegerField(default=0, help_text="Signals delivered so far.")
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    # The delivery claim: one delivery per subscription at a time, across workers (as the poll lock).
    delivering_since = models.DateTimeField(null=True, blank=True, editable=False)
    delivering_token = models.CharField(max_length=32, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class WebhookAttempt(models.Model):
    class Outcome(models.TextChoices):
        # Recorded before the request goes out: a try whose worker died stays "sending".
        SENDING = "sending", "sending, or interrupted"
        DELIVERED = "delivered", "delivered"
        RETRY = "retry", "failed, retried"
        FAILED = "failed", "failed, subscription paused"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="attempts")
    position = models.BigIntegerField(help_text="The ledger position of the signal's frame.")
    signal_id = models.TextField()
    attempt = models.PositiveSmallIntegerField(help_text="1 for the first try of this frame.")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=9, choices=Outcome.choices)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["subscription", "-id"], name="webhookattempt_sub_idx"),
            # The retention sweep's "attempts older than 90 days".
            models.Index(fields=["attempted_at"], name="webhookattempt_at_idx"),
        ]

    def __str__(self):
        return f"{self.subscription_id} #{self.position} try {self.attempt}: {self.outcome}"
