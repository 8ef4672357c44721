import secrets
from contextlib import contextmanager

import orjson
from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.api.serializers import (
    FeedPageSerializer,
    FeedQuerySerializer,
    PartitionSerializer,
    WebhookAttemptSerializer,
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionSerializer,
)
from ledger.models import LedgerPartition, WebhookSubscription
from ledger.services import webhooks
from ledger.services.feed import FeedBroken, frames_after
from utilities.query_parameters import QueryParametersChecked

READ_LEDGER = "read:ledger"
PAST_END = "past_end"  # the feed's 400 for an ``after`` this ledger never gave
ADMIN = "admin"
NDJSON = "application/x-ndjson"


class LedgerDamaged(exceptions.APIException):
    status_code = 503
    default_code = "ledger_damaged"


@contextmanager
def ledger_read():
    """A ledger that cannot be read is a 503 saying why (run ledger verify, or try again), never a 500."""
    try:
        yield
    except FeedBroken as exc:
        raise LedgerDamaged(str(exc)) from exc
    except OSError as exc:  # a disk fault, or a segment moved more often than the feed looks again
        raise LedgerDamaged(f"the ledger could not be read: {exc.strerror or exc}; try again") from exc


class NdjsonRenderer(BaseRenderer):
    """Offers ``application/x-ndjson``; the feed writes its lines itself, and an error in JSON."""

    media_type = NDJSON
    format = "ndjson"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else orjson.dumps(data) + b"\n"


class NewestFirst(CursorPagination):
    """DRF's cursor pages; a cursor this list did not give is a 400 naming it, as on the signals lists."""

    page_size = 100

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["Not a cursor this list gave: start again from the first page."]}
            ) from exc


class PartitionPagination(NewestFirst):
    ordering = ("-day", "-name")


class PartitionList(QueryParametersChecked, generics.ListAPIView):
    """Sealed partitions, newest first: tier, frames, manifest hash and chain head.

    The partition the writer is filling has no row until it is sealed; the feed's ``end`` and
    the storage report say where the ledger ends.
    """

    read_scope = READ_LEDGER
    queryset = LedgerPartition.objects.all()
    serializer_class = PartitionSerializer
    pagination_class = PartitionPagination
    filter_backends = []


class FrameFeed(QueryParametersChecked, APIView):
    """Every committed frame after a position, in write order, each envelope exactly as stored.

    Keep ``next_after`` and ask again: from ``after=0`` you see every frame once. With
    ``Accept: application/x-ndjson`` the reply is the envelopes alone, one per line, as
    ``manage.py ledger tail`` prints them, and the page figures come in ``X-Ledger-*`` headers.
    ``after`` at the ledger's end is an empty page (ask again later); past it, a 400: this
    ledger never gave that position.
    """

    read_scope = READ_LEDGER
    renderer_classes = [JSONRenderer, NdjsonRenderer]
    query_parameters = {"get": (*FeedQuerySerializer().fields, "format")}

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404 as exc:  # DRF's answer to an unknown ?format=
            raise exceptions.ValidationError({"format": ["Choose json or ndjson."]}) from exc

    def handle_exception(self, exc):
        # Every API error is the one shape in application/json (the schema says so): sent as
        # x-ndjson, a 400, 401 or 429 to an ndjson follower was a content type no client expects.
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return response

    @extend_schema(
        parameters=[FeedQuerySerializer],
        responses={
            200: FeedPageSerializer,
            400: OpenApiResponse(
                description="A parameter is not valid, named in details; or `after` is past the ledger's end "
                f"(code `{PAST_END}`): a position this ledger never gave, kept from another ledger or from "
                "before its database was restored. `after` at the end is an empty page."
            ),
            503: OpenApiResponse(
                description="The ledger is damaged, or part of it cannot be read now: the message says which."
            ),
        },
    )
    def get(self, request):
        query = FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        with ledger_read():
            page = frames_after(query.validated_data["after"], query.validated_data["limit"])
        if page.after > page.end:
            # An empty page would say "caught up" while the ledger writes on below the cursor: the
            # consumer would skip every frame up to it, having kept other frames at those positions.
            raise exceptions.ValidationError(
                {
                    "after": [
                        exceptions.ErrorDetail(
                            f"Past the ledger's end, position {page.end}: not a position this ledger gave (a "
                            "cursor kept from another ledger, or from before its database was restored?); the "
                            f"frames you hold past {page.end} are not this ledger's.",
                            code=PAST_END,
                        )
                    ]
                }
            )
        figures = {"after": page.after, "next_after": page.next_after, "end": page.end, "has_more": page.has_more}
        if request.accepted_renderer.media_type == NDJSON:
            response = HttpResponse(b"".join(frame.payload + b"\n" for frame in page.frames), content_type=NDJSON)
            for name, value in figures.items():
                response[f"X-Ledger-{name.replace('_', '-').title()}"] = str(value).lower()
            return response
        # The envelopes go in as their stored text: parsing and re-encoding could change them.
        frames = b",".join(
            b'{"position":%d,"partition":%s,"ledger_sequence":%d,"envelope":%s}'
            % (frame.position, orjson.dumps(frame.partition), frame.ledger_sequence, frame.payload)
            for frame in page.frames
        )
        body = orjson.dumps(figures)[:-1] + b',"frames":[' + frames + b"]}"
        return HttpResponse(body, content_type="application/json")


class NewestFirstById(NewestFirst):
    ordering = ("-id",)


class AttemptPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = WebhookAttemptSerializer(many=True)


@extend_schema_view(
    create=extend_schema(
        responses={
            201: WebhookSubscriptionCreatedSerializer,
            503: OpenApiResponse(description="The ledger is damaged: where it ends is unknown."),
        }
    )
)
class WebhookSubscriptionViewSet(QueryParametersChecked, viewsets.ModelViewSet):
    """Webhook subscriptions: where OMEN POSTs each new signal that passes the filters.

    A new subscription starts at the ledger's end: it receives the signals framed from then on.
    Its secret is shown in the creation reply only; every delivery is signed with it.
    """

    read_scope = ADMIN  # a subscription names a receiver and holds a signing secret
    write_scope = ADMIN
    queryset = WebhookSubscription.objects.all()
    serializer_class = WebhookSubscriptionSerializer
    pagination_class = NewestFirstById
    filter_backends = []
    query_parameters = {"attempts": ("cursor",)}

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = serializer.validated_data.pop("secret", None) or secrets.token_urlsafe(32)
        with ledger_read():  # the new subscription starts where the ledger ends
            end = webhooks.ledger_end()
        subscription = serializer.save(secret=secret, cursor=end)
        return Response(WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=WebhookSubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Deliver again, from the signal that paused it."""
        subscription = self.get_object()
        webhooks.subscription_resume(subscription)
        return Response(self.get_serializer(subscription).data)

    @extend_schema(
        responses=AttemptPageSerializer,
        parameters=[OpenApiParameter("cursor", str, description="The next or previous page's cursor, as given.")],
    )
    @action(detail=True)
    def attempts(self, request, pk=None):
        """Every delivery attempt, newest first."""
        subscription = self.get_object()
        paginator = NewestFirstById()
        page = paginator.paginate_queryset(subscription.attempts.all(), request, view=self)
        return paginator.get_paginated_response(WebhookAttemptSerializer(page, many=True).data)
