"""One error shape for every API error: ``{error, message, details[{field, message, code}], request_id}``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from omen_site.middleware import request_id_of


def _details(detail, field: str = "") -> list[dict]:
    """DRF's nested error detail, flattened to (field, message, code) with dotted field paths."""
    if isinstance(detail, dict):
        out = []
        for name, value in detail.items():
            path = name if not field else f"{field}.{name}"
            out.extend(_details(value, "" if name == "non_field_errors" else path))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            out.extend(_details(value, f"{field}[{index}]" if nested and field else field))
        return out
    return [{"field": field, "message": str(detail), "code": getattr(detail, "code", "invalid")}]


def api_exception_handler(exc, context):
    # Django's own exceptions, as DRF's handler would translate them, so their code is known too.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error DRF knows: Django's 500 handler answers
    request = context.get("request")
    if isinstance(exc, exceptions.ValidationError):
        details = _details(exc.detail)
        message = "The request is not valid: " + "; ".join(
            f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details
        )
        error = "invalid_request"
    else:
        details = []
        message = str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        error = codes if isinstance(codes, str) else "error"
    response.data = {
        "error": error,
        "message": message,
        "details": details,
        "request_id": request_id_of(request) if request is not None else "",
    }
    return response
