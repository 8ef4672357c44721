"""Admin building blocks for tables that only ingest and the ledger write, and that grow large."""

from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import orjson
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import FieldDoesNotExist, FieldError, ImproperlyConfigured, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.inspect import func_supports_parameter

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows, so a page view never scans a whole big table."""

    @cached_property
    def count(self):
        return self.object_list[: COUNT_CAP + 1].count()


def pretty_json(value):
    """A document as indented JSON; the ``pretty-json`` class (a static stylesheet) wraps its lines.

    A class, not a style attribute: pages drawn with it need nothing of the Content-Security-Policy's
    allowance for style attributes, which the admin keeps only for what still has one.
    """
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return format_html('<pre class="pretty-json">{}</pre>', text)


def add_changelist_context(response, **builders):
    """A changelist page's response, its context given what each builder makes of its ChangeList.

    A changelist view builds its ChangeList inside; its response renders later, so what depends
    on the list's filters and search can still join the context. A redirect (a bad filter) or an
    action's answer passes through untouched.
    """
    context = getattr(response, "context_data", None)
    if context and "cl" in context:
        context.update({name: build(context["cl"]) for name, build in builders.items()})
    return response


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


# --- Filters from the query string ---------------------------------------------------------------

# Django builds a year's bounds as Python datetimes (years 1 to 9999); its date drill-down also
# the end of the period chosen, the start of the next, so the drill-down's last year is 9998.
FIRST_YEAR, LAST_YEAR = 1, 9999
_BIGINT = 2**63


def lists_refuse_unanswerable_lookups(site: admin.AdminSite) -> None:
    """Make every list of ``site`` send a lookup it cannot answer to ``?e=1``, as a bad filter.

    Django's admin takes a lookup on any field from a list's query string, beside the filters the
    page offers (``?title__regex=``, ``?generated_at__year__gt=``). Some fail once the query is
    built or run, a 500 on every backend: a regular expression the database cannot compile (or one
    written to be slow), a range (read character by character: ``?title__range=ab``, one
    character a 500), a year outside 1 to 9999 (the drill-down's 9999 too, and its month or day
    past a C long), an integer past 64 bits on a foreign key. ``lookup_answerable`` refuses those
    before the list is read. Called
    once every admin module is loaded (omen_site/apps.py), so lists of other apps' models are
    covered too.
    """
    for model in apps.get_models():
        if site.is_registered(model):
            _refuse_unanswerable_lookups(site.get_model_admin(model))
            _refuse_unanswerable_selections(site.get_model_admin(model))


def _refuse_unanswerable_selections(model_admin: admin.ModelAdmin) -> None:
    """An action posted with a "selected row" its primary key cannot be (``abc``, an integer past
    64 bits) answers with a message on the list, as an empty selection does: Django filtered by it
    as it was, a 500 (or, on SQLite past 64 bits, an export cut off after its first line)."""
    respond = model_admin.response_action

    def response_action(request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        refused = [value for value in selected if not _a_key_of(model_admin.model, value)]
        if refused:
            shown = ", ".join(repr(value) for value in refused[:3])
            model_admin.message_user(
                request, f"Not rows of this list: {shown}. Select rows by their boxes.", messages.ERROR
            )
            return None
        return respond(request, queryset)

    model_admin.response_action = response_action


def _a_key_of(model, value: str) -> bool:
    pk = model._meta.pk
    field = getattr(pk, "target_field", pk) if pk.is_relation else pk
    try:
        key = field.to_python(value)
    except ValidationError:
        return False
    if key is None:
        return False
    return not isinstance(field, models.IntegerField) or -_BIGINT <= key < _BIGINT


def _refuse_unanswerable_lookups(model_admin: admin.ModelAdmin) -> None:
    allowed = model_admin.lookup_allowed

    def lookup_allowed(lookup, value, request=None):
        lookup_answerable(model_admin.model, model_admin.date_hierarchy, lookup, value)
        return allowed(lookup, value, request) if takes_request else allowed(lookup, value)

    takes_request = func_supports_parameter(allowed, "request")  # an admin written before Django 5.0

    model_admin.lookup_allowed = lookup_allowed


def lookup_answerable(model, date_hierarchy: str | None, lookup: str, value: str) -> None:
    """Raise IncorrectLookupParameters if the list's ``lookup=value`` would fail as a query."""
    parts = lookup.split(LOOKUP_SEP)
    values = value.split(",") if parts[-1] == "in" else [value]
    if {"regex", "iregex"} & set(parts):
        raise IncorrectLookupParameters(f"{lookup}: a list is not filtered by regular expression")
    # Django passes a range's text as it is: its first two characters were the bounds.
    if "range" in parts:
        raise IncorrectLookupParameters(f"{lookup}: a list is not filtered by range (use __gte and __lte)")
    if {"year", "iso_year"} & set(parts) and parts[-1] != "isnull":
        last = LAST_YEAR - 1 if lookup == f"{date_hierarchy}__year" else LAST_YEAR
        if any(number is not None and not FIRST_YEAR <= number <= last for number in map(_integer, values)):
            raise IncorrectLookupParameters(f"{lookup}={value}: a year from {FIRST_YEAR} to {last}")
    # The drill-down builds a datetime of its year, month and day: one past a C long is an
    # OverflowError there (not the ValueError Django turns into a bad filter).
    bounds = {f"{date_hierarchy}__month": 12, f"{date_hierarchy}__day": 31} if date_hierarchy else {}
    if lookup in bounds and (number := _integer(value)) is not None and not 1 <= number <= bounds[lookup]:
        raise IncorrectLookupParameters(f"{lookup}={value}: from 1 to {bounds[lookup]}")
    if isinstance(_compared_field(model, parts), models.IntegerField):
        if any(number is not None and not -_BIGINT <= number < _BIGINT for number in map(_integer, values)):
            raise IncorrectLookupParameters(f"{lookup}={value}: past the largest integer a column holds")


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _compared_field(model, parts: list[str]):
    """The field a lookup's value is compared with (a foreign key's: the key it points at), or None."""
    opts, field = model._meta, None
    for part in parts:
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            break  # a transform or the lookup: the field before it is the one compared
        if not field.is_relation or field.related_model is None:
            continue
        opts = field.related_model._meta
    if field is None or not field.is_relation:
        return field
    try:
        return getattr(field, "target_field", field)
    except FieldError:  # a relation through several columns: no one field compared
        return None


