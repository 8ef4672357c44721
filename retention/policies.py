"""The retention table: what each policy covers, how long it keeps it, and what expiry does.

The defaults are OMEN's documented retention table. An environment variable
``RETENTION_KEEP_<NAME>`` (``90d``, ``168h``, ``7y``) overrides a default for a deployment; a
value an operator sets on the policy in the admin overrides both. ``checks.py`` refuses to start
on an override it cannot read.

A year here is 365.25 days rounded up (1y = 366 days, 7y = 2557 days): a record is never
deleted before its calendar period is over. No policy keeps longer than ``MAX_KEEP_FOR`` (100y).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from retention.models import Action, RetentionPolicy
from retention.models.policy import MAX_KEEP_FOR, MAX_KEEP_YEARS, MIN_KEEP_FOR

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdy])\s*$")
_LONGEST = f"{MAX_KEEP_YEARS}y ({MAX_KEEP_FOR.days}d)"


def years(count: int) -> timedelta:
    return timedelta(days=math.ceil(365.25 * count))


def parse_duration(text: str) -> timedelta:
    """``90d``, ``168h``, ``7y``, ``30m``, ``45s`` → a timedelta; anything else is a ValueError naming the forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: write a whole number and a unit, e.g. 90d, 168h or 7y")
    try:
        count, unit = int(match.group(1)), match.group(2)
        return years(count) if unit == "y" else timedelta(seconds=count * _UNITS[unit])
    except (OverflowError, ValueError):  # ValueError: more digits than int() reads
        raise ValueError(f"{text!r} is longer than the longest period a policy keeps, {_LONGEST}") from None


def format_duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class PolicyDefault:
    name: str
    covers: str
    keep_for: timedelta
    action: Action
    max_per_key: int | None = None
    why: str = ""

    @property
    def environment_variable(self) -> str:
        return f"RETENTION_KEEP_{self.name.upper()}"


DEFAULTS: dict[str, PolicyDefault] = {
    policy.name: policy
    for policy in (
        PolicyDefault(
            "signals",
            "Signals (but those a partner pushed: see partner_signals), by generated_at: after this they "
            "leave the database for a daily archive file.",
            timedelta(days=90),
            Action.ARCHIVE_THEN_DELETE,
            why="OMEN's table: signal data hot 90 days, then archived.",
        ),
        PolicyDefault(
            "partner_signals",
            "Signals a partner pushed (the ingest API), by generated_at, whether this is shorter than the "
            "signals policy or longer: archived, then deleted.",
            timedelta(days=30),
            Action.ARCHIVE_THEN_DELETE,
            why="OMEN's table: partner signals 30 days.",
        ),
        PolicyDefault(
            "signal_archives",
            "Daily archive files of expired signals, by their day.",
            years(1),
            Action.DELETE,
            why="OMEN's table: signal data archived 1 year.",
        ),
        PolicyDefault(
            "probability_history",
            "Each market's probability points, by observed_at; and at most this many per market.",
            timedelta(hours=168),
            Action.DELETE,
            max_per_key=1000,
            why="OMEN's table: 168 hours, at most 1,000 points per market.",
        ),
        PolicyDefault(
            "source_events",
            "Source events (market, article, ticker) not seen since, once no signal of theirs is left.",
            years(1),
            Action.DELETE,
            why="OMEN's table: market data (raw source payloads) 1 year.",
        ),
        PolicyDefault(
            "rejections",
            "Rejections, by created_at.",
            timedelta(days=90),
            Action.DELETE,
            why="A quarter: long enough to compare a rule change with the weeks before it; rejections "
            "outnumber signals, so they are not kept as long as the archive.",
        ),
        PolicyDefault(
            "source_runs",
            "Source runs (one per poll), by started_at.",
            timedelta(days=90),
            Action.DELETE,
            why="A quarter of poll history for health and failure trends; a run is operational, not evidence.",
        ),
        PolicyDefault(
            "webhook_attempts",
            "Webhook delivery attempts, by attempted_at.",
            timedelta(days=90),
            Action.DELETE,
            why="Like an API access log (OMEN's table: 90 days): what was sent to whom, for support.",
        ),
        PolicyDefault(
            "api_access_log",
            "The API access log (one row per request under /api/), by created_at.",
            timedelta(days=90),
            Action.DELETE,
            why="OMEN's table: API access log 90 days.",
        ),
        PolicyDefault(
            "idempotency_keys",
            "Stored replies to Idempotency-Key requests, by created_at.",
            timedelta(hours=24),
            Action.DELETE,
            why="A key protects a client's retries, which end within minutes; a day covers any retry loop.",
        ),
        PolicyDefault(
            "backups",
            "Database backups in BACKUP_DIR, by when they were started; the newest proven one is kept however old.",
            timedelta(days=30),
            Action.DELETE,
            why="OMEN's table: database backups 30 days. Keeping the newest proven one means a failing backup "
            "job never leaves nothing to restore.",
        ),
        PolicyDefault(
            "ledger",
            "Ledger partitions, by their day: purged from the long-term directory, each leaving a tombstone "
            "(sequence range, chain ends, manifest hash) that verify checks the chain across. A partition "
            "holding a frame of a signal still in the database is kept.",
            years(7),
            Action.TIER,
            why="OMEN's table: ledger 7 years.",
        ),
        PolicyDefault(
            "audit_trail",
            "The admin's change log and the retention runs themselves.",
            years(7),
            Action.DELETE,
            why="OMEN's table: audit trail 7 years.",
        ),
    )
}


