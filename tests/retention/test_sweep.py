"""Sweeps: each policy at its boundary, legal holds, dry runs, counts, and the lock."""

from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from ledger.models import WebhookAttempt, WebhookSubscription
from retention.models import LegalHold, RetentionPolicy, RetentionRun
from retention.policies import DEFAULTS
from retention.services import archive
from retention.services import sweep as sweep_module
from retention.services.status import policy_status
from retention.services.sweep import sweep
from signals.models import ProbabilityPoint, Rejection, SourceEvent, SourceRun
from tests.support.factories import (
    ProbabilityPointFactory,
    RawEventFactory,
    RejectionFactory,
    SignalFactory,
    SourceEventFactory,
    SourceRunFactory,
)

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)  # when each record was made
SECOND = timedelta(seconds=1)


def _rejection():
    RejectionFactory(created_at=T)
    return Rejection.objects.all()


def _source_run():
    SourceRunFactory(started_at=T)
    return SourceRun.objects.all()


def _webhook_attempt():
    subscription = WebhookSubscription.objects.create(name="risk desk", url="https://example.com/hook", secret="s")
    WebhookAttempt.objects.create(
        subscription=subscription, position=1, signal_id="OMEN-1", attempt=1, attempted_at=T, outcome="delivered"
    )
    return WebhookAttempt.objects.all()


def _idempotency_key():
    stored = apps.get_model("omen_site", "IdempotentRequest")
    stored.objects.create(client="abcd1234", key="k-1", request_digest="0" * 64, created_at=T)
    return stored.objects.all()


def _api_access_log_entry():
    entry = apps.get_model("omen_site", "ApiAccessLogEntry")
    entry.objects.create(created_at=T, method="GET", path="/api/v1/signals/", status_code=200, duration_ms=1.5)
    return entry.objects.all()


def _admin_log_entry():
    log_entry = apps.get_model("admin", "LogEntry")
    user = get_user_model().objects.create(username="operator")
    log_entry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(RetentionPolicy),
        object_id="1",
        object_repr="signals",
        action_flag=2,
        action_time=T,
    )
    return log_entry.objects.all()


def _probability_point():
    ProbabilityPointFactory(observed_at=T)
    return ProbabilityPoint.objects.all()


def _quiet_source_event():
    SourceEventFactory(first_seen_at=T - timedelta(days=30), last_seen_at=T)
    return SourceEvent.objects.all()


AGED = {
    "rejections": _rejection,
    "source_runs": _source_run,
    "webhook_attempts": _webhook_attempt,
    "idempotency_keys": _idempotency_key,
    "api_access_log": _api_access_log_entry,
    "audit_trail": _admin_log_entry,
    "probability_history": _probability_point,
    "source_events": _quiet_source_event,
}


@pytest.mark.parametrize("policy", list(AGED))
def test_a_record_is_kept_until_its_policy_expires_it_and_not_a_second_longer(policy):
    rows = AGED[policy]()
    boundary = T + DEFAULTS[policy].keep_for

    (before,) = sweep([policy], now=boundary - SECOND)
    assert rows.count() == 1
    assert (before.status, before.counted, before.deleted) == ("ok", 0, 0)

    (after,) = sweep([policy], now=boundary + SECOND)
    assert not rows.exists()
    assert (after.status, after.counted, after.deleted, after.skipped_on_hold) == ("ok", 1, 1, 0)
    assert after.cutoff == boundary + SECOND - DEFAULTS[policy].keep_for


def test_the_audit_trail_sweep_deletes_a_users_expired_entries_though_the_user_cannot_be_deleted_until_none_are_left():
    """A user the change log names is not deleted (omen_site/audit_trail.py); the sweep still deletes
    their entries as they expire, and once the last is gone, so can the user be."""
    _admin_log_entry()  # the operator's entry at T
    operator = get_user_model().objects.get(username="operator")
    log_entry = apps.get_model("admin", "LogEntry")
    later = log_entry.objects.get()
    later.pk, later.action_time = None, T + timedelta(days=30)
    later.save()
    keep_for = DEFAULTS["audit_trail"].keep_for

    def delete_is_refused() -> bool:
        try:
            with transaction.atomic():
                operator.delete()
        except ProtectedError:
            return True
        return False

    assert delete_is_refused()
    (first,) = sweep(["audit_trail"], now=T + keep_for + SECOND)
    assert (first.status, first.counted, first.deleted, first.skipped_on_hold) == ("ok", 1, 1, 0)
    assert list(log_entry.objects.values_list("action_time", flat=True)) == [T + timedelta(days=30)]
    assert delete_is_refused()

    (second,) = sweep(["audit_trail"], now=T + timedelta(days=30) + keep_for + SECOND)
    assert (second.status, second.deleted) == ("ok", 1)
    assert not log_entry.objects.exists()
    assert not delete_is_refused()
    assert not get_user_model().objects.filter(username="operator").exists()


