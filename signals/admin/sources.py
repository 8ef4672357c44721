"""What the sources brought: their events (with a sparkline), rejections (with a summary), runs and states."""

from datetime import UTC, datetime

import orjson
from django.contrib import admin
from django.db.models import Count, Min
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from signals.models import ProbabilityPoint, Rejection, SourceEvent, SourceRun, SourceState
from signals.models.choices import RejectionStage
from signals.selectors import source_health
from utilities.admin import ReadOnlyAdmin, add_changelist_context
from utilities.charts import sparkline

# The stylesheet of utilities.charts (the admin's theme colours), and this app's.
CHARTS_CSS = "omen_site/charts.css"
SIGNALS_CSS = "signals/admin.css"

# The rejections summed up above their list: at most this many, the newest, of those in view.
SUMMARY_ROWS = 10_000
# The points a source event's page lists, the newest: a market polled every two minutes keeps
# 1,000 to 1,700 between nightly sweeps (probability_history), each a row of the page. The
# signal page charts the newest 500.
EVENT_PAGE_POINTS = 100

# Each state a source or a run can be in, as one of the stylesheet's health tones.
HEALTH_TONES = {
    "healthy": "good",
    "degraded": "warning",
    "circuit open": "bad",
    "disabled": "idle",
    "unknown": "idle",
}
OUTCOME_TONES = {
    SourceRun.Outcome.OK: "good",
    SourceRun.Outcome.RUNNING: "idle",
    SourceRun.Outcome.SKIPPED_BUSY: "warning",
    SourceRun.Outcome.CIRCUIT_OPEN: "bad",
    SourceRun.Outcome.FAILED: "bad",
    SourceRun.Outcome.DISABLED: "idle",
}
BREAKER_TONES = {
    SourceState.Breaker.CLOSED: "good",
    SourceState.Breaker.HALF_OPEN: "warning",
    SourceState.Breaker.OPEN: "bad",
}


def health_badge(label: str, tone: str):
    return format_html('<span class="health health-{}">{}</span>', tone, label)


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ProbabilityPointInline(admin.TabularInline):
    model = ProbabilityPoint
    fields = ("observed_at", "probability", "volume", "liquidity")
    readonly_fields = fields
    ordering = ("-observed_at",)
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(SourceEvent)
class SourceEventAdmin(ReadOnlyAdmin):
    list_display = (
        "source",
        "external_id",
        "title",
        "last_probability",
        "recent_probabilities",
        "last_seen_at",
        "latest_signal",
    )
    list_filter = ("source",)
    search_fields = ("title", "=external_id")
    ordering = ("-last_seen_at",)
    list_select_related = ("latest_signal",)
    readonly_fields = (
        "source",
        "external_id",
        "title",
        "url",
        "first_seen_at",
        "last_seen_at",
        "last_probability",
        "latest_signal",
    )
    fields = readonly_fields
    inlines = [ProbabilityPointInline]

    class Media:
        css = {"all": [CHARTS_CSS, SIGNALS_CSS]}

    def has_change_permission(self, request, obj=None):
        # The inline needs view access only; nothing here is editable.
        return False

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, ProbabilityPointInline) and obj is not None:
            # Bounded before the formset adds its own filter (on the event), which a slice would refuse.
            newest = obj.probability_points.order_by("-observed_at").values("pk")[:EVENT_PAGE_POINTS]
            kwargs["queryset"] = kwargs["queryset"].filter(pk__in=newest)
            inline.verbose_name_plural = f"probability points (the newest {EVENT_PAGE_POINTS})"
        return kwargs

    @admin.display(description="recent probabilities")
    def recent_probabilities(self, event):
        """The row's own recent history (no query per row): [[epoch seconds, probability, volume], ...]."""
        try:
            points = [(epoch, p) for epoch, p, *_ in orjson.loads(event.recent_history) if isinstance(p, int | float)]
        except (orjson.JSONDecodeError, TypeError, ValueError):
            points = []  # a history ingest did not write is no reason to fail the whole list
        if not points:
            return "-"
        chart = sparkline(
            chart_id=f"event-{event.pk}-recent",
            title=f"Recent probabilities of {shortened(event.title, 80)}",
            values=[p for _, p in points],
            labels=[f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC" for epoch, _ in points],
        )
        # utilities.charts escaped every text in it. Its Html is safe to templates (__html__), but the
        # admin's cell takes str() of a value, which only Django's SafeString survives.
        return mark_safe(str(chart))


def rejection_summary(queryset) -> dict:
    """Counts by rule and stage of the newest SUMMARY_ROWS rejections in ``queryset`` (the list as filtered).

    One GROUP BY over a capped set: the newest rows by the created_at index, as many as the list's
    capped count would read, so it costs the same at a million rejections as at a thousand.
    """
    newest = queryset.order_by("-created_at").values("pk")[:SUMMARY_ROWS]
    groups = list(
        Rejection.objects.filter(pk__in=newest)
        .values("rule", "stage")
        .annotate(count=Count("pk"), since=Min("created_at"))
        .order_by("-count", "rule", "stage")
    )
    total = sum(group["count"] for group in groups)
    return {
        "rows": [
            {"rule": group["rule"], "stage": RejectionStage(group["stage"]).label, "count": group["count"]}
            for group in groups
        ],
        "total": total,
        "capped": total >= SUMMARY_ROWS,
        "since": min((group["since"] for group in groups), default=None),
    }


@admin.register(Rejection)
class RejectionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "source", "external_id", "stage", "rule", "status", "short_reason")
    # status has choices; a filter on rule would run SELECT DISTINCT over the table.
    list_filter = ("source", "stage", "status")
    search_fields = ("=external_id",)
    ordering = ("-created_at", "-id")
    fields = (
        "source",
        "external_id",
        "stage",
        "rule",
        "rule_version",
        "status",
        "field",
        "score",
        "reason",
        "excerpt",
        "input_hash",
        "observed_at",
        "created_at",
    )
    readonly_fields = fields

    class Media:
        css = {"all": [SIGNALS_CSS]}

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        return add_changelist_context(response, rejection_summary=lambda list_: rejection_summary(list_.queryset))

    @admin.display(description="reason")
    def short_reason(self, obj):
        return shortened(obj.reason, 120)


@admin.register(SourceRun)
class SourceRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "source",
        "outcome_badge",
        "http_status",
        "attempts",
        "fetched",
        "accepted",
        "rejected",
        "unchanged",
        "short_error",
    )
    list_filter = ("source", "outcome")
    ordering = ("-started_at", "-id")
    readonly_fields = [f.name for f in SourceRun._meta.fields]

    class Media:
        css = {"all": [SIGNALS_CSS]}

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, run):
        return health_badge(run.get_outcome_display(), OUTCOME_TONES.get(run.outcome, "idle"))

    @admin.display(description="error")
    def short_error(self, obj):
        return shortened(obj.error, 100)


@admin.register(SourceState)
class SourceStateAdmin(ReadOnlyAdmin):
    """Each source's health, circuit breaker and poll lock, shared by every worker."""

    list_display = ("source", "health", "breaker_badge", "consecutive_failures", "opened_at", "polling_since")
    readonly_fields = [f.name for f in SourceState._meta.fields]

    class Media:
        css = {"all": [SIGNALS_CSS]}

    @admin.display(description="health")
    def health(self, state):
        health = source_health(state.source)
        return health_badge(health, HEALTH_TONES.get(health, "idle"))

    @admin.display(description="breaker", ordering="breaker")
    def breaker_badge(self, state):
        return health_badge(state.get_breaker_display(), BREAKER_TONES.get(state.breaker, "idle"))
