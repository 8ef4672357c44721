from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    DELETE = "delete", "delete"
    ARCHIVE_THEN_DELETE = "archive", "archive, then delete"
    TIER = "tier", "move to the long-term tier, then purge to a tombstone"


class RetentionPolicy(models.Model):
    """An operator's choices for one row of the retention table; the defaults live in code.

    A blank ``keep_for`` or ``max_per_key`` means "the default" (``retention.policies``, which an
    environment variable may override): a default changed in a release reaches every deployment
    that did not choose otherwise.
    """

    name = models.SlugField(max_length=48, unique=True)
    keep_for = models.DurationField(
        null=True, blank=True, help_text="How long a record is kept; blank for the default."
    )
    max_per_key = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many per key (per market, for history); blank for the default."
    )
    enabled = models.BooleanField(default=True, help_text="Off: the sweep skips this policy.")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "retention policies"

    def __str__(self):
        return self.name