def test_a_dry_run_counts_and_deletes_nothing():
    for n in range(3):
        RejectionFactory(created_at=T + n * SECOND)

    (run,) = sweep(["rejections"], now=T + timedelta(days=365), dry_run=True)

    assert (run.dry_run, run.counted, run.deleted) == (True, 3, 0)
    assert Rejection.objects.count() == 3


def test_held_records_are_counted_and_kept_from_every_sweep():
    held_event = SourceEventFactory(last_seen_at=T)
    free_event = SourceEventFactory(last_seen_at=T)
    ProbabilityPointFactory(source_event=held_event, observed_at=T)
    ProbabilityPointFactory(source_event=free_event, observed_at=T)
    RejectionFactory(source="polymarket", external_id=held_event.external_id, created_at=T)
    RejectionFactory(source="polymarket", external_id="other", created_at=T)
    SourceRunFactory(source="yahoo", started_at=T)
    SourceRunFactory(source="polymarket", started_at=T)
    LegalHold.objects.create(source_event=held_event, reason="litigation 2026-17")
    LegalHold.objects.create(source="yahoo", reason="regulator's request")

    runs = {run.policy: run for run in sweep(now=T + timedelta(days=800))}

    assert list(SourceEvent.objects.all()) == [held_event]
    assert list(ProbabilityPoint.objects.values_list("source_event", flat=True)) == [held_event.pk]
    assert list(Rejection.objects.values_list("external_id", flat=True)) == [held_event.external_id]
    assert list(SourceRun.objects.values_list("source", flat=True)) == ["yahoo"]
    for policy in ("source_events", "probability_history", "rejections", "source_runs"):
        run = runs[policy]
        assert (run.counted, run.deleted, run.skipped_on_hold) == (2, 1, 1), policy


def test_a_released_hold_holds_nothing():
    RejectionFactory(source="yahoo", created_at=T)
    LegalHold.objects.create(source="yahoo", reason="closed case", released_at=T)

    (run,) = sweep(["rejections"], now=T + timedelta(days=91))

    assert (run.deleted, run.skipped_on_hold) == (1, 0)


def test_a_market_keeps_its_newest_points_up_to_the_policys_count():
    event = SourceEventFactory()
    for n in range(7):
        ProbabilityPointFactory(source_event=event, observed_at=T + n * timedelta(minutes=5))
    RetentionPolicy.objects.create(name="probability_history", max_per_key=4)

    (run,) = sweep(["probability_history"], now=T + timedelta(hours=1))

    kept = list(ProbabilityPoint.objects.order_by("observed_at").values_list("observed_at", flat=True))
    assert kept == [T + n * timedelta(minutes=5) for n in range(3, 7)]
    assert run.deleted == 3


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_held_markets_points_past_the_count_are_kept_and_counted_on_hold(dry_run):
    held, free = SourceEventFactory(), SourceEventFactory()
    for event in (held, free):
        for n in range(7):
            ProbabilityPointFactory(source_event=event, observed_at=T + n * timedelta(minutes=5))
    LegalHold.objects.create(source_event=held, reason="litigation 2026-18")
    RetentionPolicy.objects.create(name="probability_history", max_per_key=4)

    (run,) = sweep(["probability_history"], now=T + timedelta(hours=1), dry_run=dry_run)

    assert ProbabilityPoint.objects.filter(source_event=held).count() == 7
    assert (run.skipped_on_hold, run.deleted) == (3, 0 if dry_run else 3)


def test_the_status_counts_as_expired_what_a_sweep_then_deletes():
    now = T + timedelta(days=400)
    named = SignalFactory(raw_event=RawEventFactory(observed_at=now)).event
    SourceEvent.objects.filter(pk=named.pk).update(last_seen_at=T)  # quiet for a year, but a signal names it
    SourceEventFactory(last_seen_at=T)  # quiet, and named by nothing
    crowded = SourceEventFactory(last_seen_at=now)
    for n in range(7):
        ProbabilityPointFactory(source_event=crowded, observed_at=now - n * timedelta(minutes=5))
    RetentionPolicy.objects.create(name="probability_history", max_per_key=4)

    expired = {row.policy.name: row.expired for row in policy_status(now)}
    runs = {run.policy: run for run in sweep(["source_events", "probability_history"], now=now, dry_run=True)}

    assert (expired["source_events"], expired["probability_history"]) == (1, 3)
    assert (runs["source_events"].counted, runs["probability_history"].counted) == (1, 3)


def test_deletes_go_in_batches_and_the_counts_add_up():
    for n in range(7):
        RejectionFactory(created_at=T + n * SECOND)

    (run,) = sweep(["rejections"], now=T + timedelta(days=365), batch_size=3)

    assert (run.counted, run.deleted) == (7, 7) and not Rejection.objects.exists()


