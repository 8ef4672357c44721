from datetime import timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

# The shortest keep-for an operator may set: the admin reads a bare "90" as 90 seconds, which on
# the signals policy would delete all but the last minute and a half.
MIN_KEEP_FOR = timedelta(hours=1)


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
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_KEEP_FOR, message="At least an hour: write 90 days as 90 00:00:00.")],
        help_text="How long a record is kept, as DAYS HH:MM:SS (90 days: 90 00:00:00); blank for the default.",
    )
    max_per_key = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="At most this many per key (per market, for history); blank for the default.",
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
