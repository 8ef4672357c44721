"""API keys: hashed at rest, shown once, scoped, revocable, their last use recorded."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from omen_site.api.rates import parse_rate
from utilities.text import unprintable

READ_SIGNALS, WRITE_SIGNALS = "read:signals", "write:signals"
READ_LEDGER, READ_STATS, READ_STORAGE, ADMIN = "read:ledger", "read:stats", "read:storage", "admin"
SCOPES = (READ_SIGNALS, WRITE_SIGNALS, READ_LEDGER, READ_STATS, READ_STORAGE, ADMIN)
KEY_PREFIX = "omen"
# Recording every request's use would be a write per read: once a minute is enough to audit.
LAST_USE_RESOLUTION = timedelta(minutes=1)
# A key found live is trusted by this process for this long, so a request costs no key query
# (bench/api.py: the query and its model were ~0.5 ms of a ~5 ms list request). A key revoked
# or changed anywhere (admin, command, another process) is refused everywhere within this; in
# the process that saved or deleted it, at once.
FOUND_FOR_SECONDS = 1.0
_FOUND_AT_MOST = 1000  # live keys held; past it the cache starts over
_found: dict[str, tuple[float, ApiKey]] = {}  # digest -> (trusted until, monotonic clock; key)


def printable(text: str) -> str:
    """``text`` to print on a line of its own: unprintable characters escaped, a blank one quoted.

    For names stored before names were checked; a name checked since prints as it is.
    """
    if not text.strip():
        return repr(text)
    return "".join(c.encode("unicode_escape").decode("ascii") if c in unprintable(c) else c for c in text)


def validate_key_name(value: str) -> None:
    """A name is shown in lists, logs and the admin: some text, on one line, all of it visible."""
    if not value.strip():
        raise ValidationError("This field cannot be only whitespace.", code="blank")
    found = unprintable(value)
    if found:
        raise ValidationError(
            "Ensure this value has no control or invisible formatting characters (it has %(found)s).",
            code="unprintable",
            params={"found": ", ".join(f"U+{ord(c):04X}" for c in found)},
        )


def key_digest(raw: str) -> str:
    # A fast hash is right here: a key is 32 random bytes, no dictionary or brute force reaches it.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """One client's key. The key itself is ``omen_<prefix>_<secret>``; only its hash is stored."""

    name = models.CharField(
        max_length=100,
        validators=[validate_key_name],
        help_text="Who or what uses the key: one line of visible text.",
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="Visible part of the key.")
    digest = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text=f"Any of: {', '.join(SCOPES)}.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    throttle_rate = models.CharField(
        max_length=20, blank=True, help_text="Requests allowed, e.g. 1000/min; blank: API_THROTTLE_RATE."
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"

    def __str__(self):
        return f"{printable(self.name)} ({KEY_PREFIX}_{self.prefix}_…)"

    def save(self, *args, **kwargs):
        # Every way of storing a name refuses the same ones: issue(), the admin's form (its
        # full_clean runs the field's validators) and any other save. Revoking writes only
        # revoked_at, so a key named before names were checked can still be revoked.
        update_fields = kwargs.get("update_fields")
        if self._state.adding or update_fields is None or "name" in update_fields:
            self.check_name(self.name)
        super().save(*args, **kwargs)

    @classmethod
    def check_name(cls, name: str) -> str:
        """``name`` if a key may be called that, else a ValidationError on ``name`` saying why."""
        try:
            return cls._meta.get_field("name").clean(name, None)
        except ValidationError as exc:
            raise ValidationError({"name": exc.error_list}) from None

    @classmethod
    def issue(cls, name: str, scopes: list[str], *, created_by=None, throttle_rate: str = "") -> tuple[ApiKey, str]:
        """A new key and its one and only plain-text copy.

        ``name`` is stripped, as the admin's form strips it; one that is blank, longer than the
        column or holds a control character raises ValidationError on ``name``.
        """
        name = cls.check_name(name.strip() if isinstance(name, str) else name)
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scope(s) {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
        if throttle_rate:
            parse_rate(throttle_rate)  # raises ValueError naming what a rate looks like
        prefix = secrets.token_hex(6)
        raw = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        key = cls.objects.create(
            name=name,
            prefix=prefix,
            digest=key_digest(raw),
            scopes=sorted(set(scopes)),
            created_by=created_by,
            throttle_rate=throttle_rate,
        )
        return key, raw

    @classmethod
    def find(cls, raw: str) -> ApiKey | None:
        """The live key ``raw`` is, or None (unknown, malformed or revoked)."""
        kind, _, rest = raw.partition("_")
        prefix, _, secret = rest.partition("_")
        # A key is printable ASCII: one with a NUL went to PostgreSQL as the prefix, which refuses
        # NUL in any text parameter (a 500 where a server, such as runserver, passes the header on).
        if kind != KEY_PREFIX or not prefix or not secret or not (raw.isascii() and raw.isprintable()):
            return None
        digest = key_digest(raw)
        now = time.monotonic()
        found = _found.get(digest)
        if found is not None and found[0] > now:
            return found[1]
        key = cls.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
        if key is None or not hmac.compare_digest(key.digest, digest):
            _found.pop(digest, None)
            return None
        if len(_found) >= _FOUND_AT_MOST:
            _found.clear()
        _found[digest] = (now + FOUND_FOR_SECONDS, key)
        return key

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        return ADMIN in self.scopes or scope in self.scopes

    def record_use(self) -> None:
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USE_RESOLUTION:
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now

    def revoke(self) -> bool:
        """Revoke the key; False if it already was (``revoked_at`` says since when)."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        return True


def _forget_found_keys(sender, **kwargs) -> None:
    """A key saved (revoked, changed) or deleted in this process is looked up again at once."""
    _found.clear()


post_save.connect(_forget_found_keys, sender=ApiKey, dispatch_uid="omen_site.api.keys.forget_found")
post_delete.connect(_forget_found_keys, sender=ApiKey, dispatch_uid="omen_site.api.keys.forget_found_deleted")
