"""Read-side queries about signals (writes live in services/)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate

from signals.models import Rejection, Signal, SourceEvent, SourceRun, SourceState
from signals.models.choices import ConfidenceLevel, SignalStatus, SignalType, Source


def signal_counts_by_source_and_status() -> list[dict]:
    return list(Signal.objects.values("source", "status").annotate(count=Count("id")).order_by("source", "status"))


def signal_time_range() -> dict:
    """Oldest and newest signal by generation time (None, None when empty)."""
    return Signal.objects.aggregate(oldest=Min("generated_at"), newest=Max("generated_at"))


def storage_totals() -> dict:
    return {
        "signals": Signal.objects.count(),
        "source_events": SourceEvent.objects.count(),
        "rejections": Rejection.objects.count(),
    }


def source_health(source: str) -> str:
    """healthy, degraded (3 failures in a row), circuit open, disabled, or unknown (never polled)."""
    state = SourceState.objects.filter(source=source).first()
    last = SourceRun.objects.recent(source, limit=1).values_list("outcome", flat=True).first()
    return _health(state, last)


def _health(state: SourceState | None, last_outcome: str | None) -> str:
    if state is not None and state.breaker == SourceState.Breaker.OPEN:
        return "circuit open"
    if last_outcome is None:
        return "unknown"
    if last_outcome == SourceRun.Outcome.DISABLED:
        return "disabled"
    if state is not None and state.consecutive_failures >= 3:
        return "degraded"
    return "healthy"


def sources_overview(sources: Iterable[str]) -> list[dict]:
    """Per source, in the order given: its health, breaker, consecutive failures and last run.

    Two queries whatever the number of sources: the states, and the newest run of each source
    picked by one scalar subquery per source (each an index probe on sourcerun_source_started_idx;
    a window over all runs would read the whole, ever-growing table).
    """
    sources = list(sources)
    states = {state.source: state for state in SourceState.objects.filter(source__in=sources)}
    newest = [
        Subquery(SourceRun.objects.filter(source=source).order_by("-started_at", "-id").values("id")[:1])
        for source in sources
    ]
    last_runs = {run.source: run for run in SourceRun.objects.filter(pk__in=newest)}
    rows = []
    for source in sources:
        state, last = states.get(source), last_runs.get(source)
        rows.append(
            {
                "source": source,
                "health": _health(state, last.outcome if last else None),
                "breaker": state.breaker if state else SourceState.Breaker.CLOSED,
                "consecutive_failures": state.consecutive_failures if state else 0,
                "last_run": last,
            }
        )
    return rows


# Up to this many events, a source's latest signals are found event by event (see below).
FEW_EVENTS = 1000


def latest_per_event(signals: QuerySet[Signal], *, source: str | None = None) -> QuerySet[Signal]:
    """Of ``signals``, those no newer signal of the same source event follows: one per event.

    Newer means later ``generated_at``, the id breaking ties: the list's own order. Judged against
    every signal of the event, not only those ``signals`` keeps: other filters then narrow the
    events' current signals (``latest=true&status=ACTIVE`` is the events whose latest is active).
    ``source``, when the caller filters by it, lets a source with few events take the short way.

    Why derived, not a maintained "latest" flag: it follows from the rows alone, so it is right
    whichever path wrote or deleted them (ingest, replay, import, retention), with no extra write
    per ingested signal and nothing to keep in step. Its cost, measured on PostgreSQL with a
    million signals over 40,000 events (the shape of bench/api.py): the anti-join probes
    signal_event_newest_idx (index-only) once per row the page passes over, so the first pages
    take a few milliseconds, and walking every page passes over each signal once. What it
    cannot do fast is a source of a few events signalled all day (Open-Meteo's ports, Yahoo's
    tickers): a page passes over all of their superseded signals (1.4 s for 150,000). For those,
    the newest signal of each event is looked up event by event instead, one index probe each
    (12 ms for the same page).
    """
    if source is not None:
        newest = _newest_signal_of_each_event(source, at_most=FEW_EVENTS)
        if newest is not None:
            return signals.filter(pk__in=newest)
    # The redundant ``generated_at >=`` makes the probe a range of the index, not all the event's entries.
    newer = Signal.objects.filter(event=OuterRef("event"), generated_at__gte=OuterRef("generated_at")).filter(
        Q(generated_at__gt=OuterRef("generated_at")) | Q(pk__gt=OuterRef("pk"))
    )
    return signals.filter(~Exists(newer))


def _newest_signal_of_each_event(source: str, *, at_most: int) -> list[int] | None:
    """The id of each event's newest signal, for a source of at most ``at_most`` events; else None."""
    events = SourceEvent.objects.filter(source=source).order_by()
    # Counting first (an index range, bounded) spares a large source the per-event lookups it would discard.
    if events.values("pk")[: at_most + 1].count() > at_most:
        return None
    newest = Signal.objects.filter(event=OuterRef("pk")).order_by("-generated_at", "-id").values("pk")[:1]
    ids = events.annotate(newest=Subquery(newest)).values_list("newest", flat=True)
    return [pk for pk in ids if pk is not None]


TOP_REJECTION_REASONS = 10


