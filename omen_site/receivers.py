def sync_beat_schedule_after_migrate(sender, apps=None, **kwargs):
    """After migrate, the periodic tasks defined in code exist in the database."""
    from django.apps import apps as installed_apps

    from omen_site.schedule import beat_schedule_sync

    apps = apps or installed_apps  # flush sends post_migrate without a migration state
    try:
        # Not there when only some apps were migrated (manage.py migrate signals).
        apps.get_model("django_celery_beat", "PeriodicTask")
    except LookupError:
        return
    beat_schedule_sync()
