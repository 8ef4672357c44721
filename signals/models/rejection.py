from django.db import models

from signals.models.choices import RejectionStage, RejectionStatus, Source

EXCERPT_MAX_CHARS = 2000


class Rejection(models.Model):
    """An input that did not become a signal, with the rule and the reason."""

    source = models.CharField(max_length=32, choices=Source.choices)
    external_id = models.CharField(max_length=128, blank=True)
    # Identifies the rejected input: the event's input hash, or for a record
    # that did not parse, the SHA-256 of its raw JSON.
    input_hash = models.CharField(max_length=64)
    stage = models.CharField(max_length=16, choices=RejectionStage.choices)
    rule = models.CharField(max_length=64)
    # A rule's version, or for min_confidence the effective ruleset version ("2026.12.0+1a2b3c4d").
    rule_version = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=48, choices=RejectionStatus.choices)
    reason = models.TextField()
    field = models.CharField(max_length=64, blank=True)
    score = models.FloatField(null=True, blank=True)
    excerpt = models.TextField(blank=True)
    observed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The same input rejected again writes nothing new.
            models.UniqueConstraint(
                fields=["source", "external_id", "input_hash", "stage"], name="rejection_input_uniq"
            ),
        ]
        indexes = [
            # Admin list and stats, newest first.
            models.Index(fields=["-created_at"], name="rejection_created_idx"),
            # "Top reasons": counts by rule within a recent window.
            models.Index(fields=["rule", "-created_at"], name="rejection_rule_created_idx"),
            # The admin's exact search by a source's id (the unique key leads with source).
            models.Index(fields=["external_id"], name="rejection_external_id_idx"),
        ]

    def __str__(self):
        return f"{self.source}:{self.external_id or '?'} {self.status}"