def signal_stats(since: datetime, until: datetime) -> dict:
    """Signals generated in [since, until): the total and counts by source, type, status and confidence.

    One grouped query over the window (a range of signal_generated_idx; for a window holding most
    of the table, a parallel scan: 0.35 s for a million signals on PostgreSQL); the four
    breakdowns are sums of its few hundred groups at most. Every known value is present, 0 if absent.
    """
    dimensions = {
        "by_source": ("source", Source),
        "by_type": ("signal_type", SignalType),
        "by_status": ("status", SignalStatus),
        "by_confidence_level": ("confidence_level", ConfidenceLevel),
    }
    counts = {name: dict.fromkeys(choices.values, 0) for name, (_, choices) in dimensions.items()}
    groups = (
        Signal.objects.filter(generated_at__gte=since, generated_at__lt=until)
        .values(*(column for column, _ in dimensions.values()))
        .annotate(count=Count("*"))
        .order_by()
    )
    total = 0
    for group in groups:
        total += group["count"]
        for name, (column, _) in dimensions.items():
            # An imported signal may carry a value this OMEN has no choice for: it is counted too.
            counts[name][group[column]] = counts[name].get(group[column], 0) + group["count"]
    return {"total": total, **counts}


def signal_counts_by_source_and_day(since: datetime, until: datetime) -> list[tuple[str, date, int]]:
    """Signals generated in [since, until) counted by source and UTC day: (source, day, count), by day.

    One grouped query over an index alone: naming every source makes the window one range of
    signal_source_generated_idx per source (PostgreSQL: an index-only scan; SQLite: a covering
    index). Sorted here, not by the query: PostgreSQL cannot foresee that a day has many rows,
    and asked for an order it sorts every row of the window before counting them (on disk past
    work_mem) instead of counting them in a small hash table: 83 ms, not 154, for 260,000.
    """
    counts = (
        Signal.objects.filter(source__in=Source.values, generated_at__gte=since, generated_at__lt=until)
        .annotate(day=TruncDate("generated_at", tzinfo=UTC))
        .values_list("source", "day")
        .annotate(count=Count("*"))
        .order_by()
    )
    return sorted(counts, key=lambda row: (row[1], row[0]))


def rejection_stats(since: datetime, until: datetime, *, top: int = TOP_REJECTION_REASONS) -> dict:
    """Rejections created in [since, until): the total and the ``top`` most frequent (rule, reason).

    Two queries over a range of rejection_created_idx; ties in frequency go by rule then reason,
    so the list is the same on every backend.
    """
    window = Rejection.objects.filter(created_at__gte=since, created_at__lt=until)
    reasons = window.values("rule", "reason").annotate(count=Count("*")).order_by("-count", "rule", "reason")[:top]
    return {"total": window.count(), "top_reasons": list(reasons)}


def pass_rate(signals: int, rejections: int) -> float | None:
    """The share of decided inputs that became signals; None when nothing was decided."""
    decided = signals + rejections
    return round(signals / decided, 6) if decided else None


def signal_counts_by_source_type_and_status() -> list[tuple[str, str, str, int]]:
    """(source, signal_type, status, signals stored), one aggregate query."""
    return list(
        Signal.objects.order_by()
        .values_list("source", "signal_type", "status")
        .annotate(count=Count("id"))
        .values_list("source", "signal_type", "status", "count")
    )


def rejection_counts_by_source_stage_and_rule() -> list[tuple[str, str, str, int]]:
    """(source, stage, rule, rejections stored), one aggregate query."""
    return list(
        Rejection.objects.order_by()
        .values_list("source", "stage", "rule")
        .annotate(count=Count("id"))
        .values_list("source", "stage", "rule", "count")
    )


@dataclass(frozen=True)
class PollTotals:
    """One source's runs with one outcome: how many, how long the finished ones took, the last finish."""

    source: str
    outcome: str
    runs: int
    finished: int
    # Finished runs that took at most each bound of ``duration_bounds`` (cumulative, like a histogram).
    at_most: tuple[int, ...]
    seconds: float
    last_finished_at: datetime | None


def poll_totals_by_source_and_outcome(*, duration_bounds: Sequence[float]) -> list[PollTotals]:
    """Every SourceRun counted by source and outcome, in one aggregate query."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    finished = Q(finished_at__isnull=False)
    buckets = {
        f"at_most_{index}": Count("id", filter=finished & Q(duration__lte=timedelta(seconds=bound)))
        for index, bound in enumerate(duration_bounds)
    }
    rows = (
        SourceRun.objects.order_by()
        .alias(duration=duration)
        .values("source", "outcome")
        .annotate(
            runs=Count("id"),
            finished=Count("id", filter=finished),
            total=Sum("duration", filter=finished),
            last_finished_at=Max("finished_at"),
            **buckets,
        )
    )
    return [
        PollTotals(
            source=row["source"],
            outcome=row["outcome"],
            runs=row["runs"],
            finished=row["finished"],
            at_most=tuple(row[name] for name in buckets),
            seconds=row["total"].total_seconds() if row["total"] is not None else 0.0,
            last_finished_at=row["last_finished_at"],
        )
        for row in rows
    ]


def source_breaker_states() -> list[tuple[str, str, int]]:
    """(source, breaker, consecutive failures) for every source that has state."""
    return list(SourceState.objects.order_by("source").values_list("source", "breaker", "consecutive_failures"))
