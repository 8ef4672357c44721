from django.db import models


class Tier(models.TextChoices):
    HOT = "hot", "hot (raw segments)"
    WARM = "warm", "warm (compressed)"
    COLD = "cold", "cold (archived)"


class LedgerPartition(models.Model):
    """One partition directory and every transition it went through.

    Created when the partition is sealed (the manifest's figures are copied here), then updated
    by the tier tasks: compressed (warm), archived (cold), and each verification.
    """

    name = models.CharField(max_length=32, unique=True)
    day = models.DateField()
    tier = models.CharField(max_length=8, choices=Tier.choices, default=Tier.HOT)
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
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["day", "name"]
        indexes = [models.Index(fields=["tier", "day"], name="ledgerpartition_tier_day_idx")]

    def __str__(self):
        return f"{self.name} ({self.tier})"
