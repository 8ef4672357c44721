"""``Idempotency-Key`` on the API's writes, and the API's body size limit.

A client that sends a POST under ``/api/`` with an ``Idempotency-Key`` header may send it again
(a timeout, a retry after a crash) and gets the first answer back, with
``Idempotent-Replayed: true``, without the write happening twice. The same key with another body
is a 409: the key names one request. Keys belong to the API key that sent them, so two clients
never collide; a request without an API key passes through (the view refuses it).

Only answers that settle the request are kept: a success or a refusal of the request itself.
Answers that a retry might change (401, 403, 409, 429, any 5xx) are forgotten, so the retry runs;
so are refusals of a header the key's digest does not cover (415 for Content-Type, 406 for
Accept): kept, the same body sent again with the header put right got the refusal again.
Every answer given from here (a replay, a 409) counts against the key's rate as a request to the
view would, and says where the key stands: replays are no way around the throttle.

Done as middleware rather than in each view so every write endpoint, now and later, gets the
same rule; it runs before the view reads the body, which also lets it refuse an oversized body
with a 413 before any of it is read, and a compressed one (``Content-Encoding``) with a 415. A
body sent without a length (``Transfer-Encoding: chunked``), which Django reads as empty, is read
here to its end, at most the limit, and handed on with its length; a server that does not end
such a body for the application (runserver's) gets a 411.
"""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import timedelta
from functools import partial

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.http import HttpResponse, JsonResponse
from django.http.request import RawPostDataException
from django.utils import timezone
from rest_framework.exceptions import Throttled

from omen_site.api.auth import HEADER as API_KEY_HEADER
from omen_site.api.keys import ApiKey
from omen_site.api.throttle import count_request, key_rate
from omen_site.middleware import api_error_response, request_id_of

log = logging.getLogger("omen.api.idempotency")

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
# A request still marked in progress after this is taken to have died with its process.
IN_PROGRESS_TIMEOUT = timedelta(minutes=10)
_NOT_KEPT = {401, 403, 406, 409, 415, 429}


class IdempotentRequest(models.Model):
    """One API key's one ``Idempotency-Key``: the request it named and the answer it got."""

    client = models.CharField(max_length=16, help_text="The API key's prefix.")
    key = models.CharField(max_length=MAX_KEY_CHARS)
    request_digest = models.CharField(max_length=64, help_text="SHA-256 of method, path, query and body.")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(blank=True, default=b"")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotent_request_client_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_created_idx")]

    def __str__(self):
        return f"{self.client} {self.key}"


def _error(request, status: int, error: str, message: str, field: str = "") -> JsonResponse:
    details = [{"field": field, "message": message, "code": error}] if field else []
    return api_error_response(request, status, error, message, details)


def _too_large(request) -> JsonResponse:
    limit = settings.API_MAX_BODY_BYTES
    message = f"The request body is over {limit} bytes ({limit // 2**20} MiB)."
    return _error(request, 413, "body_too_large", message, field="body")


def _encoded(request, coding: str) -> JsonResponse:
    """A compressed body is not read (the size limit is on what is sent; a small gzip can hold a
    large body): a 415 naming Content-Encoding (RFC 9110 15.5.16), not the parse error its bytes
    made, which said the body's UTF-8 could not be decoded."""
    message = f"Content-Encoding {coding!r} is not accepted: send the body uncompressed (identity)."
    response = _error(request, 415, "unsupported_content_encoding", message, field="Content-Encoding")
    response["Accept-Encoding"] = "identity"
    return response


