"""The admin's roles (issue 13, item 6): the groups omen_site/migrations/0005_roles.py makes, and what
each lets a staff user see and do in the admin."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from ledger.models import LedgerPartition
from omen_site.api.keys import ApiKey
from retention.models import LegalHold, RetentionPolicy
from signals.models import RelevanceTerm, Signal
from tests.omen_site.admin_rows import VIEWED_APPS, a_row_of, admin_url, viewed_admin_models

pytestmark = pytest.mark.django_db

EXPORT = "signals.export_signal"
RUN_LEDGER_ACTIONS = "ledger.run_ledger_actions"
# Issue 13, item 6: what an operator may do beyond viewing. Schedules: a periodic task's interval and
# whether it is on, and the intervals to choose from (the tasks come from omen_site/schedule.py);
# retention policies' rows come from the code; legal holds are released, never deleted.
OPERATOR_MAY = {
    PeriodicTask: {"change"},
    IntervalSchedule: {"add", "change"},
    CrontabSchedule: {"add", "change"},
    RelevanceTerm: {"add", "change", "delete"},
    RetentionPolicy: {"change"},
    LegalHold: {"add", "change"},
}
ACTIONS = ("add", "change", "delete")


def permission(model, action: str) -> str:
    return f"{model._meta.app_label}.{get_permission_codename(action, model._meta)}"


def viewing() -> set[str]:
    """The view permission of every model of the viewed apps, as the models stand now."""
    return {
        permission(model, "view")
        for label in VIEWED_APPS
        for model in apps.get_app_config(label).get_models()
        if "view" in model._meta.default_permissions
    }


def granted(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.fixture
def staff(django_user_model):
    """A logged-in client of a staff user in ``role`` (no password: nothing here logs in by form)."""

    def make(role: str) -> Client:
        user = django_user_model.objects.create_user(username=role, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def analyst(staff):
    return staff("analyst")


@pytest.fixture
def operator(staff):
    return staff("operator")


# --------------------------------------------------------------------------- the groups


def expected(role: str) -> set[str]:
    changes = {permission(model, action) for model, actions in OPERATOR_MAY.items() for action in actions}
    analyst = viewing() | {EXPORT}
    return analyst if role == "analyst" else analyst | {RUN_LEDGER_ACTIONS} | changes


def test_the_analyst_group_views_every_model_of_omens_apps_and_the_schedule_and_may_export():
    assert granted("analyst") == expected("analyst")


def test_the_operator_group_also_changes_what_item_6_names_and_runs_ledger_actions():
    assert granted("operator") == expected("operator")


def test_the_permissions_the_roles_name_are_the_models_own():
    assert ("export_signal", "Can export signals") in Signal._meta.permissions
    assert ("run_ledger_actions", "Can run ledger actions (verify now, seal now)") in LedgerPartition._meta.permissions


@pytest.mark.django_db(transaction=True)
def test_the_roles_migration_reverses_and_takes_over_groups_made_by_hand():
    call_command("migrate", "omen_site", "0004", verbosity=0)
    assert not Group.objects.filter(name__in=("analyst", "operator")).exists()

    # A group of that name made before the migration runs is taken over, its other permissions dropped.
    by_hand = Group.objects.create(name="analyst")
    by_hand.permissions.add(*Permission.objects.filter(codename="delete_signal"))
    call_command("migrate", "omen_site", verbosity=0)

    assert granted("analyst") == expected("analyst") and granted("operator") == expected("operator")
    assert Group.objects.get(name="analyst").pk == by_hand.pk


# --------------------------------------------------------------------------- what each may do


def allowed(client: Client, model, row, action: str) -> bool:
    """Whether the admin lets this client add, change or delete (the page each action starts from)."""
    if action == "change":
        response = client.get(admin_url(model, "change", row.pk))
        assert response.status_code == 200, (model._meta.label, response.status_code)
        return response.context["has_change_permission"]
    response = client.get(admin_url(model, action) if action == "add" else admin_url(model, action, row.pk))
    assert response.status_code in {200, 403}, (model._meta.label, action, response.status_code)
    return response.status_code == 200


def by_label(models):
    return [pytest.param(model, id=model._meta.label) for model in models]


def test_the_roles_cover_every_model_the_admin_lists_in_the_viewed_apps():
    labels = {model._meta.label for model in viewed_admin_models()}

    assert {"signals.Signal", "ledger.LedgerPartition", "retention.LegalHold", "omen_site.ApiKey"} <= labels
    assert "django_celery_beat.PeriodicTask" in labels


@pytest.mark.parametrize("model", by_label(viewed_admin_models()))
def test_an_analyst_opens_the_list_and_a_row_and_may_add_change_or_delete_nothing(analyst, model):
    row = a_row_of(model)

    listed = analyst.get(admin_url(model, "changelist"))
    assert listed.status_code == 200
    assert listed.context["has_add_permission"] is False
    assert 'class="addlink"' not in listed.content.decode()
    page = analyst.get(admin_url(model, "change", row.pk))
    assert page.status_code == 200
    assert not any(button in page.content.decode() for button in ('name="_save"', 'class="deletelink"'))
    assert [action for action in ACTIONS if allowed(analyst, model, row, action)] == []


@pytest.mark.parametrize("model", by_label(viewed_admin_models()))
def test_an_analysts_posts_are_refused(analyst, model):
    row = a_row_of(model)

    assert analyst.post(admin_url(model, "add"), {}).status_code == 403
    assert analyst.post(admin_url(model, "change", row.pk), {}).status_code == 403
    assert analyst.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model._default_manager.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", by_label(viewed_admin_models()))
def test_an_analyst_is_offered_no_admin_action_that_changes_data(rf, django_user_model, model):
    user = django_user_model.objects.create_user(username="analyst", is_staff=True)
    user.groups.add(Group.objects.get(name="analyst"))
    request = rf.get(admin_url(model, "changelist"))
    request.user = user

    offered = admin.site.get_model_admin(model).get_actions(request)

    changing = {name for name, (action, *_) in offered.items() if set(action.allowed_permissions) & set(ACTIONS)}
    assert changing == set()


def test_an_analyst_cannot_run_an_action_by_posting_it(analyst):
    task = PeriodicTask.objects.filter(enabled=True).first()
    key, _ = ApiKey.issue("partner", ["read:signals"])

    analyst.post(admin_url(PeriodicTask, "changelist"), {"action": "disable_tasks", "_selected_action": [task.pk]})
    analyst.post(admin_url(ApiKey, "changelist"), {"action": "revoke", "_selected_action": [key.pk]})

    task.refresh_from_db()
    key.refresh_from_db()
    assert task.enabled and key.revoked_at is None


def test_a_superuser_still_revokes_keys_and_disables_tasks_from_the_lists(admin_client):
    task = PeriodicTask.objects.filter(enabled=True).first()
    key, _ = ApiKey.issue("partner", ["read:signals"])

    admin_client.post(admin_url(PeriodicTask, "changelist"), {"action": "disable_tasks", "_selected_action": [task.pk]})
    admin_client.post(admin_url(ApiKey, "changelist"), {"action": "revoke", "_selected_action": [key.pk]})

    task.refresh_from_db()
    key.refresh_from_db()
    assert not task.enabled and key.revoked_at is not None


@pytest.mark.parametrize("model", viewed_admin_models(), ids=lambda model: model._meta.label)
def test_an_operator_may_do_exactly_what_item_6_names_where_the_admin_allows_it(operator, admin_client, model):
    row = a_row_of(model)

    may = {action for action in ACTIONS if allowed(operator, model, row, action)}

    # What the admin allows nobody (a signal is never edited, a policy never added) a superuser shows.
    possible = {action for action in ACTIONS if allowed(admin_client, model, row, action)}
    assert may == OPERATOR_MAY.get(model, set()) & possible
    assert operator.get(admin_url(model, "changelist")).status_code == 200


def test_an_operator_changes_a_relevance_term_and_a_schedule_through_the_admin(operator):
    task = PeriodicTask.objects.get(name="poll-polymarket")
    added = operator.post(
        admin_url(RelevanceTerm, "add"),
        {"term": "strait closure", "kind": "watch", "category": "disruption", "weight": "1.0"},
    )
    disabled = operator.post(
        admin_url(PeriodicTask, "changelist"), {"action": "disable_tasks", "_selected_action": [task.pk]}
    )

    assert added.status_code == disabled.status_code == 302
    assert RelevanceTerm.objects.filter(term="strait closure").exists()
    task.refresh_from_db()
    assert not task.enabled


@pytest.mark.parametrize("path", ["/admin/auth/user/", "/admin/auth/group/", "/admin/axes/accessattempt/"])
def test_neither_role_sees_accounts_or_login_records(analyst, operator, path):
    assert analyst.get(path).status_code == operator.get(path).status_code == 403


def test_an_operators_schedule_actions_are_in_the_change_log_naming_them(operator):
    from django.contrib.admin.models import CHANGE, LogEntry

    polls, sweep = PeriodicTask.objects.get(name="poll-polymarket"), PeriodicTask.objects.get(name="retention-sweep")
    url = admin_url(PeriodicTask, "changelist")

    operator.post(url, {"action": "disable_tasks", "_selected_action": [polls.pk]})
    operator.post(url, {"action": "toggle_tasks", "_selected_action": [polls.pk, sweep.pk]})
    operator.post(url, {"action": "enable_tasks", "_selected_action": [sweep.pk]})

    # Who switched the retention sweep (or a source's polls) off, and when, is the audit trail's:
    # the task's own form logged a change, its list's actions (a queryset UPDATE) did not.
    logged = LogEntry.objects.filter(content_type__model="periodictask", action_flag=CHANGE).order_by("pk")
    assert [(entry.object_id, entry.user.username, entry.get_change_message()) for entry in logged] == [
        (str(polls.pk), "operator", "Disabled."),
        (str(polls.pk), "operator", "Enabled."),
        (str(sweep.pk), "operator", "Disabled."),
        (str(sweep.pk), "operator", "Enabled."),
    ]
