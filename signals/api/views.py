from datetime import timedelta

from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from signals.api.filters import RejectionFilter, SignalFilter, SourceEventFilter
from signals.api.pagination import NewestFirstKeysetPagination, RejectionPagination, SourceEventPagination
from signals.api.serializers import (
    LIST_FIELDS,
    ExplanationSerializer,
    HistorySerializer,
    RejectionSerializer,
    SignalDetailSerializer,
    SignalFullSerializer,
    SignalListSerializer,
    SignalSerializer,
    SourceEventDetailSerializer,
    SourceEventSerializer,
    SourceSerializer,
    StatsSerializer,
    WindowSerializer,
)
from signals.models import ProbabilityPoint, Rejection, Signal, SourceEvent
from signals.selectors import pass_rate, rejection_stats, signal_stats, sources_overview
from signals.sources.registry import SOURCES
from utilities.query_parameters import QueryParametersChecked

READ_SIGNALS, READ_STATS = "read:signals", "read:stats"
HISTORY_POINTS = 1000  # OMEN's probability history keeps at most this many per market
DETAILS = {"minimal": SignalListSerializer, "standard": SignalSerializer, "full": SignalFullSerializer}


@extend_schema_view(
    retrieve=extend_schema(
        responses=SignalDetailSerializer,
        parameters=[
            OpenApiParameter(
                "detail",
                OpenApiTypes.STR,
                enum=list(DETAILS),
                description="minimal: the list's fields; standard (default): and the ids; full: and the contract.",
            )
        ],
    )
)
class SignalViewSet(QueryParametersChecked, viewsets.ReadOnlyModelViewSet):
    """Signals, newest first. Filters combine; every page is a cursor page of the filtered list."""

    read_scope = READ_SIGNALS
    lookup_field = "signal_id"
    lookup_value_regex = r"[^/]+"
    filterset_class = SignalFilter
    pagination_class = NewestFirstKeysetPagination
    serializer_class = SignalSerializer
    query_parameters = {"retrieve": ("detail",)}

    def get_queryset(self):
        if self.action == "list":
            # The contract (kilobytes per row) stays in the database for a list, and a row is a named
            # tuple: a page of model instances cost a tenth of the request (bench/api.py).
            return Signal.objects.values_list("pk", *LIST_FIELDS, named=True)
        return Signal.objects.all()

    def get_serializer_class(self):
        if self.action == "list":
            return SignalListSerializer
        detail = self.request.query_params.get("detail", "standard") if self.request else "standard"
        if detail not in DETAILS:
            raise exceptions.ValidationError({"detail": [f"Choose one of {', '.join(DETAILS)}, not {detail!r}."]})
        return DETAILS[detail]

    @extend_schema(responses=HistorySerializer, filters=False)
    @action(detail=True)
    def history(self, request, signal_id=None):
        """The probability series of the signal's market (oldest first) and its momentum."""
        signal = self.get_object()
        newest = (
            ProbabilityPoint.objects.filter(source_event_id=signal.event_id)
            .order_by("-observed_at")
            .values("observed_at", "probability", "volume", "liquidity")[:HISTORY_POINTS]
        )
        points = list(reversed(newest))
        return Response(
            HistorySerializer(
                {
                    "signal_id": signal.signal_id,
                    "source_event_id": signal.source_event_id,
                    "points": points,
                    "momentum": _momentum(points),
                }
            ).data
        )

    @extend_schema(responses=ExplanationSerializer, filters=False)
    @action(detail=True)
    def explanation(self, request, signal_id=None):
        """How the signal was decided, rule by rule, from its stored contract."""
        signal = self.get_object()
        contract = signal.contract
        return Response(
            ExplanationSerializer(
                {
                    "signal_id": signal.signal_id,
                    "ruleset_version": signal.ruleset_version,
                    "steps": contract.get("explanation") or [],
                    "confidence_interval": contract.get("confidence_interval"),
                    "confidence_factors": contract.get("confidence_factors") or {},
                }
            ).data
        )


def _momentum(points: list[dict]) -> dict:
    if not points:
        return {"change_24h": None, "change_total": None}
    newest = points[-1]
    day_before = newest["observed_at"] - timedelta(hours=24)
    earlier = [p for p in points if p["observed_at"] <= day_before]
    return {
        "change_24h": round(newest["probability"] - earlier[-1]["probability"], 6) if earlier else None,
        "change_total": round(newest["probability"] - points[0]["probability"], 6),
    }


class RejectionViewSet(QueryParametersChecked, viewsets.ReadOnlyModelViewSet):
    """Rejections, newest first: what the pipeline or a parser refused, with the rule and the reason."""

    read_scope = READ_SIGNALS
    queryset = Rejection.objects.all()
    serializer_class = RejectionSerializer
    filterset_class = RejectionFilter
    pagination_class = RejectionPagination


class SourceViewSet(QueryParametersChecked, viewsets.ViewSet):
    """Each polled source: its health, its circuit breaker and its last run."""

    read_scope = READ_SIGNALS

    @extend_schema(responses=SourceSerializer(many=True))
    def list(self, request):
        return Response(SourceSerializer(sources_overview(SOURCES), many=True).data)


# Columns a source event's list shows: recent_history (the anomaly rule's compact series) stays
# in the database; "latest_signal" loads latest_signal_id, the id, without a join.
SOURCE_EVENT_COLUMNS = (
    "id",
    "source",
    "external_id",
    "title",
    "url",
    "first_seen_at",
    "last_seen_at",
    "last_probability",
    "latest_signal",
)


class SourceEventViewSet(QueryParametersChecked, viewsets.ReadOnlyModelViewSet):
    """What OMEN watches (a market, an article, a ticker), newest first sighting first.

    Each with its newest observation (``last_seen_at``, ``last_probability``) and the signal its
    newest accepted observation became; one event also with its number of signals.
    """

    read_scope = READ_SIGNALS
    filterset_class = SourceEventFilter
    pagination_class = SourceEventPagination

    def get_queryset(self):
        events = SourceEvent.objects.only(*SOURCE_EVENT_COLUMNS)
        if self.action == "retrieve":
            # Counted for one event only. On a page it would be a count per event, over all of
            # each event's signals: 30-40 ms a page over a million signals (bench: Open-Meteo's
            # ten ports with 15,000 each), and growing for as long as the events are polled.
            return events.annotate(signal_count=Count("signals"))
        return events

    def get_serializer_class(self):
        return SourceEventDetailSerializer if self.action == "retrieve" else SourceEventSerializer


class StatsView(QueryParametersChecked, APIView):
    """What happened in a window: signals by source, type, status and confidence; what was refused."""

    read_scope = READ_STATS
    query_parameters = {"get": tuple(WindowSerializer().fields)}

    @extend_schema(parameters=[WindowSerializer], responses=StatsSerializer)
    def get(self, request):
        window = WindowSerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        since, until = window.validated_data["since"], window.validated_data["until"]
        signals, rejections = signal_stats(since, until), rejection_stats(since, until)
        return Response(
            StatsSerializer(
                {
                    "since": since,
                    "until": until,
                    "signals": signals,
                    "rejections": rejections,
                    "pass_rate": pass_rate(signals["total"], rejections["total"]),
                }
            ).data
        )
