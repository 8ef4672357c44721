from django.db import models


class SignalArchive(models.Model):
    """The manifest entry of one day's archive file: what it holds and the checksum it was verified against."""

    day = models.DateField(unique=True, help_text="The signals' generated_at day (UTC).")
    path = models.CharField(max_length=255, help_text="Relative to RETENTION_ARCHIVE_DIR.")
    rows = models.BigIntegerField()
    bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    written_at = models.DateTimeField()

    class Meta:
        ordering = ["-day"]

    def __str__(self):
        return f"{self.path} ({self.rows} signals)"
