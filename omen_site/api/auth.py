"""``X-API-Key`` authentication and per-endpoint scopes.

A view names the scope its reads need (``read_scope``) and the one its writes need
(``write_scope``). A key must hold that scope (or ``admin``); a staff user logged in to the admin
may read. No credentials is a 401, credentials without the scope a 403: both in the one error shape.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication

from omen_site.api.keys import ApiKey

HEADER = "X-API-Key"


class KeyHolder:
    """``request.user`` for a request made with a key: authenticated, never staff."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.username = f"key:{key.name}"
        self.pk = None

    def __str__(self):
        return self.username


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = request.headers.get(HEADER)
        if raw is None:
            return None  # no key: the session may still authenticate a staff user
        key = ApiKey.find(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is unknown or revoked.", code="invalid_api_key")
        key.record_use()
        return KeyHolder(key), key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) to a request with no credentials.
        return HEADER


class ScopePermission(permissions.BasePermission):
    def has_permission(self, request, view):
        reading = request.method in permissions.SAFE_METHODS
        scope = getattr(view, "read_scope" if reading else "write_scope", None)
        if scope is None:
            return True  # the schema and docs pages: public
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            if key.allows(scope):
                return True
            raise exceptions.PermissionDenied(f"This key lacks the scope {scope!r}.", code="missing_scope")
        user = request.user
        if user is not None and user.is_authenticated:
            if reading and user.is_staff:
                return True
            raise exceptions.PermissionDenied(f"This needs an API key with the scope {scope!r}.", code="missing_scope")
        raise exceptions.NotAuthenticated(f"Send an API key in the {HEADER} header.", code="not_authenticated")


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the schema describes the key (drf-spectacular finds the extension by its target)."""

    target_class = "omen_site.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": HEADER}
