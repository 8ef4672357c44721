"""Read-side queries about signals (writes live in services/)."""

from django.db.models import Count, Max, Min

from signals.models import Rejection, Signal, SourceEvent


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
    from signals.models import SourceRun, SourceState

    state = SourceState.objects.filter(source=source).first()
    if state is not None and state.breaker == SourceState.Breaker.OPEN:
        return "circuit open"
    last = list(SourceRun.objects.recent(source, limit=3).values_list("outcome", flat=True))
    if not last:
        return "unknown"
    if last[0] == SourceRun.Outcome.DISABLED:
        return "disabled"
    if state is not None and state.consecutive_failures >= 3:
        return "degraded"
    return "healthy"
