"""One row of every model the admin lists, for tests that open every changelist and change page."""

from datetime import date

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from ledger.models import LedgerOutbox, LedgerPartition, LedgerWriterState, WebhookSubscription
from omen_site.api.access_log import ApiAccessLogEntry
from omen_site.api.keys import ApiKey
from retention.models import Backup, LegalHold, RetentionPolicy, RetentionRun, SignalArchive
from signals.models import Rejection, RelevanceTerm, Signal, SourceEvent, SourceRun, SourceState
from tests.support.factories import (
    LedgerOutboxFactory,
    LedgerPartitionFactory,
    RejectionFactory,
    SignalFactory,
    SourceRunFactory,
    SourceStateFactory,
)

# The apps whose every model both roles may view (omen_site/migrations/0005_roles.py says why).
VIEWED_APPS = ("signals", "ledger", "retention", "omen_site", "django_celery_beat")

MAKERS = {
    Signal: SignalFactory,
    SourceEvent: lambda: SignalFactory().event,
    Rejection: RejectionFactory,
    SourceRun: SourceRunFactory,
    SourceState: SourceStateFactory,
    RelevanceTerm: lambda: RelevanceTerm.objects.create(term="strait closure", category="disruption"),
    LedgerOutbox: LedgerOutboxFactory,
    LedgerPartition: LedgerPartitionFactory,
    LedgerWriterState: lambda: LedgerWriterState.objects.get_or_create(id=1)[0],
    WebhookSubscription: lambda: WebhookSubscription.objects.create(
        name="risk desk", url="https://risk.example/omen", secret="s" * 32
    ),
    ApiKey: lambda: ApiKey.issue("partner", ["read:signals"])[0],
    ApiAccessLogEntry: lambda: ApiAccessLogEntry.objects.create(
        method="GET", path="/api/v1/signals/", status_code=200, duration_ms=1.0
    ),
    RetentionPolicy: lambda: RetentionPolicy.objects.get_or_create(name="signals")[0],
    LegalHold: lambda: LegalHold.objects.create(source="polymarket", reason="litigation"),
    RetentionRun: lambda: RetentionRun.objects.create(policy="signals", started_at=timezone.now()),
    SignalArchive: lambda: SignalArchive.objects.create(
        day=date(2026, 1, 1), path="2026-01-01", rows=1, bytes=1, sha256="0" * 64, written_at=timezone.now()
    ),
    Backup: lambda: Backup.objects.create(started_at=timezone.now(), backend=Backup.Backend.SQLITE),
    # The beat schedule's tasks and their interval exist after every migrate (omen_site/schedule.py).
    PeriodicTask: lambda: PeriodicTask.objects.first(),
    IntervalSchedule: lambda: IntervalSchedule.objects.first(),
    CrontabSchedule: lambda: CrontabSchedule.objects.create(minute="0", hour="3"),
    SolarSchedule: lambda: SolarSchedule.objects.create(event="sunrise", latitude=51.95, longitude=4.14),
    ClockedSchedule: lambda: ClockedSchedule.objects.create(clocked_time=timezone.now()),
}


def viewed_admin_models() -> list:
    """Every model of the viewed apps that the admin lists, by label."""
    return sorted(
        (model for model in admin.site._registry if model._meta.app_label in VIEWED_APPS),
        key=lambda model: model._meta.label,
    )


def a_row_of(model):
    """A saved row of ``model``: the first there is, else one made for the test."""
    row = model._default_manager.first()
    if row is None:
        assert model in MAKERS, f"add a maker for {model._meta.label} to tests/omen_site/admin_rows.py"
        row = MAKERS[model]()
    assert row is not None and row.pk is not None, model._meta.label
    return row


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
