"""A user the audit trail names is deactivated, never deleted (omen_site/audit_trail.py): in the admin,
from its change page and its "delete selected" action, and outside it; a user it does not name is
deleted as before."""

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import ProtectedError
from django.test import Client
from django.utils.html import strip_tags

from omen_site.api.access_log import ApiAccessLogEntry
from omen_site.api.keys import ApiKey
from omen_site.audit_trail import WHO_FIELDS
from retention.models import LegalHold, RetentionPolicy
from signals.models import RelevanceTerm
from tests.omen_site.admin_rows import admin_url

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # which password, not how hashed


@pytest.fixture
def ann():
    """A superuser who changed the signals policy through the admin: a change log entry and the
    policy's changed_by name her."""
    ann = User.objects.create_superuser("ann", "", PASSWORD)
    client = Client()
    client.force_login(ann)
    policy = RetentionPolicy.objects.get_or_create(name="signals")[0]
    response = client.post(admin_url(RetentionPolicy, "change", policy.pk), {"keep_for": "", "enabled": "on"})
    assert response.status_code == 302, response.content
    assert LogEntry.objects.filter(user=ann).count() == 1
    assert RetentionPolicy.objects.get(name="signals").changed_by == ann
    return ann


@pytest.fixture
def bob():
    """A user nothing names."""
    return User.objects.create_user("bob", password=PASSWORD, is_staff=True)


def text_of(response) -> str:
    """The page's words, without its tags."""
    return " ".join(strip_tags(response.content.decode()).split())


def ann_trail_is_whole(ann) -> None:
    assert User.objects.filter(pk=ann.pk).exists()
    assert LogEntry.objects.filter(user=ann).count() == 1
    assert RetentionPolicy.objects.get(name="signals").changed_by_id == ann.pk


# --------------------------------------------------------------------------- what names a user


def test_every_foreign_key_to_the_user_is_a_who_field_of_the_trail():
    """A new "who" field is refused here until omen_site/audit_trail.py lists it (or says why not)."""
    pointing_at_users = {
        (model._meta.label, field.name)
        for model in apps.get_models(include_auto_created=True)
        if not model._meta.auto_created  # the user's groups and permissions: its own, not a record of it
        for field in model._meta.get_fields()
        if isinstance(field, models.ForeignKey) and field.related_model is User
    }
    assert pointing_at_users == {(who.model, who.field) for who in WHO_FIELDS}


def _log_entry(user):
    policy = RetentionPolicy.objects.get_or_create(name="signals")[0]
    LogEntry.objects.log_actions(user.pk, [policy], CHANGE, change_message="keep_for")


NAMERS = {
    "admin.LogEntry.user": _log_entry,
    "retention.LegalHold.set_by": lambda user: LegalHold.objects.create(source="polymarket", reason="r", set_by=user),
    "retention.LegalHold.released_by": lambda user: LegalHold.objects.create(
        source="polymarket", reason="r", released_by=user
    ),
    "retention.RetentionPolicy.changed_by": lambda user: RetentionPolicy.objects.create(
        name="signals", changed_by=user
    ),
    "signals.RelevanceTerm.updated_by": lambda user: RelevanceTerm.objects.create(
        term="strait closure", category="disruption", updated_by=user
    ),
    "omen_site.ApiKey.created_by": lambda user: ApiKey.issue("partner", ["read:signals"], created_by=user),
    "omen_site.ApiAccessLogEntry.user": lambda user: ApiAccessLogEntry.objects.create(
        method="GET", path="/api/v1/signals/", status_code=200, duration_ms=1.0, user=user
    ),
}


def test_every_who_field_has_a_row_maker_here():
    assert set(NAMERS) == {f"{who.model}.{who.field}" for who in WHO_FIELDS}


# --------------------------------------------------------------------------- outside the admin


@pytest.mark.parametrize("who", WHO_FIELDS, ids=lambda who: f"{who.model}.{who.field}")
def test_a_user_any_who_field_names_is_not_deleted_from_code_and_the_row_still_names_them(who):
    carol = User.objects.create_user("carol")
    NAMERS[f"{who.model}.{who.field}"](carol)
    rows = who.rows([carol.pk])
    assert rows.count() == 1

    # In a transaction of its own, as a caller that goes on after a refusal would (the refusal
    # comes inside the delete's transaction, so an enclosing one is left to roll back).
    with pytest.raises(ProtectedError) as refused, transaction.atomic():
        carol.delete()

    assert User.objects.filter(pk=carol.pk).exists()
    assert rows.count() == 1  # not cascaded away, not set to NULL
    message = str(refused.value.args[0])
    assert "Cannot delete user 'carol'" in message
    assert f"{who.names}: 1" in message
    assert "is_active=False" in message
    assert {type(row) for row in refused.value.protected_objects} == {apps.get_model(who.model)}