@dataclass(frozen=True)
class EffectivePolicy:
    name: str
    covers: str
    keep_for: timedelta
    max_per_key: int | None
    action: Action
    enabled: bool
    chosen_by: str  # "default", "environment" or "admin": where keep_for came from


def environment_overrides() -> dict[str, timedelta]:
    """The ``RETENTION_KEEP_*`` overrides; a ValueError names a bad one (checks.py reports it at startup)."""
    overrides = {}
    for key, text in settings.RETENTION_KEEP.items():
        if key not in DEFAULTS:
            raise ValueError(
                f"RETENTION_KEEP_{key.upper()}: no policy {key!r}; the policies are {', '.join(sorted(DEFAULTS))}"
            )
        try:
            overrides[key] = parse_duration(text)
        except ValueError as exc:
            raise ValueError(f"RETENTION_KEEP_{key.upper()}: {exc}") from None
        if overrides[key] < MIN_KEEP_FOR:
            raise ValueError(
                f"RETENTION_KEEP_{key.upper()}: {text!r} is under an hour; a policy keeps records at least 1h"
            )
        if overrides[key] > MAX_KEEP_FOR:
            raise ValueError(
                f"RETENTION_KEEP_{key.upper()}: {text!r} is longer than the longest period a policy keeps, {_LONGEST}"
            )
    return overrides


def effective_policies() -> dict[str, EffectivePolicy]:
    """Every policy as it applies now: the admin's choice, else the environment's, else the default."""
    chosen = {row.name: row for row in RetentionPolicy.objects.all()}
    overrides = environment_overrides()
    policies = {}
    for name, default in DEFAULTS.items():
        row = chosen.get(name)
        if row is not None and row.keep_for is not None:
            # A value saved before the admin refused periods over MAX_KEEP_FOR: kept as long as
            # the longest, which for OMEN's records is the same as forever.
            keep_for, source = min(row.keep_for, MAX_KEEP_FOR), "admin"
        elif name in overrides:
            keep_for, source = overrides[name], "environment"
        else:
            keep_for, source = default.keep_for, "default"
        max_per_key = default.max_per_key
        if max_per_key is not None and row is not None and row.max_per_key is not None:
            # Only a policy with a per-key limit has a sweeper that reads one: one stored on another
            # (the admin offered it on every policy before) would be reported and never applied.
            max_per_key = row.max_per_key
        policies[name] = EffectivePolicy(
            name=name,
            covers=default.covers,
            keep_for=keep_for,
            max_per_key=max_per_key,
            action=default.action,
            enabled=row.enabled if row is not None else True,
            chosen_by=source,
        )
    return policies
