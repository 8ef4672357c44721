import copy
from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.filters import FilterMethod

from signals.models import Rejection, Signal, SourceEvent
from signals.models.choices import (
    Category,
    ConfidenceLevel,
    RejectionStage,
    RejectionStatus,
    SignalStatus,
    SignalType,
    Source,
)
from signals.selectors import latest_per_event


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (any case); anything else is an error naming the parameter.

    django-filter's own boolean field takes a value it does not know for "no filter": a client
    that sent ``latest=yes`` would get every signal and never learn why.
    """

    VALUES = {"true": True, "false": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.VALUES[str(value).lower()]
        except KeyError:
            raise forms.ValidationError("Send true or false.", code="invalid") from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, in UTC; one that UTC cannot hold is an error naming the parameter.

    ``9999-12-31T23:59:59-01:00`` parses, but is in the year 10000 in UTC: SQLite's adapter, which
    converts to UTC, would raise while the query runs, a 500 instead of a 400.
    """

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of the range of a UTC date and time.", code="overflow") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class _FiltersCopiedOneDeep(dict):
    """A filterset's class-level filters, copied for each request one level deep instead of deep.

    django-filter deep-copies every filter with its form field, widget and choices for every
    request, and Django's form then deep-copies the fields again: a fifth of a list request's CPU
    (bench/api.py). A request sets ``parent`` and ``model`` on its filters, so each needs its own
    copy; what lies below (the built form field) is only read.
    """

    def __deepcopy__(self, memo):
        copies = {}
        for name, shared in self.items():
            filter_ = copy.copy(shared)
            if isinstance(filter_.__dict__.get("filter"), FilterMethod):
                filter_.filter = FilterMethod(filter_)  # calls the method on this request's filterset
            copies[name] = filter_
        return copies


class _SharedFields(dict):
    """A validating form's fields, shared by every request: ``clean()`` reads a field, never writes it.

    The filter forms are never rendered (the one thing that changes a field or its widget).
    """

    def __deepcopy__(self, memo):
        return dict(self)


class RequestFilterSet(django_filters.FilterSet):
    """A filterset for API queries: its form class is built once, its filters are copied cheaply."""

    def __init__(self, *args, **kwargs):
        cls = type(self)
        if not isinstance(cls.__dict__.get("base_filters"), _FiltersCopiedOneDeep):
            cls.base_filters = _FiltersCopiedOneDeep(cls.base_filters)
        super().__init__(*args, **kwargs)

    def get_form_class(self):
        # django-filter builds a new form class for every request from the same class-level
        # filters: a tenth of a list request (bench/api.py). Built once per filterset class, so
        # no filter may depend on the request.
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            form_class = super().get_form_class()
            form_class.base_fields = _SharedFields(form_class.base_fields)
            cls._form_class = form_class
        return cls._form_class


class SignalFilter(RequestFilterSet):
    source = django_filters.ChoiceFilter(choices=Source.choices)
    signal_type = django_filters.ChoiceFilter(choices=SignalType.choices)
    status = django_filters.ChoiceFilter(choices=SignalStatus.choices)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    confidence_level = django_filters.ChoiceFilter(choices=ConfidenceLevel.choices)
    probability_min = django_filters.NumberFilter(field_name="probability", lookup_expr="gte", min_value=0, max_value=1)
    probability_max = django_filters.NumberFilter(field_name="probability", lookup_expr="lte", min_value=0, max_value=1)
    min_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte", min_value=0, max_value=1)
    observed_after = IsoDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    observed_before = IsoDateTimeFilter(field_name="observed_at", lookup_expr="lt")
    generated_after = IsoDateTimeFilter(field_name="generated_at", lookup_expr="gte")
    generated_before = IsoDateTimeFilter(field_name="generated_at", lookup_expr="lt")
    # OMEN's clients sent ``since``: the same as generated_after.
    since = IsoDateTimeFilter(field_name="generated_at", lookup_expr="gte")
    title = django_filters.CharFilter(field_name="title", lookup_expr="icontains", max_length=200)
    latest = StrictBooleanFilter(
        method="filter_latest",
        label="true: only each source event's newest signal (then the other filters); false or absent: all.",
    )

    class Meta:
        model = Signal
        fields = []

    def filter_latest(self, queryset, name, value):
        return latest_per_event(queryset, source=self.form.cleaned_data.get("source") or None) if value else queryset


class RejectionFilter(RequestFilterSet):
    source = django_filters.ChoiceFilter(choices=Source.choices)
    stage = django_filters.ChoiceFilter(choices=RejectionStage.choices)
    status = django_filters.ChoiceFilter(choices=RejectionStatus.choices)
    rule = django_filters.CharFilter(max_length=64)
    external_id = django_filters.CharFilter(max_length=128)
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Rejection
        fields = []


class SourceEventFilter(RequestFilterSet):
    source = django_filters.ChoiceFilter(choices=Source.choices)
    first_seen_after = IsoDateTimeFilter(field_name="first_seen_at", lookup_expr="gte")
    first_seen_before = IsoDateTimeFilter(field_name="first_seen_at", lookup_expr="lt")
    last_seen_after = IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    last_seen_before = IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="lt")

    class Meta:
        model = SourceEvent
        fields = []
