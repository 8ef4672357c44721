"""One error shape for every API error: ``{error, message, details[{field, message, code}], request_id}``.

``api_exception_handler`` gives it to every error a view raises (Django's handlers in
``omen_site.operations.errors`` give it to the rest under ``/api/``), and
``document_error_responses`` describes it in the schema, for every operation's 4xx answers
(a drf-spectacular postprocessing hook, in ``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``).
"""

from __future__ import annotations

from django.conf import settings
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


# What a refusal of the request as a whole is about, named as a field in its details.
WHOLE_REQUEST_FIELDS = {
    exceptions.ParseError: "body",
    exceptions.UnsupportedMediaType: "Content-Type",
    exceptions.NotAcceptable: "Accept",
}


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
        message = str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        error = codes if isinstance(codes, str) else "error"
        # A refusal of the body as a whole names what it refuses: the body, or the header that
        # says what it is (details were empty, naming nothing).
        field = WHOLE_REQUEST_FIELDS.get(type(exc), "")
        details = [{"field": field, "message": message, "code": error}] if field else []
    response.data = {
        "error": error,
        "message": message,
        "details": details,
        "request_id": request_id_of(request) if request is not None else "",
    }
    return response


API_PREFIX = "/api/"


# --------------------------------------------------------------------------- the shape in the schema

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error: what went wrong, per field where it applies, and the request's id.",
    "required": ["error", "message", "details", "request_id"],
    "properties": {
        "error": {"type": "string", "description": "A code: invalid_request, not_found, throttled, ..."},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
            },
        },
        "request_id": {"type": "string", "description": "The X-Request-ID header of the reply."},
    },
}
# Which 4xx an operation may answer: a bad parameter or body (and a query holding NUL) anywhere,
# no key or a key without the scope where the operation is secured, an unknown id where the path
# names one, and the throttle everywhere.
ERROR_RESPONSES = {
    "400": "The request is not valid: details names each field.",
    "401": "No API key, or one that is unknown or revoked.",
    "403": "The key lacks the scope this operation needs.",
    "404": "Nothing has this id.",
    "429": "Past the key's rate: Retry-After says when to come back.",
    # Only where the operation takes a body:
    "415": "The body is not JSON (send Content-Type: application/json), or it is compressed (Content-Encoding).",
    # Only on POSTs (omen_site/api/idempotency.py):
    "409": "This Idempotency-Key named another request (another body, path or method), or its request still runs.",
    "413": "The body is over API_MAX_BODY_BYTES ({API_MAX_BODY_BYTES:,} bytes).",
}
IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
    "description": "Send the request again under the same key and get its first answer, not a second write "
    "(1 to 255 printable ASCII characters; keys belong to the API key that sends them).",
}
REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present on the first answer to this Idempotency-Key, given again.",
    }
}


def document_error_responses(result, generator, request, public, **kwargs):
    """drf-spectacular postprocessing hook: every /api/ operation names the 4xx answers it can give,
    each a JSON body in the one error shape (components/schemas/Error), and every POST its
    ``Idempotency-Key``. A code a view documents itself keeps its description."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = ["400", "429"]
            if operation.get("security") or result.get("security"):
                codes += ["401", "403"]
            if "{" in path:
                codes.append("404")
            if "requestBody" in operation:
                codes.append("415")
            if operation is operations.get("post"):
                codes += ["409", "413"]
                _document_idempotency(operation)
            for code in sorted(codes):
                response = operation["responses"].setdefault(
                    code,
                    {"description": ERROR_RESPONSES[code].format(API_MAX_BODY_BYTES=settings.API_MAX_BODY_BYTES)},
                )
                # A view's own description says more of when it answers; the body is the one shape still.
                response.setdefault("content", {"application/json": {"schema": reference}})
    return result


def _document_idempotency(operation: dict) -> None:
    """Every API POST takes an ``Idempotency-Key``, and its success may be a replay."""
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name") == IDEMPOTENCY_KEY_PARAMETER["name"] for p in parameters):
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
    for code, response in operation["responses"].items():
        if code.startswith("2"):
            response.setdefault("headers", {}).update(REPLAYED_HEADER)
