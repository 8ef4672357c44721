"""The signal list: filters, a cheap date drill-down, id and title search, keyset pages, exports."""

import re

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import smart_split

from signals.admin import signal_page
from signals.admin.exports import FORMATS, export_name, export_response, filters_summary
from signals.models import Signal
from signals.models.choices import Source
from utilities.admin import (
    KeysetChangeList,
    MinMaxDateHierarchyMixin,
    ReadOnlyAdmin,
    add_changelist_context,
    pretty_json,
)

# Search terms that are ids, and the indexed column each one is looked up in.
ID_SEARCHES = [
    (re.compile(r"OMEN-[0-9A-F]{12}"), "signal_id"),
    (re.compile(r"[0-9a-f]{16}"), "trace_id"),
    (re.compile(r"[0-9a-f]{64}"), "input_event_hash"),
    (re.compile(rf"(?:{'|'.join(Source.values)})-\S+"), "source_event_id"),
]

# A title's words are a few dozen; each word searched is a condition of the query, and past about
# 1,000 SQLite refuses the query ("Expression tree is too large").
SEARCH_WORDS_MAX = 64

EXPORT_LABELS = {"csv": "Export list as CSV", "jsonl": "Export list as JSON Lines"}


@admin.register(Signal)
class SignalAdmin(MinMaxDateHierarchyMixin, ReadOnlyAdmin):
    list_display = (
        "signal_id",
        "title",
        "source",
        "signal_type",
        "status",
        "probability",
        "confidence_level",
        "observed",
    )
    # Fields with choices: each filter lists its choices, where a plain field's would run SELECT
    # DISTINCT over the table.
    list_filter = ("source", "signal_type", "status", "confidence_level", "category")
    # The list's own order, so a period's page reads the same index as every other page.
    date_hierarchy = "generated_at"
    # Served on PostgreSQL by the trigram index signal_title_trgm_idx (migration 0013).
    search_fields = ("title",)
    search_help_text = "Words of the title, or an exact signal id, trace id, input event hash or source event id."
    # KeysetChangeList pages through this order by position (signal_generated_idx).
    ordering = ("-generated_at", "-id")
    actions = ["export_selected_csv", "export_selected_jsonl"]
    # The page (change_form.html): the contract's readable fields, then the sections of
    # signal_page.page_context, then these identities and the raw contract, folded away.
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "title",
                    "source_link",
                    "signal_type",
                    "status",
                    "category",
                    "probability",
                    "confidence_with_interval",
                    "observed_at",
                    "generated_at",
                )
            },
        ),
        (
            "Identities",
            {
                "fields": (
                    "signal_id",
                    "event_link",
                    "source",
                    "source_event_id",
                    "trace_id",
                    "input_event_hash",
                    "ruleset_version",
                    "created_at",
                ),
                "classes": ["collapse"],
            },
        ),
        ("Raw JSON", {"fields": ("contract_pretty",), "classes": ["collapse"]}),
    )
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])
    change_form_template = "admin/signals/signal/change_form.html"

    class Media:
        css = {"all": ["omen_site/charts.css", "signals/admin.css"]}

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Called once Django's view has read the signal and checked the user may see it; ``obj``
        # is the instance its read-only fields show, so the event it loads serves them both.
        if obj is not None:
            context.update(signal_page.page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_changelist(self, request, **kwargs):
        return KeysetChangeList

    def get_search_results(self, request, queryset, search_term):
        # An id goes to its own index; OR-ing it with the title search would
        # turn every id lookup into a scan of the whole table.
        term = search_term.strip()
        for pattern, column in ID_SEARCHES:
            if pattern.fullmatch(term):
                return queryset.filter(**{column: term}), False
        if len(list(smart_split(term))) > SEARCH_WORDS_MAX:
            message = f"That search holds more than {SEARCH_WORDS_MAX} words: search a title by a few of its words."
            messages.error(request, message)
            raise IncorrectLookupParameters(message)
        return super().get_search_results(request, queryset, search_term)

    def has_export_permission(self, request):
        codename = get_permission_codename("export", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if not self.has_export_permission(request):
            return response
        return add_changelist_context(response, export_links=self._export_links)

    def _export_links(self, changelist):
        """Each export of the whole list as it is filtered, searched and sorted (no page position)."""
        query = changelist.get_query_string()
        return [
            (label, reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_export", args=[file_format]) + query)
            for file_format, label in EXPORT_LABELS.items()
        ]

    def get_urls(self):
        export = path(
            "export.<str:file_format>",
            self.admin_site.admin_view(self.export_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request, file_format):
        """The list's signals, every page: the ChangeList builds the queryset, so every filter,
        the date drill-down, the search and its id routing apply as on the page."""
        if file_format not in FORMATS:
            raise Http404(f"No export as {file_format!r}: {', '.join(FORMATS)}.")
        if not (self.has_view_permission(request) and self.has_export_permission(request)):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            changelist_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return HttpResponseRedirect(f"{changelist_url}?{ERROR_FLAG}=1")
        name = export_name(filters_summary(changelist.filter_params))
        return export_response(file_format, changelist.queryset, name)

    @admin.action(description="Export selected as CSV", permissions=["export"])
    def export_selected_csv(self, request, queryset):
        return export_response("csv", queryset, export_name("selected"))

    @admin.action(description="Export selected as JSON Lines", permissions=["export"])
    def export_selected_jsonl(self, request, queryset):
        return export_response("jsonl", queryset, export_name("selected"))

    @admin.display(description="observed", ordering="observed_at")
    def observed(self, obj):
        return obj.observed_at

    @admin.display(description="source")
    def source_link(self, obj):
        return signal_page.web_link(obj.event.url, obj.event.url)

    @admin.display(description="confidence")
    def confidence_with_interval(self, obj):
        return signal_page.confidence_bar(obj)

    @admin.display(description="source event")
    def event_link(self, obj):
        url = reverse("admin:signals_sourceevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event)

    @admin.display(description="contract")
    def contract_pretty(self, obj):
        return pretty_json(obj.contract)