# --- The date drill-down --------------------------------------------------------------------------


class DatePeriodsQuerySet(models.QuerySet):
    """``dates()`` and ``datetimes()`` list every year, month or day from the first row to the last.

    The admin's date drill-down asks for the periods that hold rows on every list page; Django
    answers with SELECT DISTINCT over every row in view, which on a table of millions of rows reads
    them all, as a full COUNT would. MIN and MAX are two probes of the index instead; a period
    with no rows in between is listed too and shows an empty page.
    """

    def aggregate(self, *args, **kwargs):
        # A list page asks this queryset for the same MIN and MAX twice (Django's drill-down tag to
        # choose its level, then _periods): like its rows, a queryset's aggregate is read once.
        key = repr((args, sorted(kwargs.items())))
        read = self.__dict__.setdefault("_aggregates_read", {})
        if key not in read:
            read[key] = super().aggregate(*args, **kwargs)
        return read[key]

    def dates(self, field_name, kind, order="ASC"):
        if kind not in {"year", "month", "day"}:
            return super().dates(field_name, kind, order)
        return self._periods(field_name, kind, order, lambda bound: bound, lambda start: start)

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind not in {"year", "month", "day"}:
            return super().datetimes(field_name, kind, order, tzinfo)
        zone = tzinfo or timezone.get_current_timezone()
        return self._periods(
            field_name,
            kind,
            order,
            lambda bound: timezone.localtime(bound, zone).date(),
            lambda start: datetime(start.year, start.month, start.day, tzinfo=zone),
        )

    def _periods(self, field_name, kind, order, to_date, from_date):
        bounds = self.aggregate(first=models.Min(field_name), last=models.Max(field_name))
        if bounds["first"] is None:
            return []
        day, last = to_date(bounds["first"]), to_date(bounds["last"])
        starts: list[date] = []
        while day <= last:
            start = day.replace(month=1, day=1) if kind == "year" else day.replace(day=1) if kind == "month" else day
            if not starts or starts[-1] != start:
                starts.append(start)
            day += timedelta(days=1)
        periods = [from_date(start) for start in starts]
        return periods[::-1] if order == "DESC" else periods


