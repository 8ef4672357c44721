"""The Celery app. Tasks live in each app's tasks.py; settings in settings.py (CELERY_*)."""

import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")

app = Celery("omen_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def load_django_settings(sender, **kwargs):
    """Load the settings just before Celery reads them, so a refused one stops worker or beat in one line."""
    from django.conf import settings

    from omen_site.startup import settings_refusal_in_one_line

    with settings_refusal_in_one_line(sys.argv):
        settings.INSTALLED_APPS  # noqa: B018 -- the access loads (and so checks) the settings


@app.on_after_configure.connect
def make_filesystem_broker_folders(sender, **kwargs):
    """kombu's filesystem transport expects its folders to exist."""
    from pathlib import Path

    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if folder := options.get(key):
            Path(folder).mkdir(parents=True, exist_ok=True)


@signals.import_modules.connect
def refuse_to_start_on_check_errors(sender=None, **kwargs):
    """Stop a worker or beat on a system check's error, as manage.py stops, one line per error.

    Celery's Django fixup runs the checks and ignores what they find: without this, a worker would
    sweep with a RETENTION_KEEP_* that every manage.py command refuses (retention.E001). Run as a
    worker or beat loads its task modules (``loader.init_worker``), before beat's scheduler reads
    the database; not when another caller imports them (a test, ``celery inspect``).
    """
    if not sender.loader.worker_initialized or os.environ.get("CELERY_SKIP_CHECKS"):
        return  # CELERY_SKIP_CHECKS: Celery's own switch for the checks its Django fixup runs
    import django
    from django.core import checks

    django.setup()
    errors = [error for error in checks.run_checks() if error.is_serious() and not error.is_silenced()]
    if errors:
        # SystemExit with a message prints it to stderr and exits with status 1 (omen_site/startup.py).
        raise SystemExit("\n".join(check_error_in_one_line(error) for error in errors))


def check_error_in_one_line(error) -> str:
    hint = " ".join(str(error.hint).split()) if error.hint else ""
    return " ".join(part for part in (f"({error.id})", " ".join(str(error.msg).split()), hint) if part)