def test_a_disabled_policy_is_skipped_unless_named():
    RejectionFactory(created_at=T)
    RetentionPolicy.objects.create(name="rejections", enabled=False)

    assert "rejections" not in {run.policy for run in sweep(now=T + timedelta(days=365))}
    assert Rejection.objects.count() == 1
    (run,) = sweep(["rejections"], now=T + timedelta(days=365))
    assert run.deleted == 1


def test_a_policy_named_twice_is_swept_once():
    """The fault probe's `sweep --policy backups --policy backups` ran the policy twice, two runs recorded."""
    runs = sweep(["rejections", "backups", "rejections"], dry_run=True)

    assert [run.policy for run in runs] == ["rejections", "backups"]
    assert RetentionRun.objects.count() == 2


def test_a_policy_whose_cutoff_cannot_be_computed_fails_alone_and_the_others_run(monkeypatch):
    import dataclasses

    from retention.services import sweep as sweep_module

    RejectionFactory(created_at=T)
    SourceRunFactory(started_at=T)
    real = sweep_module.effective_policies

    def with_a_period_past_the_calendar():
        policies = real()
        policies["rejections"] = dataclasses.replace(policies["rejections"], keep_for=timedelta.max)
        return policies

    monkeypatch.setattr(sweep_module, "effective_policies", with_a_period_past_the_calendar)

    runs = {run.policy: run for run in sweep(["rejections", "source_runs"], now=T + timedelta(days=365))}

    assert runs["rejections"].status == "failed" and "OverflowError" in runs["rejections"].error
    assert runs["rejections"].cutoff is None and runs["rejections"].finished_at is not None
    assert (runs["source_runs"].status, runs["source_runs"].deleted) == ("ok", 1)
    assert Rejection.objects.count() == 1 and not SourceRun.objects.exists()


def test_a_run_a_killed_sweep_left_running_is_marked_interrupted():
    killed = RetentionRun.objects.create(policy="rejections", started_at=T)

    sweep(["rejections"], now=T + timedelta(days=1))

    killed.refresh_from_db()
    assert killed.status == RetentionRun.Status.INTERRUPTED and killed.finished_at is not None


def test_a_sweep_stopped_by_ctrl_c_marks_its_run_interrupted_at_once(monkeypatch):
    """The fault probe's Ctrl-C left the run `running`, and `retention status` said so, until the next sweep."""
    RejectionFactory(created_at=T)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setitem(sweep_module.SWEEPERS, "rejections", stopped)
    with pytest.raises(KeyboardInterrupt):
        sweep(["rejections"], now=T + timedelta(days=365))

    (run,) = RetentionRun.objects.all()
    assert run.status == RetentionRun.Status.INTERRUPTED and run.finished_at is not None
    assert run.error == "stopped by Ctrl-C: the next sweep finishes its work"


def test_a_second_sweep_while_one_runs_is_refused():
    with archive.sweep_lock(), pytest.raises(archive.SweepRunning, match="another retention sweep"):
        sweep(["rejections"])


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="another host on the same database: PostgreSQL (a SQLite file is one host's, its directory lock covers it)",
)
def test_a_sweep_on_another_host_of_the_same_database_is_refused_and_marks_nothing(settings, tmp_path):
    import psycopg

    killed = RetentionRun.objects.create(policy="rejections", cutoff=T, started_at=T)  # "running"
    settings.RETENTION_ARCHIVE_DIR = tmp_path / "this-hosts-archive"  # so the directory's lock is free
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [archive._SWEEP_ADVISORY_KEY])  # the other host's sweep

        with pytest.raises(archive.SweepRunning, match="on another host"):
            sweep(["rejections"])
        killed.refresh_from_db()
        assert killed.status == RetentionRun.Status.RUNNING  # its run is not taken for a killed one
        # The other host's sweep ends. (Unlocked here: after a disconnect the server releases the
        # lock when its backend notices, a moment later, which a test must not race.)
        other.execute("SELECT pg_advisory_unlock(%s)", [archive._SWEEP_ADVISORY_KEY])

    assert [run.policy for run in sweep(["rejections"])] == ["rejections"]  # this host may sweep again


def test_an_unknown_policy_is_refused_by_name():
    with pytest.raises(ValueError, match="no policy rejection;"):
        sweep(["rejection"])


@pytest.mark.parametrize("rows", ["0", "10001", "many"])
def test_a_batch_size_outside_what_a_batch_may_hold_is_refused(rows):
    with pytest.raises(CommandError, match=f"argument --batch-size: '{rows}': rows per transaction, from 1 to 10,000"):
        call_command("retention", "sweep", "--policy", "rejections", "--batch-size", rows)


