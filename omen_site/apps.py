import logging
import sys

from django.apps import AppConfig, apps

logger = logging.getLogger("omen.startup")


class OmenSiteConfig(AppConfig):
    name = "omen_site"
    verbose_name = "OMEN site"

    def ready(self):
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from omen_site.database import use_compiled_tz_loader, use_idle_connection_check

        connection_created.connect(use_compiled_tz_loader, dispatch_uid="omen-compiled-tz-loader")
        connection_created.connect(use_idle_connection_check, dispatch_uid="omen-idle-connection-check")

        from omen_site.receivers import sync_beat_schedule_after_migrate

        # Sent per app with models; django_celery_beat's is the one whose tables it fills.
        post_migrate.connect(
            sync_beat_schedule_after_migrate,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="omen-sync-beat-schedule",
        )
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_delete

        from omen_site.audit_trail import refuse_deleting_a_named_user

        # A user the audit trail names is deactivated, never deleted: not through the admin, a
        # shell or another app's code (omen_site/audit_trail.py).
        pre_delete.connect(
            refuse_deleting_a_named_user, sender=get_user_model(), dispatch_uid="omen-keep-the-audit-trail"
        )
        from django.contrib import admin

        from omen_site.admin_access import admin_actions_need_permissions, periodic_task_form_without_inline_script
        from utilities.admin import lists_refuse_unanswerable_lookups

        # Every admin module is loaded by now: django.contrib.admin, which loads them, comes first
        # in INSTALLED_APPS, and apps are made ready in that order.
        admin_actions_need_permissions(admin.site)
        periodic_task_form_without_inline_script(admin.site)
        lists_refuse_unanswerable_lookups(admin.site)
        from omen_site.storage import describe_storage

        storage = describe_storage()
        logger.info(
            "OMEN %s mode (%s): database=%s broker=%s cache=%s ledger_dir=%s",
            storage.mode,
            " ".join(sys.argv[:2]) or "python",
            storage.database,
            storage.broker,
            storage.cache,
            storage.ledger_dir,
        )
