import re

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from signals.models import ProbabilityPoint, Rejection, RelevanceTerm, Signal, SourceEvent, SourceRun, SourceState
from signals.models.choices import Source
from signals.selectors import source_health
from signals.services.vocabulary import current_vocabulary
from utilities.admin import ReadOnlyAdmin, pretty_json

# Search terms that are ids, and the indexed column each one is looked up in.
ID_SEARCHES = [
    (re.compile(r"OMEN-[0-9A-F]{12}"), "signal_id"),
    (re.compile(r"[0-9a-f]{16}"), "trace_id"),
    (re.compile(r"[0-9a-f]{64}"), "input_event_hash"),
    (re.compile(rf"(?:{'|'.join(Source.values)})-\S+"), "source_event_id"),
]


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = (
        "signal_id",
        "title",
        "source",
        "signal_type",
        "status",
        "confidence_level",
        "probability",
        "confidence",
        "generated_at",
    )
    list_filter = ("source", "signal_type", "status", "confidence_level", "category", "generated_at")
    search_fields = ("title",)
    search_help_text = "Words of the title, or an exact signal id, trace id, input event hash or source event id."
    ordering = ("-generated_at", "-id")
    fields = (
        "signal_id",
        "event_link",
        "source",
        "source_event_id",
        "signal_type",
        "category",
        "status",
        "confidence_level",
        "probability",
        "confidence",
        "observed_at",
        "generated_at",
        "created_at",
        "input_event_hash",
        "trace_id",
        "ruleset_version",
        "contract_pretty",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        # An id goes to its own index; OR-ing it with the title search would
        # turn every id lookup into a scan of the whole table.
        term = search_term.strip()
        for pattern, column in ID_SEARCHES:
            if pattern.fullmatch(term):
                return queryset.filter(**{column: term}), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="source event")
    def event_link(self, obj):
        url = reverse("admin:signals_sourceevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event)

    @admin.display(description="contract")
    def contract_pretty(self, obj):
        return pretty_json(obj.contract)


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
    list_display = ("source", "external_id", "title", "last_probability", "last_seen_at", "latest_signal")
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

    def has_change_permission(self, request, obj=None):
        # The inline needs view access only; nothing here is editable.
        return False


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

    @admin.display(description="reason")
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 120 else obj.reason[:117] + "..."


@admin.register(SourceRun)
class SourceRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "source",
        "outcome",
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

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error if len(obj.error) <= 100 else obj.error[:97] + "..."


@admin.register(SourceState)
class SourceStateAdmin(ReadOnlyAdmin):
    """Each source's health, circuit breaker and poll lock, shared by every worker."""

    list_display = ("source", "health", "breaker", "consecutive_failures", "opened_at", "polling_since")
    readonly_fields = [f.name for f in SourceState._meta.fields]

    @admin.display(description="health")
    def health(self, obj):
        return source_health(obj.source)


@admin.register(RelevanceTerm)
class RelevanceTermAdmin(admin.ModelAdmin):
    """Operators tune relevance without a deploy; the next ingest decides with these terms."""

    list_display = ("term", "kind", "category", "weight", "enabled", "updated_at", "updated_by")
    list_filter = ("kind", "category", "enabled")
    list_editable = ("enabled",)
    search_fields = ("term", "note")
    fieldsets = (
        (
            None,
            {
                "fields": ("term", "kind", "category", "weight", "enabled", "note"),
                "description": (
                    "A watch term counts as a risk term of its category; a phrase also counts for the "
                    "built-in terms inside it. The categories political and macro count only beside a "
                    "major economy (a country, its leader or central bank), disruption only beside a "
                    "facility (a plant, port, mine...). A block term vetoes every question that names it. "
                    "Any change gives new signals a new ruleset version, and so new ids: the next poll "
                    "issues a new signal for every market it accepts."
                ),
            },
        ),
        ("Changes", {"fields": ("updated_by", "created_at", "updated_at")}),
    )
    readonly_fields = ("updated_by", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    def changelist_view(self, request, extra_context=None):
        vocabulary = current_vocabulary()
        extra_context = {
            **(extra_context or {}),
            "subtitle": f"New signals record ruleset version {vocabulary.ruleset_version}",
        }
        return super().changelist_view(request, extra_context)
