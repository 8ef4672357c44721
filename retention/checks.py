"""System checks for retention: an override that cannot be read, or an archive that cannot be written."""

from django.conf import settings
from django.core.checks import Error, register

from retention.policies import environment_overrides
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
