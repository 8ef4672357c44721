"""Who did what: the records that name a user, and why a user they name is deactivated, never deleted.

The audit trail keeps who did what for 7 years (retention's ``audit_trail`` policy). Deleting a
user would take their part of it with them: Django's admin change log (``LogEntry.user``)
cascades, so every entry they made would be deleted, and the "who" fields of OMEN's own models
(``on_delete=SET_NULL``) would be blanked. So a user any of these records names cannot be deleted,
in the admin (``omen_site.admin.OmenUserAdmin`` lists them as protected) or anywhere else
(``refuse_deleting_a_named_user``, a ``pre_delete`` receiver, raises ``ProtectedError``); such a
user is deactivated instead (``is_active=False``: no login, the trail whole). Once retention's
sweep has removed every record naming a user, the user can be deleted.

``WHO_FIELDS`` is every foreign key to the user model (tests/omen_site/test_audit_trail.py keeps it
whole: a new one fails that test until it is listed here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.db.models import Count, ProtectedError

# A refusal's ProtectedError carries at most this many rows of each kind (newest first); its
# message counts them all. A staff user's API access log alone can hold many thousands.
PROTECTED_ROWS_PER_KIND = 100


@dataclass(frozen=True)
class WhoField:
    model: str  # "app_label.ModelName"
    field: str
    names: str  # what a row naming the user is, counted: "admin change log entries: 3"

    def rows(self, user_ids: Iterable[int], using: str = "default"):
        return apps.get_model(self.model)._default_manager.using(using).filter(**{f"{self.field}__in": user_ids})


WHO_FIELDS = (
    # The audit trail itself: CASCADE would delete every entry the user made.
    WhoField("admin.LogEntry", "user", "admin change log entries"),
    # SET_NULL: who set, released or changed it would be lost.
    WhoField("retention.LegalHold", "set_by", "legal holds set"),
    WhoField("retention.LegalHold", "released_by", "legal holds released"),
    WhoField("retention.RetentionPolicy", "changed_by", "retention policies last changed"),
    WhoField("signals.RelevanceTerm", "updated_by", "relevance terms last changed"),
    WhoField("omen_site.ApiKey", "created_by", "API keys issued"),
    WhoField("omen_site.ApiAccessLogEntry", "user", "API access log entries"),
)

KEPT = "7 years by default: retention policy audit_trail"
DEACTIVATE_INSTEAD = (
    "Deactivate the user instead (uncheck “Active” on their admin page, or set is_active=False): "
    "they can no longer log in, and the audit trail stays whole."
)


def trail_of(user_ids: Iterable[int], using: str = "default") -> dict[int, list[tuple[str, int]]]:
    """Of ``user_ids``, those the trail names, each with what names them and how many: one query a field."""
    user_ids = list(user_ids)
    named: dict[int, list[tuple[str, int]]] = {}
    if not user_ids:
        return named
    for who in WHO_FIELDS:
        counts = who.rows(user_ids, using).order_by().values_list(who.field).annotate(rows=Count("pk"))
        for user_id, rows in counts:
            named.setdefault(user_id, []).append((who.names, rows))
    return named


def describe(named: list[tuple[str, int]]) -> str:
    """``[("admin change log entries", 3)]`` → ``admin change log entries: 3``."""
    return "; ".join(f"{names}: {rows}" for names, rows in named)


def refuse_deleting_a_named_user(sender, instance, using="default", **kwargs) -> None:
    """pre_delete of the user model: a user the trail names is not deleted, however the delete
    came (the admin, a shell, a script, another app). Raised before anything is deleted, in the
    delete's transaction, so nothing of the trail cascades away; inside a transaction of the
    caller's, the refusal (as any database error there) leaves that transaction to roll back."""
    named = trail_of([instance.pk], using).get(instance.pk)
    if not named:
        return
    rows = []
    for who in WHO_FIELDS:
        rows.extend(who.rows([instance.pk], using).order_by("-pk")[:PROTECTED_ROWS_PER_KIND])
    raise ProtectedError(
        f"Cannot delete user {instance.get_username()!r}: the audit trail names them ({describe(named)}), "
        f"which keeps who did what ({KEPT}). {DEACTIVATE_INSTEAD}",
        set(rows),
    )