class MinMaxDateHierarchyMixin:
    """A ModelAdmin's ``date_hierarchy`` drilled down from MIN and MAX (DatePeriodsQuerySet), never DISTINCT.

    Put it before the ModelAdmin class: the list's queryset keeps its filters, ordering and
    related selects, in a DatePeriodsQuerySet.
    """

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return DatePeriodsQuerySet(queryset.model, query=queryset.query, using=queryset.db)


# --- Keyset pagination ----------------------------------------------------------------------------

# The query parameters of a keyset page: the rows older than a position, or newer than it.
BEFORE_VAR = "before"
AFTER_VAR = "after"
_LARGEST_ID = 2**63 - 1  # a bigint: a larger id in a cursor would be a database error, not a page
# The rows nearest a keyset page's position that a search looks among first (KeysetChangeList._rows).
SEARCH_WINDOW = 5000


class KeysetPosition(NamedTuple):
    """A row's place in a list ordered by (a datetime, the id), both descending."""

    at: datetime
    pk: int

    def __str__(self):
        return f"{self.at.astimezone(UTC).isoformat()}_{self.pk}"

    @classmethod
    def parse(cls, text: str) -> "KeysetPosition":
        """``<ISO 8601 datetime with its offset>_<id>``, as ``str()`` writes it; ValueError otherwise."""
        at_text, separator, pk_text = text.rpartition("_")
        if not separator or not pk_text.isascii() or not pk_text.isdigit():
            raise ValueError(f"not a list position: {text!r}")
        at, pk = datetime.fromisoformat(at_text), int(pk_text)
        if at.tzinfo is None or not 0 < pk <= _LARGEST_ID:
            raise ValueError(f"not a list position: {text!r}")
        try:
            at = at.astimezone(UTC)  # as the database compares it: year 1 at +05:00 is before year 1
        except OverflowError:
            raise ValueError(f"not a list position: {text!r}") from None
        return cls(at, pk)


class KeysetPage(NamedTuple):
    """The links of a keyset page, each a query string keeping the list's filters and search (or None)."""

    newest_url: str | None
    newer_url: str | None
    older_url: str | None


