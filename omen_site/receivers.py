def sync_beat_schedule_after_migrate(sender, apps=None, **kwargs):
    """After migrate, the periodic tasks defined in code exist in the database."""
    from omen_site.schedule import beat_schedule_sync

    try:
        # Not there when only some apps were migrated (manage.py migrate signals).
        apps.get_model("django_celery_beat", "PeriodicTask")
    except LookupError:
        return
    beat_schedule_sync()
