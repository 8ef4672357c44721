from django.db import models

from signals.models.choices import Source


class SourceEventQuerySet(models.QuerySet):
    def for_keys(self, source, external_ids):
        return self.filter(source=source, external_id__in=external_ids)


class SourceEvent(models.Model):
    """One external thing OMEN watches: a market, an article, a ticker."""

    source = models.CharField(max_length=32, choices=Source.choices)
    # Text, like Signal.source_event_id it is cut from: an imported event keeps the original's id.
    external_id = models.TextField()
    title = models.CharField(max_length=500)
    url = models.URLField(max_length=1000, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_probability = models.FloatField(null=True, blank=True)
    # The newest observations as compact JSON [[epoch_seconds, probability,
    # volume], ...] for the anomaly rule: reading it with the row it belongs to
    # costs nothing, where re-reading ProbabilityPoint would cost a query over
    # up to 1000 points per market on every poll. ProbabilityPoint stays the
    # durable, complete history.
    recent_history = models.TextField(default="[]", editable=False)
    # Keyed by signal_id, not pk: ingest knows the id before the signal row
    # exists, so the same upsert that records an observation points here.
    latest_signal = models.ForeignKey(
        "signals.Signal",
        to_field="signal_id",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = SourceEventQuerySet.as_manager()

    class Meta:
        constraints = [
            # Ingest upserts on this pair; it is also the admin's lookup key.
            models.UniqueConstraint(fields=["source", "external_id"], name="sourceevent_source_ext_uniq"),
        ]
        indexes = [
            # The foreign key's reverse lookups: SQLite runs one for every
            # signal inserted while a deferred reference is pending, and both
            # backends run one for every signal deleted (ON DELETE SET NULL).
            models.Index(fields=["latest_signal"], name="sourceevent_latest_signal_idx"),
            # Admin list, newest activity first.
            models.Index(fields=["-last_seen_at"], name="sourceevent_last_seen_idx"),
            # The API's list, newest first sighting first, keyset-paged on (first_seen_at, id).
            models.Index(fields=["-first_seen_at", "-id"], name="sourceevent_first_seen_idx"),
            # The poll's look for signalled markets that left a source's list (services/poll.py).
            models.Index(
                fields=["source", "-last_seen_at"],
                condition=models.Q(latest_signal__isnull=False),
                name="sourceevent_signalled_idx",
            ),
        ]

    def __str__(self):
        return f"{self.source}:{self.external_id} {self.title[:60]}"

    @property
    def source_event_id(self):
        """The contract's name for this thing, e.g. polymarket-517310."""
        return f"{self.source}-{self.external_id}"
