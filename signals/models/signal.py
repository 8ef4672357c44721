from django.db import models, router, transaction

from signals.models.choices import Category, ConfidenceLevel, SignalStatus, SignalType, Source
from signals.models.contract import ContractField


class SignalQuerySet(models.QuerySet):
    def newest_first(self):
        return self.order_by("-generated_at", "-id")

    def for_source(self, source):
        return self.filter(source=source)


class Signal(models.Model):
    """An immutable probability signal: the OMEN contract plus queried columns.

    ``contract`` holds the full contract exactly as the pipeline built it; the
    columns beside it copy the fields that lists, filters and lookups use.
    """

    # The identities are text: the original OMEN set no length on them, and ``ledger import``
    # stores its ids as they are (up to ledger.services.restore.MAX_ID_CHARS, which any index
    # entry holds).
    signal_id = models.TextField()
    # Named "event", not "source_event": its column would clash with the
    # contract's source_event_id ("polymarket-517310") below.
    event = models.ForeignKey(
        "signals.SourceEvent",
        on_delete=models.PROTECT,
        related_name="signals",
        verbose_name="source event",
        db_index=False,  # served by signal_event_newest_idx
    )
    source = models.CharField(max_length=32, choices=Source.choices)
    source_event_id = models.TextField()
    input_event_hash = models.TextField()
    trace_id = models.TextField()
    ruleset_version = models.TextField()
    signal_type = models.CharField(max_length=32, choices=SignalType.choices)
    status = models.CharField(max_length=16, choices=SignalStatus.choices)
    category = models.CharField(max_length=16, choices=Category.choices)
    confidence_level = models.CharField(max_length=8, choices=ConfidenceLevel.choices)
    title = models.CharField(max_length=500)
    probability = models.FloatField()
    confidence = models.FloatField()
    observed_at = models.DateTimeField()
    generated_at = models.DateTimeField()
    created_at = models.DateTimeField(help_text="When this row was written (not part of the contract).")
    contract = ContractField()
    # A partner pushed the input (POST /api/v1/signals/ingest/), rather than a poll fetching it:
    # the partner signals' retention policy keeps these a shorter time. Not part of the contract.
    pushed = models.BooleanField(default=False, db_default=False, editable=False)

    objects = SignalQuerySet.as_manager()

    class Meta:
        # Analysts and operators hold it (omen_site/migrations/0005_roles.py); export actions check it.
        permissions = [("export_signal", "Can export signals")]
        constraints = [
            # The idempotency key: ingest skips ids that exist; ON CONFLICT covers races.
            models.UniqueConstraint(fields=["signal_id"], name="signal_signal_id_uniq"),
        ]
        indexes = [
            # Every list (admin, API) is newest first and keyset-paginated on this.
            models.Index(fields=["-generated_at", "-id"], name="signal_generated_idx"),
            # A SourceEvent's signals, newest first (admin detail), and the API's latest=true: the
            # probe "is there a newer signal of this event?" (signals.selectors.latest_per_event)
            # reads only this index, the id breaking ties of one batch.
            models.Index(fields=["event", "-generated_at", "-id"], name="signal_event_newest_idx"),
            # The admin's and API's filters, each with the list order.
            models.Index(fields=["source", "-generated_at"], name="signal_source_generated_idx"),
            models.Index(fields=["status", "-generated_at"], name="signal_status_generated_idx"),
            models.Index(fields=["signal_type", "-generated_at"], name="signal_type_generated_idx"),
            # Exact lookups by the contract's other identities (search, ledger reconcile).
            models.Index(fields=["input_event_hash"], name="signal_input_hash_idx"),
            models.Index(fields=["source_event_id"], name="signal_source_event_id_idx"),
            models.Index(fields=["trace_id"], name="signal_trace_id_idx"),
            # The partner signals' retention sweep: few rows, found without reading the others.
            models.Index(fields=["generated_at"], name="signal_pushed_generated_idx", condition=models.Q(pushed=True)),
        ]

    def __str__(self):
        return f"{self.signal_id} {self.title[:60]}"

    def save(self, *args, **kwargs):
        # A plain save in autocommit mode commits before post_save is sent; in a transaction,
        # the save's listeners (the ledger's outbox row) commit or roll back with the row.
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            super().save(*args, **kwargs)