@pytest.mark.slow
def test_a_batch_size_out_of_range_is_a_bad_argument_not_a_failed_sweep(tmp_path):
    """It exited 1, which the sweep documents as a policy failed or another sweep running."""
    from tests.omen_site.commandline import manage

    result = manage(
        "retention",
        "sweep",
        "--batch-size",
        "0",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        OMEN_VAR_DIR=str(tmp_path),
    )

    assert result.returncode == 64, result.stderr
    assert result.stderr.splitlines()[-1].endswith("argument --batch-size: '0': rows per transaction, from 1 to 10,000")


@pytest.mark.parametrize("size", [-1, 10_001])
def test_a_batch_size_out_of_range_from_code_is_refused_before_any_policy_runs(size):
    """call_command(..., batch_size=-1) passes no argparse type: every policy ran and failed."""
    with pytest.raises(ValueError, match=f"batch size {size}: rows per transaction, from 1 to 10,000"):
        sweep(batch_size=size)
    assert not RetentionRun.objects.exists()


def test_the_command_prints_a_summary_and_the_status(capsys):
    RejectionFactory(created_at=T)
    RejectionFactory(created_at=timezone.now())

    call_command("retention", "sweep", "--policy", "rejections", "--dry-run")
    out = capsys.readouterr().out
    assert "dry run: nothing deleted" in out and "rejections" in out and Rejection.objects.count() == 2
    call_command("retention", "sweep", "--policy", "rejections", "--batch-size", "1")
    (row,) = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("rejections")]
    assert row[3:6] == ["1", "0", "1"] and row[-1] == "ok"  # counted, archived, deleted
    call_command("retention", "status")
    status = capsys.readouterr().out
    lines = {line.split()[0]: line for line in status.splitlines()[1:]}
    assert lines.keys() == DEFAULTS.keys()
    assert "90d" in lines["rejections"] and "1 deleted" in lines["rejections"]


def test_an_event_a_released_hold_names_is_kept_and_counted_not_a_failure():
    event = SourceEventFactory(last_seen_at=T)
    LegalHold.objects.create(source_event=event, reason="closed case", released_at=T)

    (run,) = sweep(["source_events"], now=T + timedelta(days=400))

    assert (run.status, run.deleted, run.skipped_on_hold) == ("ok", 0, 1)
    assert SourceEvent.objects.filter(pk=event.pk).exists()


def test_webhook_attempts_of_a_held_sources_signals_are_kept():

    held = SignalFactory(raw_event=RawEventFactory(source="yahoo", external_id="ACME-1", event_id="stock-ACME-1"))
    subscription = WebhookSubscription.objects.create(name="desk", url="https://example.com/hook", secret="s")
    for n, signal_id in enumerate([held.signal_id, "OMEN-GONE"]):
        WebhookAttempt.objects.create(
            subscription=subscription, position=n, signal_id=signal_id, attempt=1, attempted_at=T, outcome="delivered"
        )
    LegalHold.objects.create(source="yahoo", reason="regulator")

    (run,) = sweep(["webhook_attempts"], now=T + timedelta(days=91))

    assert list(WebhookAttempt.objects.values_list("signal_id", flat=True)) == [held.signal_id]
    assert (run.deleted, run.skipped_on_hold) == (1, 1)


# OMEN's documented retention table (docs/operations.md), written out here rather than read from
# the code under test.
DOCUMENTED = {
    "signals": timedelta(days=90),
    "partner_signals": timedelta(days=30),
    "signal_archives": timedelta(days=366),
    "probability_history": timedelta(hours=168),
    "source_events": timedelta(days=366),
    "rejections": timedelta(days=90),
    "source_runs": timedelta(days=90),
    "webhook_attempts": timedelta(days=90),
    "idempotency_keys": timedelta(hours=24),
    "api_access_log": timedelta(days=90),
    "backups": timedelta(days=30),
    "ledger": timedelta(days=2557),
    "audit_trail": timedelta(days=2557),
}


def test_the_defaults_are_the_documented_table():
    assert {name: policy.keep_for for name, policy in DEFAULTS.items()} == DOCUMENTED
    assert DEFAULTS["probability_history"].max_per_key == 1000


def test_a_keep_for_under_an_hour_is_refused_in_the_admin_and_the_environment(settings):
    from django.core.exceptions import ValidationError

    from retention.policies import environment_overrides

    with pytest.raises(ValidationError, match="At least an hour"):
        RetentionPolicy(name="signals", keep_for=timedelta(seconds=90)).full_clean()
    with pytest.raises(ValidationError):
        RetentionPolicy(name="probability_history", max_per_key=0).full_clean()
    settings.RETENTION_KEEP = {"signals": "0d"}
    with pytest.raises(ValueError, match="RETENTION_KEEP_SIGNALS: '0d' is under an hour"):
        environment_overrides()
