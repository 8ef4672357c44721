"""Keyset pages on the list order: exact under concurrent inserts, constant time on any page.

DRF's CursorPagination keys on the first ordering field and an offset among its ties: signals
ingested in one batch share ``generated_at``, and a row inserted among them shifts that offset,
so a client would see a row twice or miss one. Here the cursor is the last row's whole sort key
(``generated_at``, ``id``), and the next page is every row strictly after it, which the
``signal_generated_idx`` index serves directly.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from datetime import UTC, datetime

from django.db.models import Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


def _encode(moment: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{pk}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, pk = text.partition("|")
        moment, pk = datetime.fromisoformat(moment), int(pk)
        # A moment UTC cannot hold (year 1 at +01:00) would fail in SQLite's adapter, a 500.
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        moment = pk = None
    # A made-up cursor must not reach the query: a naive time, or an id past a bigint, would not
    # be a 400 but a database error.
    if moment is None or not 0 <= pk < 2**63:
        raise ValidationError({"cursor": ["Not a cursor this API gave out."]})
    return moment, pk


class NewestFirstKeysetPagination(BasePagination):
    """Pages newest first, ``limit`` rows each (OMEN's clients sent ``limit``), linked by ``next``."""

    cursor_query_param = "cursor"
    page_size_query_param = "limit"
    page_size = 50
    max_page_size = 500
    time_field = "generated_at"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self._limit(request)
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor:
            moment, pk = _decode(cursor)
            # The first condition is implied by the second; it is there for PostgreSQL, which makes
            # no index bound of an OR: without it every page scans the index from the top.
            queryset = queryset.filter(**{f"{self.time_field}__lte": moment}).filter(
                Q(**{f"{self.time_field}__lt": moment}) | Q(**{self.time_field: moment, "pk__lt": pk})
            )
        rows = list(queryset.order_by(f"-{self.time_field}", "-pk")[: self.limit + 1])
        self.has_next = len(rows) > self.limit
        rows = rows[: self.limit]
        self.last = rows[-1] if rows else None
        return rows

    def _limit(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            limit = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: ["A whole number is needed."]}) from None
        if not 1 <= limit <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"Between 1 and {self.max_page_size}."]})
        return limit

    def get_next_link(self) -> str | None:
        if not self.has_next or self.last is None:
            return None
        cursor = _encode(getattr(self.last, self.time_field), self.last.pk)
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(OrderedDict([("next", self.get_next_link()), ("results", data)]))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri", "description": "The next page, or null."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The cursor of a page, from the previous page's next link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class RejectionPagination(NewestFirstKeysetPagination):
    time_field = "created_at"


class SourceEventPagination(NewestFirstKeysetPagination):
    # The first sighting, not the last: last_seen_at moves forward at every poll, and an event
    # that moved to the front while a client walked the pages would be missed by it.
    time_field = "first_seen_at"
