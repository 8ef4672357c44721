"""Admin building blocks for tables that only ingest and the ledger write, and that grow large."""

import orjson
from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.html import format_html

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows, so a page view never scans a whole big table."""

    @cached_property
    def count(self):
        return self.object_list[: COUNT_CAP + 1].count()


def pretty_json(value):
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return format_html('<pre style="white-space: pre-wrap; max-width: 70em">{}</pre>', text)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by ingest and the ledger are evidence: analysts inspect, never edit them."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are a COUNT per filter choice
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
