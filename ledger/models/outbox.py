from django.db import models


class Operation(models.TextChoices):
    CREATE = "create", "create"
    UPDATE = "update", "update"
    DELETE = "delete", "delete"


class LedgerOutbox(models.Model):
    """A committed save waiting for its ledger frame.

    Written in the same transaction as the save (so a rolled-back save leaves no row) and
    deleted in the same transaction that records the frame's position in
    ``LedgerWriterState``: the outbox is a queue, the ledger is the record. Deleting keeps the
    table as small as the backlog, so the primary key alone serves the writer's
    ``ORDER BY id LIMIT n``, and costs less than an update that rewrites every index.
    """

    id = models.BigAutoField(primary_key=True)
    operation = models.CharField(max_length=6, choices=Operation.choices)
    # No foreign key: a delete's row outlives its signal.
    signal_pk = models.BigIntegerField()
    # Text, as Signal.signal_id is: an imported signal keeps the original's id.
    signal_id = models.TextField()
    # The contract as saved, for updates and deletes. Creates leave it empty: signals are
    # immutable, so the writer reads the row itself and ingest copies no contract twice.
    contract = models.TextField(null=True, blank=True)
    saved_at = models.DateTimeField()

    class Meta:
        verbose_name = "ledger outbox row"
        indexes = [
            # A delete or an update first looks for its signal's create still waiting here (a writer
            # behind): without this, each look scans the table, dead rows included, and a retention
            # sweep's batches churn through many (25 ms a batch, bench/retention.py).
            models.Index(
                fields=["signal_pk"],
                condition=models.Q(operation="create", contract__isnull=True),
                name="outbox_waiting_create_idx",
            )
        ]

    def __str__(self):
        return f"#{self.pk} {self.operation} {self.signal_id}"
