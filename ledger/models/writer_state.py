from django.db import models

from ledger.envelope import GENESIS_HASH


class LedgerWriterState(models.Model):
    """Where the ledger ends, as far as the database knows: one row, pk 1.

    Its row lock is the writer's lock: a writer run holds it (``SELECT ... FOR UPDATE``; on
    SQLite the IMMEDIATE transaction) from reading the outbox until the frames are on disk and
    the outbox rows are gone, so there is one writer at a time among all processes and
    machines sharing the database. Frames found on disk past ``offset`` were appended by a run
    that died before committing; the next run adopts them (see ``ledger.services.writer``).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    partition = models.CharField(max_length=32, blank=True, default="")
    segment = models.CharField(max_length=32, blank=True, default="")
    offset = models.BigIntegerField(default=0, help_text="Bytes of the segment that hold recorded frames.")
    segment_frames = models.IntegerField(default=0)
    last_sequence = models.BigIntegerField(default=0)
    chain_head = models.CharField(max_length=64, default=GENESIS_HASH)
    frames_written = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)
    # Written by a drain that failed (in its own transaction, after the drain's rolled back),
    # cleared by the next one that succeeds: verify and the storage report show a stalled writer.
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    # The fsyncs that made appended frames durable (one per segment a batch touched), for /metrics:
    # count and total time give the mean over any window, the last one how the disk does now.
    fsync_count = models.BigIntegerField(default=0)
    fsync_seconds = models.FloatField(default=0.0)
    last_fsync_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name = "ledger writer state"

    def __str__(self):
        return f"{self.partition}/{self.segment}@{self.offset}"