class KeysetChangeList(ChangeList):
    """A change list paged by position instead of by number, in its default order.

    The ModelAdmin's ``ordering`` must be ``("-<datetime field>", "-id")``, served by an index on
    both. A page is the rows older than ``?before=<position>`` (or newer than ``?after=``), one
    query reading at most a page and one row from the index wherever the page lies: page 10,000 is
    as fast as page 1, where OFFSET reads and drops every row before it. Nothing is counted (a
    count over a filter no index serves reads most of the table); ``cl.keyset`` holds the page's
    newest / newer / older links. Sorted by another column, or with "show all", the list falls back
    to Django's numbered pages (capped by the ModelAdmin's paginator).
    """

    keyset: KeysetPage | None = None  # set on a keyset page

    @cached_property
    def keyset_field(self) -> str:
        ordering = tuple(self.model_admin.ordering or ())
        if len(ordering) != 2 or not ordering[0].startswith("-") or ordering[1] not in {"-id", "-pk"}:
            raise ImproperlyConfigured(
                f"{type(self.model_admin).__name__}.ordering must be ('-<datetime field>', '-id') for keyset pages"
            )
        return ordering[0][1:]

    def get_queryset(self, request, exclude_parameters=None):
        # A position is no filter: out of the parameters before Django reads them as field lookups
        # (an unknown one sends the list to ?e=1), and so out of every link built from them (a new
        # filter, search or sort starts at the newest row again).
        for name in (BEFORE_VAR, AFTER_VAR):
            self.params.pop(name, None)
            self.filter_params.pop(name, None)
        return super().get_queryset(request, exclude_parameters)

    def get_results(self, request):
        if self.params.get(ORDER_VAR) or self.show_all:
            return super().get_results(request)
        per_page = self.list_per_page
        before, after = self._position(request)
        if after is not None:
            rows = self._rows(after, older=False, limit=per_page + 1)[::-1]
            if len(rows) > per_page:
                rows, has_newer, has_older = rows[1:], True, True
            else:
                after = None  # the newest rows: the first page, full, rather than what is left of one
        if after is None:
            rows = self._rows(before, older=True, limit=per_page + 1)
            rows, has_newer, has_older = rows[:per_page], before is not None, len(rows) > per_page

        self.keyset = KeysetPage(
            newest_url=self.get_query_string() if has_newer else None,
            newer_url=self.get_query_string({AFTER_VAR: str(self._position_of(rows[0]))})
            if has_newer and rows
            else None,
            older_url=self.get_query_string({BEFORE_VAR: str(self._position_of(rows[-1]))}) if has_older else None,
        )
        self.result_list = rows
        self.result_count = len(rows)
        # The search form prints "N results" when these two differ: a keyset page has no total to print.
        self.full_result_count = self.result_count
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.can_show_all = False
        self.multi_page = False  # Django's page numbers would count the rows
        self.paginator = self.model_admin.get_paginator(request, self.queryset, per_page)

    def _position(self, request) -> tuple[KeysetPosition | None, KeysetPosition | None]:
        """(before, after) from the query string; a bad or doubled one is reported and read as neither."""
        texts = {name: request.GET.get(name) for name in (BEFORE_VAR, AFTER_VAR)}
        if not any(texts.values()):
            return None, None
        try:
            if all(texts.values()):
                raise ValueError("both before and after")
            before, after = (KeysetPosition.parse(texts[name]) if texts[name] else None for name in texts)
        except ValueError:
            messages.warning(
                request,
                "That page link is not a position in this list (mistyped or cut short?): showing the newest rows.",
            )
            return None, None
        return before, after

    def _position_of(self, row) -> KeysetPosition:
        return KeysetPosition(getattr(row, self.keyset_field), row.pk)

    def _rows(self, position, *, older, limit) -> list:
        """The first ``limit`` rows of the list past ``position`` (None: from the newest), nearest first.

        A search first looks among the SEARCH_WINDOW rows of the table nearest the position. The
        planner guesses a search's rows from each word apart: for words that come together (the
        same few questions, "strait hormuz") it guesses few, reads every match through the
        trigram index and sorts them all for one page (0.6 s for 125,000 matches of three words
        at 1,000,000 signals, bench/README.md). Bounded by the window's date, it reads the list's
        own index instead. Fewer than ``limit`` matches in the window: the words are rare, and
        the plain query, which the trigram index serves well for rare words, runs.
        """
        rows = self._beyond(self.queryset, position, older=older)
        if self.query:
            window = self._beyond(self.root_queryset, position, older=older)
            edge = list(window.values_list(self.keyset_field, flat=True)[SEARCH_WINDOW - 1 : SEARCH_WINDOW])
            if edge:
                within = {f"{self.keyset_field}__{'gte' if older else 'lte'}": edge[0]}
                found = list(rows.filter(**within)[:limit])
                if len(found) == limit:
                    return found
        return list(rows[:limit])

    def _beyond(self, queryset, position, *, older: bool):
        """The rows of ``queryset`` older (or newer) than ``position``, nearest first (all, if None)."""
        if position is None:
            return queryset if older else queryset.reverse()
        field = self.keyset_field
        bound, past = ("lte", "lt") if older else ("gte", "gt")
        # The first condition repeats what the second implies: it gives the index scan its bound.
        beyond = queryset.filter(**{f"{field}__{bound}": position.at}).filter(
            models.Q(**{f"{field}__{past}": position.at}) | models.Q(**{field: position.at, f"pk__{past}": position.pk})
        )
        return beyond if older else beyond.reverse()
