from pathlib import Path

from django.conf import settings
from django.db import models


class Backup(models.Model):
    """One backup of the database (with the ledger's manifests and writer state), and its proof.

    ``ok`` means proven: the dump was restored into a scratch database (SQLite's copy: opened and
    integrity-checked) and every table held the rows the database held when the dump was taken.
    Anything else is a backup not to count on.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "ok (proven)"
        FAILED = "failed", "failed"

    class Backend(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL (pg_dump -Fc)"
        SQLITE = "sqlite", "SQLite (online backup API)"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    backend = models.CharField(max_length=16, choices=Backend.choices)
    path = models.CharField(
        max_length=255, blank=True, help_text="The backup's directory, relative to BACKUP_DIR; blank if none was made."
    )
    bytes = models.BigIntegerField(default=0, help_text="Every file of the backup's directory.")
    sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the dump file (SHA256SUMS has the rest)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    proven_at = models.DateTimeField(null=True, blank=True, help_text="When its last proof passed; blank: unproven.")
    proof = models.JSONField(
        default=dict, blank=True, help_text="Rows per table the proof counted in the restored copy."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "-started_at"], name="backup_status_idx")]

    def __str__(self):
        return f"backup {self.pk} of {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def directory(self) -> Path | None:
        return Path(settings.BACKUP_DIR) / self.path if self.path else None

    @property
    def proven(self) -> bool:
        return self.status == self.Status.OK and self.proven_at is not None