def _read_to_its_end(request) -> JsonResponse | None:
    """A body sent without Content-Length, read whole and handed on with its length; or the refusal.

    Django reads a body of the length CONTENT_LENGTH gives, none without it: a chunked upload
    (gunicorn decodes it and ends the input, ``wsgi.input_terminated``) was an empty body, a good
    batch a 400 naming every field as missing, and one past the limit never met it.
    """
    if not request.META.get("wsgi.input_terminated"):
        message = "Send Content-Length: this server cannot read a body sent without one (Transfer-Encoding)."
        return _error(request, 411, "length_required", message, field="Content-Length")
    limit = settings.API_MAX_BODY_BYTES
    stream = request.META["wsgi.input"]
    parts, size = [], 0
    while size <= limit:  # one byte past the limit is enough to refuse it
        part = stream.read(min(2**16, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        return _too_large(request)
    body = b"".join(parts)
    request.META["CONTENT_LENGTH"] = str(size)  # DRF reads no body without it
    request._stream = LimitedStream(io.BytesIO(body), size)  # as WSGIRequest would have, given the length
    return None


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        coding = request.META.get("HTTP_CONTENT_ENCODING", "")
        if any(part.strip().lower() not in {"", "identity"} for part in coding.split(",")):
            return _encoded(request, coding)
        if not request.META.get("CONTENT_LENGTH") and "HTTP_TRANSFER_ENCODING" in request.META:
            refusal = _read_to_its_end(request)
            if refusal is not None:
                return refusal
        if request.method != "POST":
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_BODY_BYTES:
            return _too_large(request)
        key = request.headers.get(HEADER)
        raw_api_key = request.headers.get(API_KEY_HEADER)
        if key is None or raw_api_key is None:
            return self.get_response(request)
        if not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
            message = f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII characters."
            return _error(request, 400, "invalid_idempotency_key", message, field=HEADER)
        api_key = ApiKey.find(raw_api_key.strip())
        if api_key is None:
            return self.get_response(request)  # the view answers 401
        try:
            body = request.body
        except RequestDataTooBig:
            return _too_large(request)
        except RawPostDataException:  # already read as a stream: nothing to compare, let it through
            return self.get_response(request)
        if len(body) < length:
            # The client went away mid-upload (or sent less than it said): a server hands the part
            # that came over as the body. Answered without claiming the key, which names the whole
            # request: kept, this part's 400 made the retry of the whole a 409 for a day.
            message = f"The body ended after {len(body)} of the {length} bytes Content-Length announced."
            return _error(request, 400, "body_incomplete", message, field="Content-Length")
        digest = hashlib.sha256(
            b"\0".join([request.method.encode(), request.get_full_path().encode(), body])
        ).hexdigest()
        claimed, stored = _claim(api_key.prefix, key, digest)
        if not claimed:
            allowed, wait = count_request(request, f"key:{api_key.prefix}", key_rate(api_key))
            if not allowed:  # the same answer the view's throttle gives
                response = _error(request, 429, "throttled", str(Throttled(wait).detail))
                response["Retry-After"] = str(wait)
                return response
            return _answer_from(request, stored, digest)
        forget = IdempotentRequest.objects.filter(pk=stored.pk).delete
        try:
            response = self.get_response(request)
        except BaseException:
            _on_a_working_connection(forget, request, "forget")
            raise
        # A path no view answers is not the request the key named either: forgotten too.
        unrouted = getattr(request, "resolver_match", None) is None
        if response.status_code in _NOT_KEPT or response.status_code >= 500 or response.streaming or unrouted:
            _on_a_working_connection(forget, request, "forget")  # a retry should run again
            return response
        _on_a_working_connection(
            partial(
                IdempotentRequest.objects.filter(pk=stored.pk).update,
                completed_at=timezone.now(),
                status_code=response.status_code,
                content_type=response.get("Content-Type", ""),
                body=response.content,
            ),
            request,
            "keep the answer under",
        )
        return response


def _on_a_working_connection(write, request, what: str) -> None:
    """The key's bookkeeping after the view, once more on a new connection if the first one failed.

    A view that failed because the database connection was cut (a restart, a failover) left it
    dead for this write too: the key stayed "in progress", and the client's retry was a 409 for
    IN_PROGRESS_TIMEOUT though nothing ran. If the second try fails as well, the view's answer
    still goes out (it is what happened) and the key waits for IN_PROGRESS_TIMEOUT.
    """
    for last in (False, True):
        try:
            write()
            return
        except DatabaseError:
            if last or connection.in_atomic_block:
                log.exception("could not %s Idempotency-Key of request %s", what, request_id_of(request))
                return
            connection.close()  # the next query opens another (the pool's check discards a dead one)


def _claim(client: str, key: str, digest: str) -> tuple[bool, IdempotentRequest]:
    """(True, the new row) when this request is the first with the key, else (False, the stored row)."""
    try:
        with transaction.atomic():
            return True, IdempotentRequest.objects.create(client=client, key=key, request_digest=digest)
    except IntegrityError:
        stored = IdempotentRequest.objects.filter(client=client, key=key).first()
        if stored is None:  # forgotten in between (a 5xx): this one runs
            return _claim(client, key, digest)
        if stored.completed_at is None and timezone.now() - stored.created_at > IN_PROGRESS_TIMEOUT:
            # The first request's process died mid-way; its write, if any, is idempotent by signal id.
            IdempotentRequest.objects.filter(pk=stored.pk, completed_at__isnull=True).delete()
            return _claim(client, key, digest)
        return False, stored


def _answer_from(request, stored: IdempotentRequest, digest: str) -> HttpResponse:
    if stored.request_digest != digest:
        return _error(
            request,
            409,
            "idempotency_key_reused",
            f"This {HEADER} was used for another request (another body, path or method); use a new key.",
            field=HEADER,
        )
    if stored.completed_at is None:
        return _error(
            request,
            409,
            "request_in_progress",
            f"A request with this {HEADER} is still running; retry later.",
            field=HEADER,
        )
    body = bytes(stored.body)
    if stored.status_code >= 400 and stored.content_type.startswith("application/json"):
        # The same error again, named by this request's id: in the error shape, request_id is
        # always the X-Request-ID of the reply that carries it.
        body = orjson.dumps({**orjson.loads(body), "request_id": request_id_of(request)})
    response = HttpResponse(body, status=stored.status_code, content_type=stored.content_type)
    response["Idempotent-Replayed"] = "true"
    return response
