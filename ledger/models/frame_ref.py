from django.db import models

from ledger.models.outbox import Operation


class LedgerFrameRef(models.Model):
    """Where one committed frame is: its partition, segment and byte offset, and what it says.

    The ledger is a log: finding a signal's frames in it means reading it. These rows are its index
    by signal, for the analyst admin's signal page (``ledger.public.signal_frames``). The writer
    inserts them in the transaction that records its new end (``ledger.services.writer``), so a
    frame has a row exactly when the database counts it as written; a purge deletes a partition's
    rows with the transaction that marks it purged; ``manage.py ledger reindex`` rebuilds them
    from the segments (a ledger written before them, or a database restored from a backup).

    A row names the partition and the segment as the manifest lists it (``signals-001.wal``), never
    a directory: the tier tasks move and compress the files, and a reader looks for the segment in
    every tier (``ledger.services.frame_refs.frame_verify``). ``offset`` counts in the raw segment,
    a compressed one's decompressed bytes.
    """

    id = models.BigAutoField(primary_key=True)
    # Text, as Signal.signal_id is: an imported signal keeps the original's id.
    signal_id = models.TextField()
    operation = models.CharField(max_length=6, choices=Operation.choices)
    partition = models.CharField(max_length=32)
    segment = models.CharField(max_length=32, help_text="The segment's name in its manifest, without .gz.")
    offset = models.BigIntegerField(help_text="Byte offset of the frame's header in the raw (decompressed) segment.")
    length = models.IntegerField(help_text="Payload bytes; the frame is the 8-byte header and these.")
    sequence = models.BigIntegerField(help_text="The envelope's ledger_sequence: (segment ordinal << 32) | index.")
    payload_sha256 = models.CharField(max_length=64, help_text="The frame's chain hash: SHA-256 of its payload.")
    written_at = models.DateTimeField(help_text="The envelope's ledger_written_at.")

    class Meta:
        verbose_name = "ledger frame reference"
        indexes = [
            # Declared here, not with db_index: on PostgreSQL that would add a second, pattern-ops
            # index that no lookup uses, and the writer pays for every index on every frame.
            models.Index(fields=["signal_id"], name="frameref_signal_idx"),
        ]
        constraints = [
            # A frame's place in the ledger: one row per frame, whatever a crash or a retry does.
            # Its index also serves the purge's and the reindex's per-partition deletes.
            models.UniqueConstraint(fields=["partition", "sequence"], name="frameref_one_per_frame"),
        ]

    def __str__(self):
        return f"{self.partition}/{self.segment}@{self.offset} {self.operation} {self.signal_id}"
