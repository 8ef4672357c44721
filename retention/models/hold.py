from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from ledger.models import LedgerFrameRef
from signals.models import Signal
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

    def clean(self):
        # The sweeps compare a held id exactly: one OMEN never issued (mistyped, in lower case)
        # would hold nothing, silently. A signal swept to its archive is still in the ledger.
        if self._state.adding and self.signal_id:
            known = (
                Signal.objects.filter(signal_id=self.signal_id).exists()
                or LedgerFrameRef.objects.filter(signal_id=self.signal_id).exists()
            )
            if not known:
                raise ValidationError(
                    {"signal_id": f"No signal {self.signal_id} in the database or the ledger: a signal id is "
                     "as the signal's page shows it (OMEN- and twelve capitals or digits for OMEN's own)."}
                )  # fmt: skip

    @property
    def target(self) -> str:
        if self.signal_id:
            return f"signal {self.signal_id}"
        if self.source_event_id:
            return f"source event {self.source_event}"
        return f"source {self.source}"
