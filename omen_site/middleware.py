"""Requests the site refuses before any view runs."""

from django.http import HttpResponseBadRequest


class StorableQueryMiddleware:
    """A query string holds only characters a text column can store.

    PostgreSQL refuses NUL in any text parameter (SQLite takes it and matches nothing), so a NUL
    in an admin list filter, search or field lookup -- ours or a third-party app's -- would be a
    server error on one backend only. It is a 400 on both, naming the parameter, before any query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if any("\x00" in text for text in (name, *values)):
                return HttpResponseBadRequest(
                    f"The query parameter {name!r} holds a NUL character, which no column can store or match.",
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)