def test_a_queryset_delete_is_refused_too_and_deletes_none_of_the_users(ann, bob):
    refused = pytest.raises(ProtectedError, match="admin change log entries: 1; retention policies last changed: 1")
    with refused, transaction.atomic():
        User.objects.filter(username__in=["ann", "bob"]).delete()

    ann_trail_is_whole(ann)
    assert User.objects.filter(pk=bob.pk).exists()  # one transaction: bob is not deleted either


def test_a_user_nothing_names_is_deleted_from_code(bob):
    bob.delete()

    assert not User.objects.filter(username="bob").exists()


def test_a_deactivated_user_keeps_the_trail_and_cannot_log_in(ann):
    open_session = Client()
    open_session.force_login(ann)
    assert open_session.get("/admin/").status_code == 200

    ann.is_active = False
    ann.save()

    ann_trail_is_whole(ann)
    assert open_session.get("/admin/").status_code == 302  # to the login page: the session ended
    client = Client()
    client.post("/admin/login/", {"username": "ann", "password": PASSWORD, "next": "/admin/"})
    assert "_auth_user_id" not in client.session


# --------------------------------------------------------------------------- in the admin


def test_the_admin_refuses_deleting_a_named_user_from_their_page_and_says_to_deactivate(admin_client, ann):
    delete_url = admin_url(User, "delete", ann.pk)

    page = admin_client.get(delete_url)
    assert page.status_code == 200
    text = text_of(page)
    assert "The user “ann” cannot be deleted: the audit trail names them" in text
    assert "admin change log entries: 1; retention policies last changed: 1" in text
    assert "uncheck “Active”" in text
    assert "Are you sure you want to delete" not in text

    # A POST made anyway (a page opened before the trail named her) deletes nothing.
    refused = admin_client.post(delete_url, {"post": "yes"})
    assert refused.status_code == 200
    assert "cannot be deleted" in text_of(refused)
    ann_trail_is_whole(ann)


def test_the_admin_still_deletes_a_user_nothing_names_from_their_page(admin_client, bob):
    delete_url = admin_url(User, "delete", bob.pk)
    assert "Are you sure you want to delete" in text_of(admin_client.get(delete_url))

    response = admin_client.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(username="bob").exists()


def test_delete_selected_refuses_when_the_trail_names_a_selected_user_and_deletes_none(admin_client, ann, bob):
    changelist = admin_url(User, "changelist")
    selected = {"action": "delete_selected", "_selected_action": [ann.pk, bob.pk]}

    page = admin_client.post(changelist, selected)
    assert page.status_code == 200
    text = text_of(page)
    assert "The selected users cannot be deleted: the audit trail names some of them" in text
    assert "ann, named by the audit trail: admin change log entries: 1; retention policies last changed: 1" in text
    assert "bob, named by" not in text
    assert "uncheck “Active”" in text
    assert "Are you sure you want to delete" not in text

    refused = admin_client.post(changelist, {**selected, "post": "yes"})
    assert refused.status_code == 200
    assert "cannot be deleted" in text_of(refused)
    ann_trail_is_whole(ann)
    assert User.objects.filter(pk=bob.pk).exists()


def test_delete_selected_still_deletes_users_nothing_names(admin_client, bob):
    changelist = admin_url(User, "changelist")

    response = admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [bob.pk], "post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(username="bob").exists()


def test_the_admin_deactivates_a_named_user_and_keeps_their_trail(admin_client, ann):
    change_url = admin_url(User, "change", ann.pk)
    form = admin_client.get(change_url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value not in (None, False)}
    data.pop("password", None)
    data.pop("is_active")
    data["groups"] = data["user_permissions"] = []
    data["date_joined_0"], data["date_joined_1"] = f"{ann.date_joined:%Y-%m-%d}", f"{ann.date_joined:%H:%M:%S}"
    data.pop("date_joined")
    data.pop("last_login", None)

    response = admin_client.post(change_url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    ann.refresh_from_db()
    assert not ann.is_active
    ann_trail_is_whole(ann)
    # The deactivation is itself in the trail, under the admin who did it.
    assert LogEntry.objects.filter(object_id=str(ann.pk), user__username="admin", action_flag=CHANGE).exists()
