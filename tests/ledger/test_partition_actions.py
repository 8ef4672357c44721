"""The partitions list's actions: "verify now" reads a partition back wherever its tier keeps it and
says how it went on its row; "seal now" seals what is due; only operators may run them."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from ledger.models import LedgerPartition
from ledger.services import partition_check
from ledger.services.seal import partition_seal
from ledger.services.tiers import partition_archive, partition_compress
from ledger.services.writer import ledger_drain
from omen_site.celery import app as celery_app
from tests.support.factories import SignalFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, 12, tzinfo=UTC)
CHANGELIST = "admin:ledger_ledgerpartition_changelist"


@pytest.fixture(autouse=True)
def drains_when_told(settings):
    settings.LEDGER_DRAIN_ON_COMMIT = "off"


@pytest.fixture
def tasks_run_here(monkeypatch):
    """The admin's tasks run in the request, so a test sees what the worker would leave."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def sealed_partition(moment: datetime = DAY, signals: int = 3) -> str:
    SignalFactory.create_batch(signals)
    ledger_drain(now=moment)
    name = moment.date().isoformat()
    partition_seal(name, now=moment + timedelta(days=1))
    return name


def client_in(django_user_model, role: str) -> Client:
    user = django_user_model.objects.create_user(username=role, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("tier", ["hot", "warm", "cold"])
def test_a_sealed_partition_is_read_back_in_its_tier_and_its_row_says_so(tier):
    name = sealed_partition()
    SignalFactory()
    ledger_drain(now=DAY + timedelta(days=3))  # the writer moves on, so the partition may move
    if tier != "hot":
        partition_compress(name, now=DAY + timedelta(days=8))
    if tier == "cold":
        partition_archive(name, now=DAY + timedelta(days=31))

    check = partition_check.partition_check(name, now=DAY + timedelta(days=40))

    assert check.ok, check.detail
    assert check.detail.startswith("sealed: 3 frames in 1 segment(s) read back")
    row = LedgerPartition.objects.get(name=name)
    assert (row.check_ok, row.checked_at, row.verified_at) == (True, DAY + timedelta(days=40), DAY + timedelta(days=40))


def test_a_partition_archived_right_after_it_was_read_back_is_checked_again_where_it_went(monkeypatch):
    """Read back in LEDGER_DIR, then archived before its manifest was read: the check said the
    sealed partition's segments differed from its (vanished) manifest, a false alarm, or called it
    open."""
    name = sealed_partition()
    SignalFactory()
    ledger_drain(now=DAY + timedelta(days=3))
    partition_compress(name, now=DAY + timedelta(days=8))
    building = partition_check.build_manifest
    moved = []

    def built_then_archived(*args, **kwargs):
        built = building(*args, **kwargs)
        if not moved:
            moved.append(partition_archive(name, now=DAY + timedelta(days=31)))
        return built

    monkeypatch.setattr(partition_check, "build_manifest", built_then_archived)
    check = partition_check.partition_check(name, now=DAY + timedelta(days=40))

    assert moved and check.ok, check.detail
    assert check.detail.startswith("sealed: 3 frames in 1 segment(s) read back")


def test_a_flipped_byte_fails_the_check_naming_where(settings):
    name = sealed_partition()
    sealed_verified_at = LedgerPartition.objects.get(name=name).verified_at
    (segment,) = (Path(settings.LEDGER_DIR) / name).glob("*.wal")
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))

    check = partition_check.partition_check(name)

    assert not check.ok and check.detail.startswith("cannot be read back whole")
    row = LedgerPartition.objects.get(name=name)
    assert row.check_ok is False and row.check_result == check.detail
    assert row.verified_at == sealed_verified_at  # the last time it passed


def test_an_operator_verifies_partitions_from_the_list_and_reads_the_outcome_there(django_user_model, tasks_run_here):
    name = sealed_partition()
    operator = client_in(django_user_model, "operator")
    row = LedgerPartition.objects.get(name=name)

    response = operator.post(reverse(CHANGELIST), {"action": "verify_now", "_selected_action": [row.pk]}, follow=True)

    assert "Verifying 1 partition(s)" in response.content.decode()
    row.refresh_from_db()
    assert row.check_ok is True and row.check_result.startswith("sealed")
    listed = operator.get(reverse(CHANGELIST)).content.decode()
    assert "ok " in listed and 'name="action"' in listed and "Seal now" in listed


def test_seal_now_seals_what_is_due(django_user_model, tasks_run_here):
    SignalFactory.create_batch(2)
    ledger_drain(now=datetime.now(UTC) - timedelta(days=2))
    operator = client_in(django_user_model, "operator")

    response = operator.post(reverse("admin:ledger_ledgerpartition_seal_now"), follow=True)

    assert response.status_code == 200 and "Sealing the partitions that are due" in response.content.decode()
    assert LedgerPartition.objects.filter(sealed_at__isnull=False).count() == 1


def test_an_analyst_sees_neither_action_and_cannot_post_them(django_user_model, tasks_run_here):
    name = sealed_partition()
    analyst = client_in(django_user_model, "analyst")
    row = LedgerPartition.objects.get(name=name)

    listed = analyst.get(reverse(CHANGELIST)).content.decode()
    assert "Seal now" not in listed and "verify_now" not in listed
    assert analyst.post(reverse("admin:ledger_ledgerpartition_seal_now")).status_code == 403
    analyst.post(reverse(CHANGELIST), {"action": "verify_now", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.checked_at is None
