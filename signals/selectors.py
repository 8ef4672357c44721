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
