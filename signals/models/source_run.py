from django.db import models

from signals.models.choices import Source


class SourceRunQuerySet(models.QuerySet):
    def recent(self, source, limit=10):
        return self.filter(source=source).order_by("-started_at", "-id")[:limit]


class SourceRun(models.Model):
    """One poll of one source: what it fetched and what became of it."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        SKIPPED_BUSY = "skipped_busy", "Skipped: already being polled"
        CIRCUIT_OPEN = "circuit_open", "Skipped: circuit open"
        DISABLED = "disabled", "Disabled"

    source = models.CharField(max_length=32, choices=Source.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    objects = SourceRunQuerySet.as_manager()

    class Meta:
        indexes = [
            # Admin list and source health: a source's latest runs.
            models.Index(fields=["source", "-started_at"], name="sourcerun_source_started_idx"),
            models.Index(fields=["-started_at"], name="sourcerun_started_idx"),
        ]

    def __str__(self):
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class SourceState(models.Model):
    """Per-source state every worker shares: the circuit breaker and the poll lock."""

    class Breaker(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"
        HALF_OPEN = "half_open", "Half-open (probing)"

    source = models.CharField(max_length=32, choices=Source.choices)
    breaker = models.CharField(max_length=16, choices=Breaker.choices, default=Breaker.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    probe_successes = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    # Set while a poll runs; a poll that finds it set (and not stale) is skipped,
    # unless it carries the same token: the redelivery of a poll whose worker died.
    polling_since = models.DateTimeField(null=True, blank=True)
    polling_token = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source"], name="sourcestate_source_uniq"),
        ]

    def __str__(self):
        return f"{self.source}: breaker {self.breaker}"
