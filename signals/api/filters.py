import django_filters

from signals.models import Rejection, Signal
from signals.models.choices import (
    Category,
    ConfidenceLevel,
    RejectionStage,
    RejectionStatus,
    SignalStatus,
    SignalType,
    Source,
)


class SignalFilter(django_filters.FilterSet):
    source = django_filters.ChoiceFilter(choices=Source.choices)
    signal_type = django_filters.ChoiceFilter(choices=SignalType.choices)
    status = django_filters.ChoiceFilter(choices=SignalStatus.choices)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    confidence_level = django_filters.ChoiceFilter(choices=ConfidenceLevel.choices)
    probability_min = django_filters.NumberFilter(field_name="probability", lookup_expr="gte", min_value=0, max_value=1)
    probability_max = django_filters.NumberFilter(field_name="probability", lookup_expr="lte", min_value=0, max_value=1)
    min_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte", min_value=0, max_value=1)
    observed_after = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    observed_before = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="lt")
    generated_after = django_filters.IsoDateTimeFilter(field_name="generated_at", lookup_expr="gte")
    generated_before = django_filters.IsoDateTimeFilter(field_name="generated_at", lookup_expr="lt")
    # OMEN's clients sent ``since``: the same as generated_after.
    since = django_filters.IsoDateTimeFilter(field_name="generated_at", lookup_expr="gte")
    title = django_filters.CharFilter(field_name="title", lookup_expr="icontains", max_length=200)

    class Meta:
        model = Signal
        fields = []


class RejectionFilter(django_filters.FilterSet):
    source = django_filters.ChoiceFilter(choices=Source.choices)
    stage = django_filters.ChoiceFilter(choices=RejectionStage.choices)
    status = django_filters.ChoiceFilter(choices=RejectionStatus.choices)
    rule = django_filters.CharFilter(max_length=64)
    external_id = django_filters.CharFilter(max_length=128)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Rejection
        fields = []
