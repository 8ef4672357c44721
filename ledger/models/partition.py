from django.db import models


class Tier(models.TextChoices):
    HOT = "hot", "hot (raw segments)"
    WARM = "warm", "warm (compressed)"
    COLD = "cold", "cold (archived)"
    LONG_TERM = "long_term", "long-term (LEDGER_LONG_TERM_DIR)"
    PURGED = "purged", "purged (tombstone only)"


class LedgerPartition(models.Model):
    """One partition directory and every transition it went through.

    Created when the partition is sealed (the manifest's figures are copied here), then updated
    by the tier tasks: compressed (warm), archived (cold), moved to long-term storage, and each
    verification. A purged partition keeps its row: with its tombstone (a file beside the
    long-term partitions) it is what ``ledger verify`` holds the chain to across the gap.
    """

    # When each step of its life happened, in order (the admin's columns, the API's fields).
    STEP_TIMES = ("sealed_at", "compressed_at", "archived_at", "long_term_at", "purged_at", "verified_at")

    name = models.CharField(max_length=32, unique=True)
    day = models.DateField()
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.HOT)
    frames = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0, help_text="Raw (uncompressed) size of its segments.")
    first_sequence = models.BigIntegerField(null=True, blank=True)
    last_sequence = models.BigIntegerField(null=True, blank=True)
    chain_start = models.CharField(max_length=64, blank=True, help_text="prev_hash of its first frame.")
    chain_head = models.CharField(max_length=64, blank=True, help_text="Hash of its last frame.")
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)
    compressed_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    long_term_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # The last check an operator asked for from the admin ("verify now"), as its task left it.
    checked_at = models.DateTimeField(null=True, blank=True)
    check_ok = models.BooleanField(null=True, blank=True)
    check_result = models.TextField(blank=True)

    class Meta:
        permissions = [("run_ledger_actions", "Can run ledger actions (verify now, seal now)")]
        ordering = ["day", "name"]
        indexes = [models.Index(fields=["tier", "day"], name="ledgerpartition_tier_day_idx")]

    def __str__(self):
        return f"{self.name} ({self.tier})"
