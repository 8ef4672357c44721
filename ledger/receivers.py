"""The ledger listens to every save of a signal and queues it in the outbox, in the same transaction.

Row saves arrive through ``post_save`` / ``post_delete`` (``Signal.save`` runs in a transaction,
so the outbox row commits or rolls back with the save); bulk saves through
``signals.public.signals_bulk_created``, which ingest and the ledger's import send inside the
transaction that inserts the rows, and bulk deletes (retention) through ``signals_bulk_deleted``. After the
commit, the writer is asked to drain (``LEDGER_DRAIN_ON_COMMIT``); the periodic drain task
catches anything a failed or busy request left behind. ``pre_save`` / ``pre_delete`` keep the
contract of a create not framed yet before its row changes, so the create frame shows the
signal as it was created.
"""

import logging
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connections, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver
from django.utils import timezone

from ledger.envelope import DELETION_FIELDS, deletion_record
from ledger.models import LedgerOutbox, Operation
from ledger.models.outbox import bulk_contract
from ledger.services.committed import remember_committed
from signals.models import Signal
from signals.public import canonical_json, signals_bulk_created, signals_bulk_deleted
from utilities.bulk_sql import append_rows

log = logging.getLogger("omen.ledger")

OUTBOX_COLUMNS = ["operation", "signal_pk", "signal_id", "contract", "saved_at"]


@receiver(post_save, sender=Signal, dispatch_uid="ledger.signal_saved")
def signal_saved(sender, instance, created, raw, using, **kwargs):
    if raw:  # loaddata restores rows as they were: ``ledger import`` is the ledgered way to load signals
        return
    LedgerOutbox.objects.using(using).create(
        operation=Operation.CREATE if created else Operation.UPDATE,
        signal_pk=instance.pk,
        signal_id=instance.signal_id,
        contract=None if created else canonical_json(instance.contract),
        saved_at=timezone.now(),
    )
    _drain_after_commit(using)


@receiver(pre_save, sender=Signal, dispatch_uid="ledger.signal_changing")
def signal_changing(sender, instance, raw, using, **kwargs):
    if not raw and instance.pk is not None:
        _keep_created_contract(instance.pk, using)


@receiver(pre_delete, sender=Signal, dispatch_uid="ledger.signal_deleting")
def signal_deleting(sender, instance, using, **kwargs):
    _keep_created_contract(instance.pk, using)


def _keep_created_contract(pk: int, using: str) -> None:
    """A create not framed yet is framed from the row as the writer finds it. Before that row
    changes, its create keeps the contract (and time) it was created with."""
    waiting = LedgerOutbox.objects.using(using).filter(signal_pk=pk, operation=Operation.CREATE, contract=None)
    if not waiting.exists():
        return
    created = (
        Signal.objects.using(using)
        .filter(pk=pk)
        .values_list(Cast("contract", output_field=TextField()), "created_at")
        .first()
    )
    if created is not None:
        contract, created_at = created
        waiting.update(contract=contract, saved_at=created_at)


def _keep_created_contracts(pks: list[int]) -> None:
    """``_keep_created_contract`` for a bulk delete (ascending pks): one query over their range
    finds the waiting creates, which are rare (a writer that fell behind)."""
    if not pks:
        return
    wanted = set(pks)
    waiting = LedgerOutbox.objects.filter(
        signal_pk__gte=pks[0], signal_pk__lte=pks[-1], operation=Operation.CREATE, contract=None
    )
    for pk in waiting.values_list("signal_pk", flat=True):
        if pk in wanted:
            _keep_created_contract(pk, "default")


@receiver(post_delete, sender=Signal, dispatch_uid="ledger.signal_deleted")
def signal_deleted(sender, instance, using, origin=None, **kwargs):
    LedgerOutbox.objects.using(using).create(
        operation=Operation.DELETE,
        signal_pk=instance.pk,
        signal_id=instance.signal_id,
        contract=deletion_record(*(getattr(instance, name) for name in DELETION_FIELDS)),
        saved_at=timezone.now(),
    )
    _drain_after_commit(using)


@receiver(signals_bulk_created, dispatch_uid="ledger.signals_bulk_created")
def signals_bulk_saved(sender, signals, **kwargs):
    saved_at = timezone.now()
    append_rows(
        LedgerOutbox._meta.db_table,
        OUTBOX_COLUMNS,
        [(Operation.CREATE.value, saved.pk, saved.signal_id, None, saved_at) for saved in signals],
    )
    if settings.LEDGER_DRAIN_ON_COMMIT == "inline":
        # Once committed, this process's drain frames them from memory instead of reading them
        # back (in the other modes another process drains, and nothing here would free them).
        transaction.on_commit(partial(remember_committed, signals))
    _drain_after_commit("default")


@receiver(signals_bulk_deleted, dispatch_uid="ledger.signals_bulk_deleted")
def signals_bulk_removed(sender, signals, **kwargs):
    # Sent before the rows go: a create still waiting in the outbox keeps its contract, as for a
    # row deleted by the ORM; the delete frames need only what the announcement says.
    if not signals:
        return
    _keep_created_contracts([gone.pk for gone in signals])
    # One outbox row for the whole batch, a deletion record per line (LedgerOutbox.saves).
    first = signals[0]
    LedgerOutbox.objects.create(
        operation=Operation.DELETE,
        signal_pk=first.pk,
        signal_id=first.signal_id,
        contract=bulk_contract(deletion_record(*gone[1:]) for gone in signals),
        saved_at=timezone.now(),
        saves=len(signals),
    )
    _drain_after_commit("default")


def _drain_after_commit(using: str) -> None:
    """Ask for one drain when this transaction commits, however many saves it holds."""
    pending = getattr(connections[using], "run_on_commit", [])
    if any(entry[1] is drain_now for entry in pending):
        return
    transaction.on_commit(drain_now, using=using)


def drain_now() -> None:
    """Run after a commit: the save is durable whatever happens here, so no drain error is raised."""
    mode = settings.LEDGER_DRAIN_ON_COMMIT
    if mode == "off":
        return
    if mode == "task":
        from ledger.tasks import ledger_drain

        ledger_drain.delay()
        return
    from ledger.services.writer import ledger_drain
    from ledger.wal import LedgerError

    try:
        ledger_drain()
    except SoftTimeLimitExceeded:
        # The task that committed (a poll) is out of time: it must stop and record its run, not go
        # on until the hard limit kills its process with the poll lock still held.
        raise
    except LedgerError as exc:  # a full disk, damage: one sentence says what and what to do
        log.error("ledger: drain after commit failed: %s", exc)
    except Exception:
        # The outbox keeps the save; the periodic drain retries and ``ledger verify`` reports.
        log.exception("ledger: drain after commit failed; the periodic drain will retry")
