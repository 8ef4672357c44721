from django.conf import settings
from django.db import models

from signals.models.choices import Source


class LegalHoldQuerySet(models.QuerySet):
    def active(self):
        return self.filter(released_at__isnull=True)


class LegalHold(models.Model):
    """Records no sweep may delete while the hold stands: one signal, one source event, or a source."""

    signal_id = models.TextField(blank=True, help_text="One signal, by its signal_id.")
    source_event = models.ForeignKey(
        "signals.SourceEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # a held event outlives its own retention
        related_name="+",
        help_text="One source event: its signals, history and rejections.",
    )
    source = models.CharField(
        max_length=32, blank=True, choices=Source.choices, help_text="A whole source: everything it produced."
    )
    reason = models.TextField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    set_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        ordering = ["-set_at"]
        constraints = [
            models.CheckConstraint(
                name="legalhold_one_target",
                condition=(
                    models.Q(~models.Q(signal_id=""), source_event__isnull=True, source="")
                    | models.Q(signal_id="", source_event__isnull=False, source="")
                    | models.Q(~models.Q(source=""), signal_id="", source_event__isnull=True)
                ),
                violation_error_message="Hold one signal, one source event or one source.",
            )
        ]

    def __str__(self):
        return f"hold on {self.target}"

    @property
    def target(self) -> str:
        if self.signal_id:
            return f"signal {self.signal_id}"
        if self.source_event_id:
            return f"source event {self.source_event}"
        return f"source {self.source}"
