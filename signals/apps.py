from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "signals"
    verbose_name = "Signals"

    def ready(self):
        from signals import checks  # noqa: F401  (registers the system checks)
