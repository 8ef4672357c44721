"""The Celery app. Tasks live in each app's tasks.py; settings in settings.py (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omen_site.settings")

app = Celery("omen_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
