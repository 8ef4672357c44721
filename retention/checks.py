"""System checks for retention: an override that cannot be read, an archive that cannot be written,
a broker that would deliver a long task again while it runs."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from retention.policies import environment_overrides
from retention.tasks import TIME_LIMIT_SECONDS
from utilities.checks import writable_directory_errors


@register()
def check_retention_overrides(app_configs=None, **kwargs) -> list[Error]:
    """retention.E001: every RETENTION_KEEP_<POLICY> names a policy and a duration."""
    try:
        environment_overrides()
    except ValueError as exc:
        return [Error(str(exc), hint="Fix or unset the variable; `manage.py retention status` lists the policies.",
                      id="retention.E001")]  # fmt: skip
    return []


@register()
def check_retention_archive_dir(app_configs=None, **kwargs) -> list[Error]:
    """retention.E002: expired signals are archived here before they are deleted: found out now, not in 90 days."""
    return writable_directory_errors("RETENTION_ARCHIVE_DIR", settings.RETENTION_ARCHIVE_DIR, "retention.E002")


@register()
def check_backup_dir(app_configs=None, **kwargs) -> list[Error]:
    """retention.E003: the daily backup writes here; found out at start, not on the first night."""
    return writable_directory_errors("BACKUP_DIR", settings.BACKUP_DIR, "retention.E003")


@register()
def check_visibility_timeout(app_configs=None, **kwargs) -> list[Warning]:
    """retention.W001: Redis hands a task still running to another worker once its visibility
    timeout has passed: a sweep or backup (an hour at most) outliving it was delivered again every
    timeout, and each delivery past the third counted as one whose process had died."""
    timeout = (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("visibility_timeout")
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")) or timeout is None:
        return []
    if timeout <= TIME_LIMIT_SECONDS:
        return [
            Warning(
                f"CELERY_VISIBILITY_TIMEOUT_SECONDS ({timeout}) is not longer than the retention sweep and the "
                f"backup may run ({TIME_LIMIT_SECONDS} s): Redis would deliver a long one again while it runs.",
                hint=f"Set CELERY_VISIBILITY_TIMEOUT_SECONDS above {TIME_LIMIT_SECONDS} (the default is 3900).",
                id="retention.W001",
            )
        ]
    return []
