from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = "Retention"

    def ready(self):
        from retention import checks

        # gunicorn runs no system checks (a Celery worker or beat stops on their errors,
        # omen_site/celery.py): any process that would sweep with a policy it cannot read stops
        # here, in production, with the variable named.
        if settings.IS_PRODUCTION and (errors := checks.check_retention_overrides()):
            raise ImproperlyConfigured("; ".join(f"{e.id}: {e.msg} {e.hint}" for e in errors))
