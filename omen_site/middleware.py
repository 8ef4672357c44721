"""Requests the site refuses before any view runs, and the id every request carries."""

import re
import uuid

from django.http import HttpResponseBadRequest

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is echoed only if it is short and plain: it lands in logs and headers.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_of(request) -> str:
    return getattr(request, "request_id", "") or getattr(getattr(request, "_request", None), "request_id", "")


class RequestIdMiddleware:
    """Every response carries ``X-Request-ID``: the client's, if plain, else a new one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        # Where the caller stands against its rate limit (omen_site/api/throttle.py), on every API reply.
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            limit, remaining, reset = rate_limit
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset)
        return response


class StorableQueryMiddleware:
    """A path and a query string hold only characters a text column can store.

    PostgreSQL refuses NUL in any text parameter (SQLite takes it and matches nothing), so a NUL
    in an admin list filter, search or field lookup -- ours or a third-party app's -- or in an id
    in the path (``/api/v1/signals/<signal_id>/``) would be a server error on one backend only.
    It is a 400 on both, naming the parameter or the path, before any query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            return HttpResponseBadRequest(
                "The path holds a NUL character, which no column can store or match.",
                content_type="text/plain; charset=utf-8",
            )
        for name, values in request.GET.lists():
            if any("\x00" in text for text in (name, *values)):
                return HttpResponseBadRequest(
                    f"The query parameter {name!r} holds a NUL character, which no column can store or match.",
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)
