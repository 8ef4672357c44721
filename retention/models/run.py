from django.db import models


class RetentionRun(models.Model):
    """One policy's part of one sweep, updated as each batch commits: a killed sweep's counts hold."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "ok"
        FAILED = "failed", "failed"
        INTERRUPTED = "interrupted", "interrupted (finished by a later run)"

    policy = models.SlugField(max_length=48)
    dry_run = models.BooleanField(default=False)
    cutoff = models.DateTimeField(null=True, blank=True, help_text="Records older than this were expired.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    counted = models.BigIntegerField(default=0, help_text="Expired records found (on hold included).")
    archived = models.BigIntegerField(default=0)
    deleted = models.BigIntegerField(default=0)
    skipped_on_hold = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["policy", "-started_at"], name="retentionrun_policy_idx")]

    def __str__(self):
        return f"{self.policy} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self):
        return None if self.finished_at is None else self.finished_at - self.started_at
