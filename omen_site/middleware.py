"""Requests the site refuses before any view runs, the id every request carries, and the API's
error shape for answers that come from no DRF view (these refusals, Django's error handlers)."""

import re
import uuid

from django.http import HttpResponseBadRequest, HttpResponsePermanentRedirect, JsonResponse
from django.middleware.common import CommonMiddleware
from django.utils.http import escape_leading_slashes

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is echoed only if it is short and plain: it lands in logs and headers.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
API_PATH_PREFIX = "/api/"


def request_id_of(request) -> str:
    return getattr(request, "request_id", "") or getattr(getattr(request, "_request", None), "request_id", "")


def is_api_request(request) -> bool:
    """Whether the API's error shape answers this request (it is under /api/) rather than a page."""
    return request.path_info.startswith(API_PATH_PREFIX)


def api_error_response(request, status: int, error: str, message: str, details=()) -> JsonResponse:
    """The API's one error shape, for answers no DRF view gives (omen_site/api/errors.py gives the others)."""
    body = {"error": error, "message": message, "details": list(details), "request_id": request_id_of(request)}
    return JsonResponse(body, status=status)


class HttpResponsePermanentRedirectSameMethod(HttpResponsePermanentRedirect):
    status_code = 308


class SlashRedirectMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, except that under /api/ a path missing its trailing slash is a 308.

    Django answers a 301, which clients follow with a GET and no body: a partner's POST to
    ``/api/v1/signals/ingest`` would be lost (with DEBUG on, Django raises instead, a 500). A 308
    tells the client to send the same method and body to the path with the slash. It is answered
    as the request comes in, before the middleware inside this one run: the idempotency
    middleware would otherwise keep the 404 under the request's ``Idempotency-Key``, and the
    client following the redirect with the same key would be refused as another request.
    """

    def process_request(self, request):
        if is_api_request(request) and not request.path_info.endswith("/") and self.should_redirect_with_slash(request):
            return HttpResponsePermanentRedirectSameMethod(
                escape_leading_slashes(request.get_full_path(force_append_slash=True))
            )
        return super().process_request(request)


class RequestIdMiddleware:
    """Every response carries ``X-Request-ID``: the client's, if plain, else a new one.

    The outermost middleware (settings.MIDDLEWARE), so that an answer any other one gives -- a
    Host refused by SecurityMiddleware's HTTPS redirect, the redirect itself -- carries it too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        # Shaped here too: a page a middleware outside the access log answered (Django's debug page
        # for a Host SecurityMiddleware refused) is in the error shape as well.
        response = api_page_shaped(request, self.get_response(request))
        response[REQUEST_ID_HEADER] = request.request_id
        # Where the caller stands against its rate limit (omen_site/api/throttle.py), on every API reply.
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            limit, remaining, reset = rate_limit
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset)
        return response


class ApiErrorPageMiddleware:
    """An error page answered under /api/ becomes the error shape, just inside the access log, so
    that the log records the size of what is sent, not of the page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return api_page_shaped(request, self.get_response(request))


def api_page_shaped(request, response):
    """``response``, or, for an error page (HTML, text) under /api/, the error shape in its stead."""
    if is_api_request(request) and response.status_code >= 400 and _is_a_page(response):
        return _shaped(request, response)
    return response


def _is_a_page(response) -> bool:
    return not response.streaming and response.get("Content-Type", "").startswith(("text/html", "text/plain"))


def _shaped(request, page):
    """A page answered under /api/ (Django's debug 404 and 500 with DEBUG on, which bypass the
    error handlers; a CSRF refusal) becomes the error shape, its status kept."""
    error = {404: "not_found", 403: "permission_denied", 405: "method_not_allowed"}.get(page.status_code)
    error = error or ("server_error" if page.status_code >= 500 else "bad_request")
    message = f"{page.status_code} {page.reason_phrase} for {request.method} {request.path}."
    response = api_error_response(request, page.status_code, error, message)
    # The page's other headers stay: Allow, Retry-After, and what the middleware inside this one
    # added (X-Frame-Options; outermost, also nosniff and the Content-Security-Policy).
    for header, value in page.items():
        if header.lower() not in {"content-type", "content-length"}:
            response[header] = value
    response.cookies = page.cookies
    # And a view's own Content-Security-Policy (django-csp's decorators leave it on the response,
    # for CSPMiddleware, outside this one, to write): the docs pages' stays theirs.
    for name, value in vars(page).items():
        if name.startswith("_csp"):
            setattr(response, name, value)
    response["Content-Length"] = str(len(response.content))  # as CommonMiddleware set it on the page
    return response


class StorableQueryMiddleware:
    """A path and a query string hold only characters a text column can store.

    PostgreSQL refuses NUL in any text parameter (SQLite takes it and matches nothing), so a NUL
    in an admin list filter, search or field lookup -- ours or a third-party app's -- or in an id
    in the path (``/api/v1/signals/<signal_id>/``) would be a server error on one backend only.
    It is a 400 on both, naming the parameter or the path, before any query: in the API's error
    shape under /api/, plain text elsewhere.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            return self.refuse(request, "The path holds a NUL character, which no column can store or match.")
        for name, values in request.GET.lists():
            if any("\x00" in text for text in (name, *values)):
                message = f"The query parameter {name!r} holds a NUL character, which no column can store or match."
                return self.refuse(request, message, field=name)
        return self.get_response(request)

    @staticmethod
    def refuse(request, message: str, field: str | None = None):
        if not is_api_request(request):
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        # DRF's code for the same refusal in a serializer field (ProhibitNullCharactersValidator).
        details = [] if field is None else [{"field": field, "message": message, "code": "null_characters_not_allowed"}]
        return api_error_response(request, 400, "invalid_request", message, details)
