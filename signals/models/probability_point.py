from django.db import models


class ProbabilityPoint(models.Model):
    """One observed probability of a SourceEvent: its history, per market."""

    source_event = models.ForeignKey(
        "signals.SourceEvent",
        on_delete=models.CASCADE,
        related_name="probability_points",
        db_index=False,  # the unique constraint below leads with source_event
    )
    observed_at = models.DateTimeField()
    probability = models.FloatField()
    volume = models.FloatField(default=0.0)
    liquidity = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            # Re-ingesting the same observation adds no point; also serves the
            # "history of these markets since T" read of the anomaly rule.
            models.UniqueConstraint(fields=["source_event", "observed_at"], name="probpoint_event_observed_uniq"),
        ]
        ordering = ["source_event", "observed_at"]
        # The retention sweep's "points older than 168 hours", across markets.
        indexes = [models.Index(fields=["observed_at"], name="probpoint_observed_idx")]

    def __str__(self):
        return f"{self.probability:.4f} at {self.observed_at:%Y-%m-%d %H:%M}"
