"""The admin's two roles, as groups: "analyst" views, "operator" also changes what operators own.

A user gets a role by being staff and in its group; superusers hold everything. Django creates
permissions after the last migration (post_migrate), so this one creates the ones it grants first,
from the models as they stand at this point. A model added later is not covered: its migration
grants its view permission (tests/omen_site/test_admin_roles.py fails until one does).

Running it again sets both groups to exactly these permissions; reversing it deletes the groups
(the permissions stay, as Django keeps them for every model).
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = ("analyst", "operator")
# Every model of these apps may be viewed by both roles: OMEN's data and the beat schedule. Users,
# groups and login records (axes) stay with superusers.
VIEWED_APPS = ("signals", "ledger", "retention", "omen_site", "django_celery_beat")
EXPORT = ("signals", "export_signal")
RUN_LEDGER_ACTIONS = ("ledger", "run_ledger_actions")
# What operators may change, by (app, model): the schedule (a periodic task's interval or whether it
# is on, and the intervals to choose from; the tasks themselves come from omen_site/schedule.py),
# relevance terms, retention policies (rows come from the code) and legal holds (set and released,
# never deleted).
OPERATOR_CHANGES = {
    ("django_celery_beat", "periodictask"): ("change",),
    ("django_celery_beat", "intervalschedule"): ("add", "change"),
    ("django_celery_beat", "crontabschedule"): ("add", "change"),
    ("signals", "relevanceterm"): ("add", "change", "delete"),
    ("retention", "retentionpolicy"): ("change",),
    ("retention", "legalhold"): ("add", "change"),
}


def granted(apps):
    """{role: {(app_label, codename), ...}} for the models in this migration's state."""
    viewing = {
        (label, f"view_{model._meta.model_name}")
        for label in VIEWED_APPS
        for model in apps.get_app_config(label).get_models()
        if "view" in model._meta.default_permissions
    }
    analyst = viewing | {EXPORT}
    operator = (
        analyst
        | {RUN_LEDGER_ACTIONS}
        | {(app, f"{action}_{model}") for (app, model), actions in OPERATOR_CHANGES.items() for action in actions}
    )
    return {"analyst": analyst, "operator": operator}


def roles_create(apps, schema_editor):
    using = schema_editor.connection.alias
    for label in VIEWED_APPS:
        # The installed app's config (create_permissions skips an app without a models module);
        # the models and their permissions come from this migration's state.
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    existing = {
        (permission.content_type.app_label, permission.codename): permission
        for permission in Permission.objects.using(using)
        .select_related("content_type")
        .filter(content_type__app_label__in=VIEWED_APPS)
    }
    for role, wanted in granted(apps).items():
        missing = sorted(wanted - existing.keys())
        if missing:
            raise RuntimeError(f"the {role} role needs permissions that do not exist: {missing}")
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([existing[key] for key in wanted])


def roles_delete(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("omen_site", "0004_api_access_log"),
        ("signals", "0013_signal_title_search"),
        ("ledger", "0011_partition_checks_and_actions"),
        ("retention", "0003_policy_minimums_and_hold_sources"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(roles_create, roles_delete)]
