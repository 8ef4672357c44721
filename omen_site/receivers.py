def sync_beat_schedule_after_migrate(sender, **kwargs):
    """After migrate, the periodic tasks defined in code exist in the database."""
    from omen_site.schedule import beat_schedule_sync

    beat_schedule_sync()
