import math
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# The shortest keep-for an operator may set: the admin reads a bare "90" as 90 seconds, which on
# the signals policy would delete all but the last minute and a half.
MIN_KEEP_FOR = timedelta(hours=1)
# The longest: well past the longest period of the table (7y, the ledger's and the audit trail's),
# and a cutoff this far back stays inside what a datetime (year 1) and SQLite's 64-bit duration
# column hold; a longer one would pass start-up and then fail every sweep and status at its cutoff.
# Counted as retention.policies counts a year (365.25 days rounded up: 36525 days).
MAX_KEEP_YEARS = 100
MAX_KEEP_FOR = timedelta(days=math.ceil(365.25 * MAX_KEEP_YEARS))


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
        validators=[
            MinValueValidator(MIN_KEEP_FOR, message="At least an hour: write 90 days as 90 00:00:00."),
            MaxValueValidator(
                MAX_KEEP_FOR,
                message=f"At most {MAX_KEEP_YEARS} years ({MAX_KEEP_FOR.days} 00:00:00): a longer period has no cutoff "
                "a sweep can compute.",
            ),
        ],
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
