from collections.abc import Iterable, Iterator

import orjson
from django.db import models
from django.db.models import Sum
from django.db.models.functions import Coalesce


class Operation(models.TextChoices):
    CREATE = "create", "create"
    UPDATE = "update", "update"
    DELETE = "delete", "delete"


def bulk_contract(records: Iterable[str]) -> str:
    """A bulk delete's row's ``contract``: its deletion records, one a line (JSON has no raw newline)."""
    return "\n".join(records)


def bulk_records(contract: str) -> list[tuple[str, str]]:
    """(deletion record, signal id) of each save a bulk delete's row holds, in order. Raises
    ValueError for a record that is not a JSON object naming its signal, or for no contract."""
    if not isinstance(contract, str):
        raise ValueError("a bulk delete's row with no deletion records")
    return [(record, _record_signal_id(record)) for record in contract.split("\n")]


def _record_signal_id(record: str) -> str:
    document = orjson.loads(record)
    signal_id = document.get("signal_id") if isinstance(document, dict) else None
    if not isinstance(signal_id, str):
        raise ValueError(f"a deletion record that names no signal: {record[:100]!r}")
    return signal_id


class OutboxQuerySet(models.QuerySet):
    def count_saves(self) -> int:
        """How many saves wait: a bulk delete's row counts each of its deletes."""
        return self.aggregate(saves=Coalesce(Sum("saves"), 0))["saves"]

    def saves(self) -> Iterator[tuple[int, str, str]]:
        """(outbox id, operation, signal id) of each save these rows hold, by id: a bulk delete's
        row gives one per deletion record (its contract is read only for those rows)."""
        single = self.filter(saves=1).order_by("id").values_list("id", "operation", "signal_id")
        bulk = self.filter(saves__gt=1).order_by("id").values_list("id", "operation", "contract")
        expanded = []
        for outbox_id, operation, contract in bulk:
            try:
                records = bulk_records(contract)
            except ValueError as exc:
                raise ValueError(f"outbox row {outbox_id} holds a contract that cannot be read ({exc})") from exc
            expanded.extend((outbox_id, operation, signal_id) for _, signal_id in records)
        if not expanded:
            yield from single.iterator()
            return
        yield from sorted([*single, *expanded], key=lambda save: save[0])


class LedgerOutbox(models.Model):
    """A committed save waiting for its ledger frame; or, for a bulk delete, several of them.

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
    # A delete holds its deletion record; a bulk delete's row holds one per line, one per
    # signal, and names in signal_id the first signal it holds (in signal_pk, the batch's
    # first, for reading only: adoption may have framed that one already).
    contract = models.TextField(null=True, blank=True)
    saved_at = models.DateTimeField()
    # How many saves (frames to write) the row holds: more than one only for a bulk delete,
    # whose frames all carry this row's id. One row for a batch of a thousand deletes instead of
    # a thousand rows, each written, read back and deleted again (bench/retention.py).
    saves = models.PositiveIntegerField(default=1, db_default=1)

    objects = OutboxQuerySet.as_manager()

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
