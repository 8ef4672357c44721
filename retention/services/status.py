"""Where each policy stands: its oldest record, what has expired now, and its last run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Min
from django.utils import timezone

from ledger.models import LedgerPartition, Tier, WebhookAttempt
from retention.models import Backup, RetentionRun, SignalArchive
from retention.policies import EffectivePolicy, effective_policies
from retention.services.backup import backups_expired, backups_unlisted, backups_unlisted_expired
from retention.services.sweep import crowded_markets, orphaned_events
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent, SourceRun


@dataclass(frozen=True)
class PolicyStatus:
    policy: EffectivePolicy
    oldest: datetime | None
    expired: int
    last_run: RetentionRun | None


def _aged(name: str):
    """(queryset, time field) of what a policy ages by."""
    return {
        "signals": (Signal.objects.filter(pushed=False), "generated_at"),
        "partner_signals": (Signal.objects.filter(pushed=True), "generated_at"),
        "probability_history": (ProbabilityPoint.objects.all(), "observed_at"),
        "source_events": (SourceEvent.objects.all(), "last_seen_at"),
        "rejections": (Rejection.objects.all(), "created_at"),
        "source_runs": (SourceRun.objects.all(), "started_at"),
        "webhook_attempts": (WebhookAttempt.objects.all(), "attempted_at"),
        "idempotency_keys": (apps.get_model("omen_site", "IdempotentRequest").objects.all(), "created_at"),
        "api_access_log": (apps.get_model("omen_site", "ApiAccessLogEntry").objects.all(), "created_at"),
        "audit_trail": (apps.get_model("admin", "LogEntry").objects.all(), "action_time"),
    }.get(name)


# Policies over records of a whole day (a file, a partition), expired once the day has.
_BY_DAY = {
    "signal_archives": SignalArchive.objects.all,
    "ledger": lambda: LedgerPartition.objects.exclude(tier=Tier.PURGED),
}


def policy_status(now: datetime | None = None) -> list[PolicyStatus]:
    now = now or timezone.now()
    last_runs = {}
    for run in RetentionRun.objects.filter(dry_run=False).order_by("policy", "-started_at", "-id"):
        last_runs.setdefault(run.policy, run)
    rows = []
    for name, policy in effective_policies().items():
        cutoff = now - policy.keep_for
        if name == "backups":
            # With the directories no row names, as the sweep prunes them.
            started = [Backup.objects.aggregate(oldest=Min("started_at"))["oldest"]]
            unlisted = backups_unlisted()  # each directory's manifest read once
            started += [backup.started_at for backup in unlisted]
            oldest = min((moment for moment in started if moment is not None), default=None)
            # The newest proven one never expires.
            expired = backups_expired(cutoff).count() + len(backups_unlisted_expired(cutoff, unlisted))
        elif name in _BY_DAY:
            by_day = _BY_DAY[name]()
            oldest_day = by_day.aggregate(oldest=Min("day"))["oldest"]
            oldest = None if oldest_day is None else datetime.combine(oldest_day, datetime.min.time(), now.tzinfo)
            expired = by_day.filter(day__lt=cutoff.date()).count()
        else:
            rows_of, field = _aged(name)
            oldest = rows_of.aggregate(oldest=Min(field))["oldest"]
            aged = rows_of.filter(**{f"{field}__lt": cutoff})
            if name == "source_events":
                aged = orphaned_events(aged)  # as the sweep counts them: while a signal names one, it stays
            expired = aged.count() if oldest and oldest < cutoff else 0
            if name == "probability_history" and policy.max_per_key is not None:
                recent = rows_of.filter(**{f"{field}__gte": cutoff})
                expired += sum(
                    points - policy.max_per_key
                    for points in crowded_markets(recent, policy.max_per_key).values_list("points", flat=True)
                )
        rows.append(PolicyStatus(policy=policy, oldest=oldest, expired=expired, last_run=last_runs.get(name)))
    return rows
