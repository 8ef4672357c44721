"""Django's error handlers (``handler400`` ... ``handler500`` in ``omen_site.urls``).

Under ``/api/`` an error is the API's one shape, ``{error, message, details, request_id}``, even
when no DRF view answered: a path no route matches, or an exception a view did not handle. A 500
says nothing of the exception: Django logs its traceback, and a line here ties it to the request
id the client sees (``X-Request-ID``, and ``request_id`` under /api/). Everywhere else Django's own
pages answer. With ``DEBUG`` on, Django shows its debug pages instead of calling these, as for
any Django site.
"""

import logging

from django.views import defaults

from omen_site.middleware import api_error_response, is_api_request, request_id_of

log = logging.getLogger("omen.errors")


def bad_request(request, exception):
    if is_api_request(request):
        return api_error_response(request, 400, "bad_request", "The request could not be understood.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if is_api_request(request):
        return api_error_response(request, 403, "permission_denied", "You do not have permission to do this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if is_api_request(request):
        message = f"Nothing is at {request.path}: the endpoints are listed at /api/docs/."
        return api_error_response(request, 404, "not_found", message)
    return defaults.page_not_found(request, exception)


def server_error(request):
    log.error("server error answered to request %s (%s %s)", request_id_of(request), request.method, request.path)
    if is_api_request(request):
        message = "The server failed to answer this request; quote the request id when you report it."
        return api_error_response(request, 500, "server_error", message)
    return defaults.server_error(request)
