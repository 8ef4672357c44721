"""Read-only questions about the ledger, for reports and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from ledger.models import LedgerOutbox, LedgerPartition, LedgerWriterState


@dataclass(frozen=True)
class WriterHealth:
    """Whether the writer keeps up: what waits in the outbox, and why the last drain failed."""

    pending: int
    oldest_pending_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    stall_after: timedelta
    now: datetime

    @property
    def oldest_pending_age(self) -> timedelta | None:
        return None if self.oldest_pending_at is None else self.now - self.oldest_pending_at

    @property
    def stalled(self) -> bool:
        return bool(self.reasons)

    @property
    def reasons(self) -> list[str]:
        """Why the writer is stalled, one sentence each; empty while it keeps up."""
        reasons = []
        age = self.oldest_pending_age
        if age is not None and age > self.stall_after:
            reasons.append(
                f"{self.pending} save(s) wait in the outbox, the oldest for {_duration(age)} (more than "
                f"LEDGER_STALL_AFTER_SECONDS={self.stall_after.total_seconds():.0f}): is a drain running?"
            )
        if self.last_error:
            when = self.last_error_at.isoformat(timespec="seconds") if self.last_error_at else "?"
            reasons.append(f"the last drain failed at {when}: {self.last_error}")
        return reasons

    def as_dict(self) -> dict:
        age = self.oldest_pending_age
        return {
            "stalled": self.stalled,
            "pending": self.pending,
            "oldest_pending_age_seconds": None if age is None else round(age.total_seconds(), 1),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "summary": self.describe(),
        }

    def describe(self) -> str:
        """One line for reports."""
        if self.stalled:
            return "STALLED: " + " ".join(self.reasons)
        age = self.oldest_pending_age
        waiting = f", the oldest for {_duration(age)}" if age is not None else ""
        return f"keeping up ({self.pending} save(s) pending{waiting})"


def writer_health(*, now: datetime | None = None) -> WriterHealth:
    state = LedgerWriterState.objects.filter(pk=1).values("last_error", "last_error_at").first() or {}
    oldest = LedgerOutbox.objects.order_by("id").values_list("saved_at", flat=True).first()
    return WriterHealth(
        pending=LedgerOutbox.objects.count_saves(),
        oldest_pending_at=oldest,
        last_error=state.get("last_error", ""),
        last_error_at=state.get("last_error_at"),
        stall_after=timedelta(seconds=settings.LEDGER_STALL_AFTER_SECONDS),
        now=now or timezone.now(),
    )


@dataclass(frozen=True)
class WriterTotals:
    """What the writer has done since the ledger began: frames, and the fsyncs that made them durable."""

    frames_written: int
    fsync_count: int
    fsync_seconds: float
    last_fsync_seconds: float | None


def writer_totals() -> WriterTotals:
    state = (
        LedgerWriterState.objects.filter(pk=1)
        .values("frames_written", "fsync_count", "fsync_seconds", "last_fsync_seconds")
        .first()
    )
    return WriterTotals(**state) if state else WriterTotals(0, 0, 0.0, None)


def _duration(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def ledger_summary() -> dict:
    """Where the ledger ends, how much it holds, what waits for the writer, and the tiers."""
    state = LedgerWriterState.objects.filter(pk=1).first()
    tiers = {
        row["tier"]: {"partitions": row["partitions"], "frames": row["frames"] or 0, "bytes": row["bytes"] or 0}
        for row in LedgerPartition.objects.values("tier").annotate(
            partitions=Count("id"), frames=Sum("frames"), bytes=Sum("bytes")
        )
    }
    health = writer_health()
    return {
        "frames_written": state.frames_written if state else 0,
        "end": f"{state.partition}/{state.segment}@{state.offset}" if state and state.segment else None,
        "last_written_at": state.updated_at.isoformat() if state and state.updated_at else None,
        "saves_waiting": health.pending,
        "writer": health.as_dict(),
        "sealed_partitions_by_tier": tiers,
    }
