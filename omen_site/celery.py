"""The Celery app. Tasks live in each app's tasks.py; settings in settings.py (CELERY_*)."""

import os
import sys

from celery import Celery

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
