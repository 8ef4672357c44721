from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self):
        from ledger import checks, receivers  # noqa: F401  (registers the checks, connects the save receivers)
        from ledger.admin import SIGNAL_FRAMES_SECTION
        from signals.public import signal_page_section_register

        # The signals app may not import the ledger: its signal page shows the frames through this section.
        signal_page_section_register(SIGNAL_FRAMES_SECTION)

        # gunicorn runs no system checks (a Celery worker or beat stops on their errors,
        # omen_site/celery.py): in production every process checks the ledger directory here,
        # before it serves or runs a task.
        if settings.IS_PRODUCTION and (errors := checks.check_ledger_dir()):
            raise ImproperlyConfigured("; ".join(f"{e.id}: {e.msg} {e.hint}" for e in errors))
